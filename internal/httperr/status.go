package httperr

import (
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Problem is what an error becomes on the wire.
type Problem struct {
	Status int
	// Code is the "error" member of the JSON body.
	Code string
	// Description is the OAuth "error_description"; "" leaves it out.
	Description string
}

type row struct {
	err     error
	problem Problem
}

// table maps sentinel errors to the contract's status and code, in order:
// the first match wins, so an outage (which may wrap another sentinel too)
// always fails closed with 503.
var table = []row{
	{auth.ErrOverloaded, Problem{http.StatusServiceUnavailable, "temporarily_unavailable", ""}},
	{auth.ErrUnavailable, Problem{http.StatusServiceUnavailable, "unavailable", ""}},
	{auth.ErrThrottled, Problem{http.StatusTooManyRequests, "too_many_attempts", ""}},
	{auth.ErrRateLimited, Problem{http.StatusTooManyRequests, "rate_limited", ""}},
	{auth.ErrInvalidCredentials, Problem{http.StatusUnauthorized, "invalid_credentials", ""}},
	{auth.ErrUnauthenticated, Problem{http.StatusUnauthorized, "unauthorized", ""}},
	{auth.ErrExpired, Problem{http.StatusUnauthorized, "unauthorized", ""}},
	{auth.ErrRevoked, Problem{http.StatusUnauthorized, "unauthorized", ""}},
	{auth.ErrDisabled, Problem{http.StatusUnauthorized, "unauthorized", ""}},
	{auth.ErrForbidden, Problem{http.StatusForbidden, "forbidden", ""}},
	{auth.ErrNotFound, Problem{http.StatusNotFound, "not_found", ""}},
	{auth.ErrInvalidInput, Problem{http.StatusBadRequest, "invalid_request", ""}},
	{auth.ErrConflict, Problem{http.StatusConflict, "conflict", ""}},
}

// Internal is the answer to an error no table knows: 500 internal_error.
var Internal = Problem{http.StatusInternalServerError, "internal_error", ""}

// Of returns the status and code for err; Internal for an error no sentinel
// matches (including nil, which callers should not pass).
// A Describe'd error below 500 carries its description.
func Of(err error) Problem { return described(lookup(table, err, Internal), err) }

// described gives p the description Describe attached to err, when p is a
// client's error (below 500): a server fault's answer never tells more.
func described(p Problem, err error) Problem {
	var d *describedError
	if p.Status < http.StatusInternalServerError && errors.As(err, &d) {
		p.Description = d.desc
	}
	return p
}

// Describe returns err (errors.Is still sees through it) with desc as the
// "error_description" of its answer: a sentence written for the caller,
// e.g. what to do about a 403. Errors of 500 and above never show theirs.
func Describe(err error, desc string) error { return &describedError{err: err, desc: desc} }

type describedError struct {
	err  error
	desc string
}

func (e *describedError) Error() string { return e.err.Error() }
func (e *describedError) Unwrap() error { return e.err }

func lookup(rows []row, err error, fallback Problem) Problem {
	for _, r := range rows {
		if errors.Is(err, r.err) {
			return r.problem
		}
	}
	return fallback
}

// Unavailable reports whether err means a store or dependency did not
// answer: Of(err) is 503, the request must fail closed.
func Unavailable(err error) bool { return Of(err).Status == http.StatusServiceUnavailable }
