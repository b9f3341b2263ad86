package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/tcpproxy"
)

// serve started while a store does not answer yet listens at once, as a
// Kubernetes probe expects (contract §6): /healthz 200, /readyz 503
// naming the store it waits for, every other request 503 with
// Retry-After and never proxied, /metrics on admin_listen. Once the store
// answers it serves for real, on the connections it already had.
func TestServeAnswersWhileWaitingForItsStores(t *testing.T) {
	for _, tc := range []struct {
		name string
		part string // what /readyz names while the store is down
		env  func(t *testing.T, proxy string) map[string]string
		to   string // what the proxy forwards to
	}{
		{"postgres", "store", func(t *testing.T, proxy string) map[string]string {
			u, err := url.Parse(pgtest.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			u.Host = proxy
			return map[string]string{"GATEHOUSE_STORE": u.String()}
		}, "127.0.0.1:5432"},
		{"redis", "redis", func(t *testing.T, proxy string) map[string]string {
			_, prefix := redistest.New(t)
			return map[string]string{"GATEHOUSE_REDIS_URL": "redis://" + proxy + "/0", "GATEHOUSE_REDIS_KEY_PREFIX": prefix}
		}, redistest.Addr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var proxied atomic.Int64
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				proxied.Add(1)
				io.WriteString(w, "upstream")
			}))
			t.Cleanup(upstream.Close)
			c := newCLI(t, "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nroutes:\n- {name: app, match: {path_prefix: /app/}, upstream: '"+upstream.URL+"', auth: none}\n")
			proxy := tcpproxy.New(t, tc.to)
			proxy.Stop() // the store is down at start
			for k, v := range tc.env(t, proxy.Addr()) {
				c.env[k] = v
			}
			logs := make(logLines, 256)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"serve", "-c", c.cfg}, func(k string) string { return c.env[k] }, strings.NewReader(""), io.Discard, logs)
			}()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			})
			var listening struct{ Listen, Admin string }
			if err := json.Unmarshal([]byte(logs.await(t, "gatehouse listening")), &listening); err != nil {
				t.Fatal(err)
			}
			logs.await(t, "a store is not reachable at start; retrying")

			// One client, one connection: the answers while waiting and
			// after come on the same one (nothing dropped at the switch).
			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
			t.Cleanup(client.CloseIdleConnections)
			conns := map[string]map[string]bool{} // by listener: the client ends of its connections
			get := func(base, path string) (*http.Response, string) {
				t.Helper()
				trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
					if conns[base] == nil {
						conns[base] = map[string]bool{}
					}
					conns[base][i.Conn.LocalAddr().String()] = true
				}}
				method, form := http.MethodGet, io.Reader(nil)
				if m, p, ok := strings.Cut(path, " "); ok { // "POST /path": a form
					method, path, form = m, p, strings.NewReader("grant_type=password&username=a&password=b")
				}
				req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, "http://"+base+path, form)
				if err != nil {
					t.Fatal(err)
				}
				if form != nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				return resp, string(body)
			}
			pub := listening.Listen

			if resp, body := get(pub, "/healthz"); resp.StatusCode != http.StatusOK {
				t.Errorf("waiting: /healthz = %d %s, want 200", resp.StatusCode, body)
			}
			resp, body := get(pub, "/readyz")
			var ready struct {
				Status  string
				Failing []string
			}
			if err := json.Unmarshal([]byte(body), &ready); err != nil || resp.StatusCode != http.StatusServiceUnavailable ||
				ready.Status != "unavailable" || !slices.Contains(ready.Failing, tc.part) {
				t.Errorf("waiting: /readyz = %d %s, want 503 naming %q", resp.StatusCode, body, tc.part)
			}
			for _, path := range []string{"/app/x", "//app/../app/x", "/auth/session", "/.well-known/jwks.json", "/login", "POST /auth/token"} {
				resp, body := get(pub, path)
				if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
					strings.TrimSpace(body) != `{"error":"unavailable"}` || resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("waiting: %s = %d, Retry-After %q, %s; want 503 {\"error\":\"unavailable\"} with Retry-After",
						path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
				}
			}
			if n := proxied.Load(); n != 0 {
				t.Errorf("waiting: %d requests reached the upstream, want none", n)
			}
			if resp, body := get(listening.Admin, "/metrics"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "go_goroutines") {
				t.Errorf("waiting: admin /metrics = %d, want 200 with the process metrics", resp.StatusCode)
			}

			proxy.Start() // the store answers now
			logs.await(t, "gatehouse serving")
			deadline := time.Now().Add(30 * time.Second)
			for {
				resp, body := get(pub, "/readyz")
				if resp.StatusCode == http.StatusOK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/readyz still %d %s 30s after the store came up", resp.StatusCode, body)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if resp, body := get(pub, "/app/x"); resp.StatusCode != http.StatusOK || body != "upstream" {
				t.Errorf("serving: /app/x = %d %q, want the upstream's 200", resp.StatusCode, body)
			}
			for _, path := range []string{"/healthz", "/.well-known/jwks.json"} {
				if resp, body := get(pub, path); resp.StatusCode != http.StatusOK {
					t.Errorf("serving: %s = %d %s, want 200", path, resp.StatusCode, body)
				}
			}
			if len(conns[pub]) != 1 {
				t.Errorf("the requests to %s came on %d connections, want the one opened while waiting", pub, len(conns[pub]))
			}
		})
	}
}
