package httperr

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// OAuth 2.0 error codes: RFC 6749 sections 4.1.2.1 (authorization
// endpoint) and 5.2 (token endpoint), RFC 6750 section 3.1 (bearer
// tokens), RFC 7009 section 2.2.1 (revocation).
const (
	InvalidRequest          = "invalid_request"
	InvalidClient           = "invalid_client"
	InvalidGrant            = "invalid_grant"
	UnauthorizedClient      = "unauthorized_client"
	UnsupportedGrantType    = "unsupported_grant_type"
	InvalidScope            = "invalid_scope"
	AccessDenied            = "access_denied"
	UnsupportedResponseType = "unsupported_response_type"
	ServerError             = "server_error"
	TemporarilyUnavailable  = "temporarily_unavailable"
	InvalidToken            = "invalid_token"
	UnsupportedTokenType    = "unsupported_token_type"
)

// deadGrant is the description of a grant whose token is unusable: the
// cause (unknown, reused, revoked, expired, user disabled) is not told.
const deadGrant = "the refresh token is invalid, expired or revoked"

// CodeRefused is the description of an authorization code the token
// endpoint refuses (Describe it onto the refusal): deadGrant names the
// refresh token, which would send a developer debugging an exchange the
// wrong way. The cause (unknown, expired, used, another client, redirect
// URI or verifier, session ended) is not told either.
const CodeRefused = "the authorization code is invalid, expired, used or revoked"

// oauthTable maps the errors of the token endpoint's grants to RFC 6749
// section 5.2 errors, in order. Throttling shares the password grant's
// code (the client may retry after Retry-After); everything else falls back
// to Of, so an outage is 503 like on every other endpoint.
var oauthTable = []row{
	{auth.ErrOverloaded, Problem{http.StatusServiceUnavailable, TemporarilyUnavailable, "too many logins in progress; retry later"}},
	{auth.ErrThrottled, Problem{http.StatusTooManyRequests, InvalidGrant, "too many failed attempts; retry later"}},
	{auth.ErrInvalidClient, Problem{http.StatusUnauthorized, InvalidClient, "client authentication failed"}},
	{auth.ErrUnauthorizedClient, Problem{http.StatusBadRequest, UnauthorizedClient, "the client may not use this grant"}},
	{auth.ErrScopeNotGranted, Problem{http.StatusBadRequest, InvalidScope, "a requested scope was not granted to this refresh token"}},
	{auth.ErrInvalidScope, Problem{http.StatusBadRequest, InvalidScope, "a requested scope is not allowed for this client"}},
	{auth.ErrInvalidRequest, Problem{http.StatusBadRequest, InvalidRequest, ""}},
	{auth.ErrInvalidCredentials, Problem{http.StatusBadRequest, InvalidGrant, "invalid username or password"}},
	{auth.ErrNotFound, Problem{http.StatusBadRequest, InvalidGrant, deadGrant}},
	{auth.ErrReused, Problem{http.StatusBadRequest, InvalidGrant, deadGrant}},
	{auth.ErrRevoked, Problem{http.StatusBadRequest, InvalidGrant, deadGrant}},
	{auth.ErrExpired, Problem{http.StatusBadRequest, InvalidGrant, deadGrant}},
	{auth.ErrDisabled, Problem{http.StatusBadRequest, InvalidGrant, deadGrant}},
	{auth.ErrUnauthenticated, Problem{http.StatusBadRequest, InvalidGrant, deadGrant}},
	{auth.ErrInvalidInput, Problem{http.StatusBadRequest, InvalidRequest, ""}},
}

// OAuthOf returns the OAuth error for a failed grant, or Of(err) when err
// is not a grant refusal. A Describe'd error below 500 carries its
// description, as with Of; an invalid_request says what is missing or
// malformed (requestDetail).
func OAuthOf(err error) Problem {
	p := described(lookup(oauthTable, err, Of(err)), err)
	if p.Code == InvalidRequest && p.Description == "" {
		p.Description = requestDetail(err)
	}
	return p
}

// requestDetail is what an invalid_request may tell the client: the
// message wrapped directly around auth.ErrInvalidRequest ("exchange code:
// refresh_token is required: invalid_request" gives "refresh_token is
// required"), which auth documents as safe to show. "" when there is
// no such message.
func requestDetail(err error) string {
	msg, ok := strings.CutSuffix(err.Error(), ": "+auth.ErrInvalidRequest.Error())
	if !ok || !errors.Is(err, auth.ErrInvalidRequest) {
		return ""
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}
