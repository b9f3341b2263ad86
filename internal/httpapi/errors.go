package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

// writeError answers err as JSON with the status and code of httperr's
// table. Internal errors and store outages are logged (they never contain
// credentials: stores and services do not put secrets in errors); client
// errors are not.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	s.logInternal(r, httperr.Write(w, err), err)
}

// logInternal logs err when it was answered with a 5xx.
func (s *server) logInternal(r *http.Request, p httperr.Problem, err error) {
	if p.Status >= 500 {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(r.Context())), slog.String("error", err.Error()))
	}
}
