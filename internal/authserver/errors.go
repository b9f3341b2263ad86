package authserver

import "github.com/gatehouse-auth/gatehouse/internal/auth"

// Errors of this package, defined in auth so that httperr maps them to RFC
// 6749 error codes without importing this package. Refusals of a code also
// wrap token.ErrInvalidGrant and the cause.
var (
	ErrUnauthorizedClient = auth.ErrUnauthorizedClient
	ErrInvalidScope       = auth.ErrInvalidScope
	ErrInvalidRequest     = auth.ErrInvalidRequest
)
