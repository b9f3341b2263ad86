package extauthz_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// observed is one call of an ObserveFunc.
type observed struct {
	method, host, path, query, requestID, xff string
	status, bytes                             int
}

// TestGRPCChecksAreObserved: every Check answered is told to the
// ObserveFunc (the request log and metrics), with the request as judged
// and the answer's HTTP status and body length: allowed, denied, malformed
// (as far as it describes a request) and a check that panicked (the 500
// recoverPanic answers).
func TestGRPCChecksAreObserved(t *testing.T) {
	var mu sync.Mutex
	var got []observed
	observe := func(r *http.Request, status, bytes int, start time.Time) {
		if start.IsZero() {
			t.Error("observed without the Check's start")
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, observed{r.Method, r.Host, r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Request-Id"),
			r.Header.Get("X-Forwarded-For"), status, bytes})
	}
	g := newGatewayWith(t, failingIssuer{panics: true})
	client := startGRPCObserved(t, g.Check, observe, nil)

	id := "6b1a2c3d-0000-4000-8000-000000000001"
	for _, req := range []*authv3.CheckRequest{
		envoyCheck("GET", "api.example.com", "/limited/x?token=t"),
		envoyCheck("GET", "app.example.com", "/admin/x", "accept", "application/json"),
		envoyCheck("GET", "api.example.com", "x?code=c"),
		envoyCheck("POST", "api.example.com", "/billing/x", "authorization", "Bearer tok-alice"),
		{},
	} {
		if _, err := client.Check(context.Background(), req); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	want := []observed{
		{"GET", "api.example.com", "/limited/x", "token=t", id, "203.0.113.7, 203.0.113.7", http.StatusOK, 0},
		{"GET", "app.example.com", "/admin/x", "", id, "203.0.113.7, 203.0.113.7", http.StatusUnauthorized, len(`{"error":"unauthorized"}` + "\n")},
		{"GET", "api.example.com", "x", "", id, "203.0.113.7", http.StatusBadRequest, len(`{"error":"bad_request"}` + "\n")},
		{"POST", "api.example.com", "/billing/x", "", id, "203.0.113.7, 203.0.113.7", http.StatusInternalServerError, len(`{"error":"internal_error"}` + "\n")},
		{status: http.StatusBadRequest, bytes: len(`{"error":"bad_request"}` + "\n")},
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("observed %d Checks, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Check %d observed as %+v, want %+v", i, got[i], want[i])
		}
	}
}
