// Package authserver is gatehouse's OAuth 2.1 authorization server and
// OpenID Provider state (contract §8): single-use authorization codes bound
// to client, redirect URI, PKCE challenge, user, session and nonce; the
// consents users gave to clients; and the rules that turn a request into
// granted scopes. HTTP lives in httpapi; clients in package client; tokens
// in package token.
package authserver
