package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

func (s *server) handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz is 200 only while every store answers; else 503 naming the
// failing parts, so a load balancer stops sending traffic here, with
// Retry-After of httperr.StoreRetry.
func (s *server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing := s.readyFailing(r.Context()); len(failing) > 0 {
			writeUnready(w, failing, httperr.StoreRetry)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// readyTimeout bounds the store pings of one /readyz.
const readyTimeout = 2 * time.Second

// readyFailing names the parts that do not answer (Deps.Ready).
func (s *server) readyFailing(ctx context.Context) []string {
	if s.Ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	return s.Ready(ctx)
}

// writeUnready is /readyz's 503, naming the parts that do not answer,
// with Retry-After of wait, as every 503 gatehouse writes (httperr).
func writeUnready(w http.ResponseWriter, failing []string, wait time.Duration) {
	w.Header().Set("Retry-After", httperr.RetryAfter(wait))
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failing": failing})
}
