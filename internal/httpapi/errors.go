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

// pageKey marks, in a request's context, an endpoint that htmlPage wraps.
type pageKey struct{}

// htmlPage marks h as one of gatehouse's own HTML pages or an endpoint
// that its HTML forms post to (routes registers each one with it): the
// only endpoints whose errors a browser gets as an HTML page. Every other
// endpoint (the OAuth token, revocation and userinfo endpoints, the JSON
// APIs, the WebAuthn ceremonies) answers JSON whatever Accept says, since
// many HTTP libraries send text/html in theirs.
func htmlPage(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), pageKey{}, true)))
	})
}

// answersWithPage reports whether writeError answers r with an HTML error
// page: a browser (Accept: text/html) on an htmlPage endpoint, navigating
// to the page (GET) or posting a form to it, which must not be left
// showing raw JSON. API clients asking or posting the same keep the JSON
// error.
func answersWithPage(r *http.Request) bool {
	if !httperr.WantsHTML(r) || r.Context().Value(pageKey{}) == nil {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPost:
		return isForm(r)
	}
	return false
}

// logInternal logs err when it was answered with a 5xx.
func (s *server) logInternal(r *http.Request, p httperr.Problem, err error) {
	if p.Status >= 500 {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(r.Context())), slog.String("error", err.Error()))
	}
}
