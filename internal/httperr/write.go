package httperr

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Challenge is the WWW-Authenticate value of a 401 without a more specific
// one (RFC 6750 section 3).
const Challenge = `Bearer realm="gatehouse"`

// ChallengeWith is Challenge naming the RFC 6750 section 3.1 error code
// (invalid_token, invalid_request); Challenge itself when code is "".
func ChallengeWith(code string) string {
	if code == "" {
		return Challenge
	}
	return Challenge + `, error="` + code + `"`
}

// body is the JSON error object; field order is the wire order.
type body struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// JSON writes {"error":code} with status. Error responses are never cached
// or sniffed.
func JSON(w http.ResponseWriter, status int, code string) {
	write(w, Problem{Status: status, Code: code})
}

// Write answers err as JSON with the status and code of Of, and returns
// them (callers log 5xx). A throttled, shed or rate-limited error adds
// Retry-After, any other 503 (a store down) that of StoreRetry; a 401
// unauthorized adds the Bearer challenge unless one is set already.
func Write(w http.ResponseWriter, err error) Problem {
	p := Of(err)
	SetRetryAfter(w.Header(), err)
	setChallenge(w.Header(), p)
	write(w, p)
	return p
}

// setChallenge sets the Bearer challenge on a 401 unauthorized unless one
// is set already (RFC 9110 section 15.5.2), for Write and WritePage alike.
func setChallenge(h http.Header, p Problem) {
	if p.Status == http.StatusUnauthorized && p.Code == "unauthorized" && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", Challenge)
	}
}

// WriteOAuth answers a failed grant with the RFC 6749 section 5.2 error of
// OAuthOf, and returns it.
func WriteOAuth(w http.ResponseWriter, err error) Problem {
	p := OAuthOf(err)
	SetRetryAfter(w.Header(), err)
	OAuth(w, p.Status, p.Code, p.Description)
	return p
}

// OAuth writes an RFC 6749 section 5.2 error: {"error":code} plus
// "error_description" when description is not "", and Pragma: no-cache.
func OAuth(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Pragma", "no-cache")
	write(w, Problem{Status: status, Code: code, Description: description})
}

func write(w http.ResponseWriter, p Problem) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	retryUnavailable(h, p.Status)
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(body{Error: p.Code, Description: p.Description})
}

// SetRetryAfter sets Retry-After when err is an auth.RetryLater: throttled
// (*auth.ThrottledError), shed (*auth.OverloadedError) or rate limited
// (*auth.RateLimitedError); for pages that do not go through Write.
func SetRetryAfter(h http.Header, err error) {
	if rl, ok := errors.AsType[auth.RetryLater](err); ok {
		h.Set("Retry-After", RetryAfter(rl.Wait()))
	}
}

// StoreRetry is how soon a client may try again after a 503 that says
// nothing more precise: a store (or another dependency) did not answer.
// Every 503 that Write, JSON, OAuth, WritePage and RenderPage answer
// carries Retry-After (RFC 9110 section 10.2.3): the error's own wait
// (SetRetryAfter), one set before, else StoreRetry. It is also the first
// wait of serve's retries of the stores at start (internal/app), which
// the waiting instance's 503s announce, so clients and proxies back off
// alike whether the stores are down at start or later.
const StoreRetry = time.Second

// retryUnavailable gives a 503 without Retry-After that of StoreRetry.
func retryUnavailable(h http.Header, status int) {
	if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", RetryAfter(StoreRetry))
	}
}

// RetryAfter formats d for a Retry-After header: whole seconds, rounded up,
// at least 1.
func RetryAfter(d time.Duration) string {
	secs := int((d + time.Second - 1) / time.Second)
	return strconv.Itoa(max(secs, 1))
}
