package auth

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Stores and services wrap them with context
// (fmt.Errorf("load session: %w", ErrNotFound)); callers branch with errors.Is,
// and httperr maps them to HTTP statuses in exactly one table.
var (
	// ErrNotFound: the record does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique value (username, ID) is already taken.
	ErrConflict = errors.New("already exists")
	// ErrInvalidCredentials: wrong username, wrong password or disabled user —
	// deliberately one error so that responses cannot tell them apart.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrUnauthenticated: no usable credential was presented, or it expired.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrExpired: a credential was valid once but its lifetime is over.
	ErrExpired = errors.New("expired")
	// ErrRevoked: a credential was revoked (logout, revoke, reuse detection).
	ErrRevoked = errors.New("revoked")
	// ErrReused: a single-use credential (refresh token) was presented again.
	ErrReused = errors.New("reused")
	// ErrDisabled: the user exists but is disabled.
	ErrDisabled = errors.New("user disabled")
	// ErrForbidden: authenticated, but policy denies the request.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalidInput: a request or argument is malformed; the wrapping
	// message says what is wrong and is safe to show to the caller.
	ErrInvalidInput = errors.New("invalid input")
	// ErrUnavailable: a store or dependency did not answer. Requests that
	// need it fail closed with 503.
	ErrUnavailable = errors.New("store unavailable")
)

// RetryLater is what the three "come back later" refusals have in common
// (*ThrottledError, *OverloadedError, *RateLimitedError): how long the
// client should wait. httperr turns it into Retry-After with one errors.As.
type RetryLater interface {
	error
	Wait() time.Duration
}

var (
	_ RetryLater = (*ThrottledError)(nil)
	_ RetryLater = (*OverloadedError)(nil)
	_ RetryLater = (*RateLimitedError)(nil)
)

// retryMessage is the Error text of a RetryLater: what, and when to retry.
func retryMessage(what string, d time.Duration) string {
	return fmt.Sprintf("%s; retry after %s", what, d.Round(time.Second))
}

// ThrottledError says a login was refused because of too many failures.
// errors.Is(err, ErrThrottled) matches it.
type ThrottledError struct {
	RetryAfter time.Duration
	// Key is the throttle key whose lock refused the attempt (for example
	// "acct-ip:<user>|<ip>"): the audit trail records one login.throttled
	// event per key and period (audit.Logger.RecordCoalesced). It is not
	// part of Error, and never shown to the client.
	Key string
}

// ErrThrottled matches any *ThrottledError.
var ErrThrottled = errors.New("too many attempts")

func (e *ThrottledError) Error() string { return retryMessage("too many attempts", e.RetryAfter) }

// ThrottleKey returns the Key of the *ThrottledError in err's chain, or "".
func ThrottleKey(err error) string {
	var t *ThrottledError
	if errors.As(err, &t) {
		return t.Key
	}
	return ""
}

// Wait is RetryAfter (RetryLater).
func (e *ThrottledError) Wait() time.Duration { return e.RetryAfter }

// Is makes errors.Is(err, ErrThrottled) true for a *ThrottledError.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// OverloadedError says a request was shed because the work it needs
// (argon2id password hashing) is saturated; the client should retry after
// RetryAfter. errors.Is(err, ErrOverloaded) matches it. It is not a login
// failure: it never counts towards throttling.
type OverloadedError struct {
	RetryAfter time.Duration
}

// ErrOverloaded matches any *OverloadedError.
var ErrOverloaded = errors.New("temporarily unavailable")

func (e *OverloadedError) Error() string {
	return retryMessage("temporarily unavailable", e.RetryAfter)
}

// Wait is RetryAfter (RetryLater).
func (e *OverloadedError) Wait() time.Duration { return e.RetryAfter }

// Is makes errors.Is(err, ErrOverloaded) true for an *OverloadedError.
func (e *OverloadedError) Is(target error) bool { return target == ErrOverloaded }

// RateLimitedError says a request was refused by a gateway route's
// rate_limit (contract section 12): 429 rate_limited with Retry-After.
// errors.Is(err, ErrRateLimited) matches it.
type RateLimitedError struct {
	RetryAfter time.Duration
}

// ErrRateLimited matches any *RateLimitedError.
var ErrRateLimited = errors.New("rate limited")

func (e *RateLimitedError) Error() string { return retryMessage("rate limited", e.RetryAfter) }

// Wait is RetryAfter (RetryLater).
func (e *RateLimitedError) Wait() time.Duration { return e.RetryAfter }

// Is makes errors.Is(err, ErrRateLimited) true for a *RateLimitedError.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// OAuth refusals of the authorization server (contract section 8). They live
// here, with the other sentinels, so that httperr maps them without
// importing the packages that raise them (client, authserver).
var (
	// ErrInvalidClient: unknown client, wrong or missing secret (RFC 6749
	// §5.2 invalid_client).
	ErrInvalidClient = errors.New("invalid_client")
	// ErrUnauthorizedClient: the client may not use this grant
	// (unauthorized_client).
	ErrUnauthorizedClient = errors.New("unauthorized_client")
	// ErrInvalidScope: a requested scope the client may not have
	// (invalid_scope).
	ErrInvalidScope = errors.New("invalid_scope")
	// ErrScopeNotGranted: a refresh asks for a scope that its grant never
	// carried, though the client may have it (RFC 6749 §6: invalid_scope,
	// with a description of its own). It wraps ErrInvalidScope.
	ErrScopeNotGranted = fmt.Errorf("scope not granted: %w", ErrInvalidScope)
	// ErrInvalidRequest: a missing or malformed parameter (invalid_request);
	// the message wrapped directly around it says which and is safe to
	// show to the client ("refresh_token is required: invalid_request").
	ErrInvalidRequest = errors.New("invalid_request")
)
