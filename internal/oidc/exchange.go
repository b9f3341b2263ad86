package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// checkIdentifiers refuses (502) a sub, or a sid of a provider with
// back-channel logout, that is not a user.ValidIdentifier (too long for an
// indexed column, or with a control character). A provider without
// back-channel logout never uses sid (provider.session drops it), so its
// sid is not checked.
func (p *provider) checkIdentifiers(ext external) *failure {
	if !user.ValidIdentifier(ext.Subject) {
		return identifierInvalid("subject_invalid", fmt.Errorf("sub of %d bytes or with a control character", len(ext.Subject)))
	}
	if p.cfg.BackchannelLogout && !user.ValidIdentifier(ext.SessionID) {
		return identifierInvalid("session_id_invalid", fmt.Errorf("sid of %d bytes or with a control character", len(ext.SessionID)))
	}
	return nil
}

// identify exchanges code (with the PKCE verifier) and returns the identity
// the provider vouches for: from the verified ID token (OIDC) or from the
// userinfo endpoint (plain OAuth 2.0).
func (h *Handler) identify(ctx context.Context, p *provider, ep *endpoints, code string, st loginState) (external, *failure) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, h.client)
	tok, err := ep.oauth.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return external{}, exchangeFailure(err)
	}
	if p.isOAuth2() {
		return h.oauth2Identity(ctx, p, tok)
	}
	return h.oidcIdentity(ctx, p, ep, tok, st)
}

// exchangeFailure: a 4xx from the token endpoint means the provider refused
// the code (replayed, expired, wrong verifier) — the request's fault, 400.
// Anything else means the provider is broken or unreachable — 502, the page
// saying which (unreachable). Only the RFC 6749 error code is kept:
// response bodies are not logged.
func exchangeFailure(err error) *failure {
	if unreached(err) {
		return unreachable("token_exchange_failed", err)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		f := badRequest("code_rejected", "The sign-in provider refused the authorization code. Please start again.")
		f.err = fmt.Errorf("token endpoint: %d %q", re.Response.StatusCode, re.ErrorCode)
		return f
	}
	if re != nil && re.Response != nil {
		err = fmt.Errorf("token endpoint: %d %q", re.Response.StatusCode, re.ErrorCode)
	}
	return badGateway("token_exchange_failed", err)
}

// unreached reports whether err (an HTTP client's) is a request that got
// no answer: the connection refused or reset, the name not resolved, no
// answer in time (net.Error, which *url.Error is itself, hence its Err),
// or the connection closed before one (EOF).
func unreached(err error) bool {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return false
	}
	var ne net.Error
	return ue.Timeout() || errors.As(ue.Err, &ne) || errors.Is(ue.Err, io.EOF) || errors.Is(ue.Err, io.ErrUnexpectedEOF)
}

// idClaims are the ID token / userinfo claims gatehouse uses.
type idClaims struct {
	Subject           string `json:"sub"`
	Email             string `json:"email"`
	EmailVerified     any    `json:"email_verified"`
	PreferredUsername string `json:"preferred_username"`
	AuthorizedParty   string `json:"azp"`
	SessionID         string `json:"sid"`
}

func (h *Handler) oidcIdentity(ctx context.Context, p *provider, ep *endpoints, tok *oauth2.Token, st loginState) (external, *failure) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return external{}, badGateway("id_token_missing", errors.New("token response has no id_token"))
	}
	idt, err := ep.verify(ctx, raw) // signature, iss, aud, exp
	if errors.Is(err, auth.ErrUnavailable) {
		return external{}, unavailable(err) // its keys could not be fetched
	}
	if err != nil {
		f := badRequest("id_token_invalid", "The sign-in provider's ID token is not valid.")
		f.err = err
		return external{}, f
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return external{}, badRequest("nonce_mismatch", "The sign-in provider's ID token does not belong to this sign-in.")
	}
	// go-oidc does not require sub; without it every such login would be
	// the one identity (issuer, "").
	if idt.Subject == "" {
		return external{}, badGateway("subject_missing", errors.New("ID token has no sub"))
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		return external{}, badGateway("id_token_claims", err)
	}
	// OIDC Core 3.1.3.7: azp, required with several audiences, must name
	// this client whenever present: else the token was issued to another.
	if (len(idt.Audience) > 1 || c.AuthorizedParty != "") && c.AuthorizedParty != p.cfg.ClientID {
		f := badRequest("id_token_invalid", "The sign-in provider's ID token is not valid.")
		f.err = fmt.Errorf("azp %q is not this client", c.AuthorizedParty)
		return external{}, f
	}
	// at_hash is not checked: in the code flow it is optional (OIDC Core
	// 3.1.3.8, MAY), both tokens come in one TLS response from the token
	// endpoint, and some providers (WSO2, PingFederate) compute it wrongly
	// there.
	if c.Email == "" || c.PreferredUsername == "" {
		if f := h.fillFromUserinfo(ctx, ep, tok, idt.Subject, &c); f != nil {
			return external{}, f
		}
	}
	return external{
		Issuer: p.issuer, Subject: idt.Subject, Username: c.PreferredUsername,
		Email: c.Email, EmailVerified: truthy(c.EmailVerified), SessionID: c.SessionID,
	}, nil
}

// fillFromUserinfo completes claims the ID token left out (providers may keep
// email and profile claims for userinfo). OIDC Core 5.3.2: the userinfo sub
// must equal the ID token's.
func (h *Handler) fillFromUserinfo(ctx context.Context, ep *endpoints, tok *oauth2.Token, subject string, c *idClaims) *failure {
	if ep.op.UserInfoEndpoint() == "" {
		return nil
	}
	ui, err := ep.op.UserInfo(gooidc.ClientContext(ctx, h.client), oauth2.StaticTokenSource(tok))
	if unreached(err) {
		return unreachable("userinfo_failed", errors.New("userinfo request got no answer"))
	}
	if err != nil {
		return badGateway("userinfo_failed", errors.New("userinfo request failed"))
	}
	var extra idClaims
	if err := ui.Claims(&extra); err != nil {
		return badGateway("userinfo_failed", err)
	}
	if extra.Subject != subject {
		return badRequest("userinfo_subject_mismatch", "The sign-in provider returned inconsistent identities.")
	}
	if c.Email == "" {
		c.Email, c.EmailVerified = extra.Email, extra.EmailVerified
	}
	if c.PreferredUsername == "" {
		c.PreferredUsername = extra.PreferredUsername
	}
	return nil
}

// oauth2Identity reads the user from a plain OAuth 2.0 provider's userinfo
// URL with the access token, mapping fields per the provider's claims config
// (defaults: id, login, email; email_verified unset means unverified).
func (h *Handler) oauth2Identity(ctx context.Context, p *provider, tok *oauth2.Token) (external, *failure) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.UserinfoURL, nil)
	if err != nil {
		return external{}, badGateway("userinfo_failed", err)
	}
	tok.SetAuthHeader(req)
	req.Header.Set("Accept", "application/json")
	resp, err := h.client.Do(req)
	if unreached(err) {
		return external{}, unreachable("userinfo_failed", errors.New("userinfo request got no answer"))
	}
	if err != nil {
		return external{}, badGateway("userinfo_failed", errors.New("userinfo request failed"))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return external{}, badGateway("userinfo_failed", fmt.Errorf("userinfo: status %d", resp.StatusCode))
	}
	// h.client fails a body past maxProviderResponse (boundedClient).
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return external{}, badGateway("userinfo_failed", fmt.Errorf("decode userinfo: %w", err))
	}
	cm := p.cfg.Claims
	ext := external{
		Issuer:   p.issuer,
		Subject:  claimString(m, or(cm.Subject, "id")),
		Username: claimString(m, or(cm.Username, "login")),
		Email:    claimString(m, or(cm.Email, "email")),
	}
	if cm.EmailVerified != "" {
		ext.EmailVerified = truthy(m[cm.EmailVerified])
	}
	if ext.Subject == "" {
		return external{}, badGateway("subject_missing", errors.New("userinfo has no subject"))
	}
	return ext, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// claimString returns a top-level string or number claim as a string
// (GitHub's id is a number).
func claimString(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// truthy accepts true and "true" (some providers send a string); anything
// else, including absence, is false.
func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}
