package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

// writeError answers err with the status and code of httperr's table: as
// JSON, or as an HTML error page (httperr.WritePage) where answersWithPage
// says so. Internal errors and store outages are logged (they never
// contain credentials: stores and services do not put secrets in errors);
// client errors are not.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	write := httperr.Write
	if answersWithPage(r) {
		write = httperr.WritePage
	}
	s.logInternal(r, write(w, err), err)
}

// formPageKey marks, in a request's context, an endpoint that formPage
// wraps.
type formPageKey struct{}

// formPage marks h as an endpoint that gatehouse's own HTML forms post to
// (routes registers each one with it): the only endpoints whose errors a
// browser gets as an HTML page. Every other endpoint (the OAuth token,
// revocation and userinfo endpoints, the JSON APIs, the WebAuthn
// ceremonies) answers JSON whatever Accept says, since many HTTP
// libraries send text/html in theirs.
func formPage(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), formPageKey{}, true)))
	})
}

// answersWithPage reports whether writeError answers r with an HTML error
// page: a browser (Accept: text/html) posting a form to a formPage
// endpoint, which must not be left showing raw JSON. API clients posting
// the same keep the JSON error.
func answersWithPage(r *http.Request) bool {
	return r.Method == http.MethodPost && isForm(r) && wantsHTML(r) && r.Context().Value(formPageKey{}) != nil
}

// logInternal logs err when it was answered with a 5xx.
func (s *server) logInternal(r *http.Request, p httperr.Problem, err error) {
	if p.Status >= 500 {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(r.Context())), slog.String("error", err.Error()))
	}
}
