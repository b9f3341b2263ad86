// Package oidc implements "Sign in with …": OAuth 2.0 authorization code
// logins against OpenID Connect providers (Google, Keycloak, Entra ID, …) and
// plain OAuth 2.0 providers (GitHub), ending in the same gatehouse session as
// a password login (contract section 7).
//
// Handler.Start sends the browser to the provider with state, nonce and a
// PKCE S256 challenge, remembered in a per-login AES-GCM-sealed cookie (at
// most five per browser, the oldest cleared first).
// Handler.Callback checks state and the RFC 9207 iss parameter, exchanges the
// code with the PKCE verifier, verifies the ID token with go-oidc (signature,
// iss, aud, exp, nbf, then nonce, a non-empty sub and azp when present) or
// reads a plain OAuth 2.0 provider's userinfo, bounds the subject (and,
// with back-channel logout, the sid) to 255 bytes without control
// characters, and maps the external identity (issuer + subject) to a local
// user through the user service (user.Identity): an existing link,
// a link by verified email (the same address, not only the same username
// key), or a new user created under the service's name and role rules. The
// identity keeps the provider's email only when it is verified.
// Every failure renders a plain HTML page and an audit event (what came
// from the URL bounded and printable); codes, tokens, the state cookie and
// client secrets are never logged.
//
// OIDC discovery is lazy: a provider that is down at start-up does not stop
// gatehouse, and discovery is retried (at most every 10 s) on later logins.
//
// Subpackage oidctestop is a real OpenID Provider for tests, built on
// zitadel/oidc's op package; subpackage oidctest is the conformance suite of
// LogoutStore, which every SQL store runs.
package oidc
