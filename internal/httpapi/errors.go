package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

// writeError answers err with the status and code of httperr's table: as
// JSON, or as an HTML error page (httperr.WritePage) to a browser that
// posted a form (Accept: text/html), which gatehouse's own pages do and
// which must not be left showing raw JSON. Internal errors and store
// outages are logged (they never contain credentials: stores and services
// do not put secrets in errors); client errors are not.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Method == http.MethodPost && isForm(r) && wantsHTML(r) {
		s.logInternal(r, httperr.WritePage(w, err), err)
		return
	}
	s.writeAPIError(w, r, err)
}

// writeAPIError is writeError for an API endpoint that takes a form body
// from clients other than gatehouse's pages (POST /auth/userinfo, RFC 7009
// revocation): always JSON, whatever the Accept header says, since many
// HTTP libraries send text/html in theirs.
func (s *server) writeAPIError(w http.ResponseWriter, r *http.Request, err error) {
	s.logInternal(r, httperr.Write(w, err), err)
}

// logInternal logs err when it was answered with a 5xx.
func (s *server) logInternal(r *http.Request, p httperr.Problem, err error) {
	if p.Status >= 500 {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(r.Context())), slog.String("error", err.Error()))
	}
}
