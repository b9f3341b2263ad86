package authserver

import "errors"

// Errors of this package; httperr maps them to RFC 6749 error codes.
// Refusals of a code also wrap token.ErrInvalidGrant and the cause.
var (
	// ErrUnauthorizedClient: the client may not use this grant
	// (unauthorized_client).
	ErrUnauthorizedClient = errors.New("unauthorized_client")
	// ErrInvalidScope: a requested scope the client may not have
	// (invalid_scope).
	ErrInvalidScope = errors.New("invalid_scope")
	// ErrInvalidRequest: a missing or malformed parameter (invalid_request).
	ErrInvalidRequest = errors.New("invalid_request")
)
