package httpapi

import (
	"context"
	"net/http"
	"time"
)

func (s *server) handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz is 200 only while every store answers; else 503 naming the
// failing parts, so a load balancer stops sending traffic here.
func (s *server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing := s.readyFailing(r.Context()); len(failing) > 0 {
			writeUnready(w, failing)
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

// writeUnready is /readyz's 503, naming the parts that do not answer.
func writeUnready(w http.ResponseWriter, failing []string) {
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failing": failing})
}
