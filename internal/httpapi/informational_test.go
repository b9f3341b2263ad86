package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestUpstreamEarlyHints has an upstream answer with 103 Early Hints before
// its 200, as Rails, Node and h2o applications do. The hint's Link reaches
// the client; a cookie in it does not (an informational response is not the
// upstream's answer, and gatehouse's own cookies must not be set through
// it); the final response keeps gatehouse's X-Request-Id first, which
// ReverseProxy clears from the header map after relaying the hint; and the
// access log and metrics count the request under its final status, not 103.
func TestUpstreamEarlyHints(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.Header().Add("Set-Cookie", "gatehouse=planted; Path=/")
		w.Header().Add("Set-Cookie", "theme=dark; Path=/")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Del("Set-Cookie")
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Request-Id", "upstream-id")
		_, _ = w.Write([]byte("upstream ok"))
	}))
	t.Cleanup(up.Close)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Routes = []config.Route{{Name: "hints", Match: config.RouteMatch{PathPrefix: "/"}, Upstream: up.URL,
			Auth: "none", Timeout: config.Duration(5 * time.Second)}}
	}))

	var mu sync.Mutex
	var hints []http.Header
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		mu.Lock()
		defer mu.Unlock()
		if code == http.StatusEarlyHints {
			hints = append(hints, http.Header(h).Clone())
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", g.URL+"/page", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := testutil.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := testutil.ReadBody(t, resp)
	if resp.StatusCode != http.StatusOK || body != "upstream ok" {
		t.Fatalf("final = %d %q, want 200 from the upstream", resp.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hints) != 1 {
		t.Fatalf("client saw %d early hints, want 1", len(hints))
	}
	if got := hints[0].Get("Link"); !strings.Contains(got, "style.css") {
		t.Errorf("hint Link = %q, want the upstream's", got)
	}
	if got := hints[0].Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("hint carried Set-Cookie %q, want none", got)
	}
	if ids := resp.Header.Values("X-Request-Id"); len(ids) == 0 || ids[0] == "upstream-id" {
		t.Errorf("final X-Request-Id = %q, want gatehouse's first (ReverseProxy clears it after the hint)", ids)
	}

	g.Stop()
	if logs := g.Logs(); !strings.Contains(logs, `"status":200`) || strings.Contains(logs, `"status":103`) {
		t.Errorf("access log should count the request as 200, not 103:\n%s", logs)
	}
}
