package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// errorTable maps sentinel errors to a status and the contract's error
// code, in order: the first match wins.
var errorTable = []struct {
	err    error
	status int
	code   string
}{
	{auth.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{auth.ErrThrottled, http.StatusTooManyRequests, "too_many_attempts"},
	{auth.ErrInvalidCredentials, http.StatusUnauthorized, "invalid_credentials"},
	{auth.ErrUnauthenticated, http.StatusUnauthorized, "unauthorized"},
	{auth.ErrExpired, http.StatusUnauthorized, "unauthorized"},
	{auth.ErrRevoked, http.StatusUnauthorized, "unauthorized"},
	{auth.ErrDisabled, http.StatusUnauthorized, "unauthorized"},
	{auth.ErrForbidden, http.StatusForbidden, "forbidden"},
	{auth.ErrNotFound, http.StatusNotFound, "not_found"},
	{auth.ErrInvalidInput, http.StatusBadRequest, "invalid_request"},
	{auth.ErrConflict, http.StatusConflict, "conflict"},
}

// statusOf returns the HTTP status and error code for err.
func statusOf(err error) (int, string) {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.status, e.code
		}
	}
	return http.StatusInternalServerError, "internal_error"
}

// writeError answers err as JSON {"error": code}. Internal errors and store
// outages are logged (they never contain credentials: stores and services
// do not put secrets in errors); client errors are not.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := statusOf(err)
	var te *auth.ThrottledError
	if errors.As(err, &te) {
		w.Header().Set("Retry-After", retryAfter(te.RetryAfter))
	}
	if status >= 500 {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(r.Context())), slog.String("error", err.Error()))
	}
	if status == http.StatusUnauthorized && code == "unauthorized" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	}
	writeJSON(w, status, map[string]string{"error": code})
}

func retryAfter(d time.Duration) string {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return strconv.Itoa(secs)
}
