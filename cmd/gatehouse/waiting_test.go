package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/tcpproxy"
)

// downStore is a store that does not answer when serve starts: env points
// serve at a proxy to it, to is what the proxy forwards to.
type downStore struct {
	env func(t *testing.T, proxy string) map[string]string
	to  string
}

var (
	downPostgres = downStore{func(t *testing.T, proxy string) map[string]string {
		u, err := url.Parse(pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		u.Host = proxy
		return map[string]string{"GATEHOUSE_STORE": u.String()}
	}, "127.0.0.1:5432"}
	downRedis = downStore{func(t *testing.T, proxy string) map[string]string {
		_, prefix := redistest.New(t)
		return map[string]string{"GATEHOUSE_REDIS_URL": "redis://" + proxy + "/0", "GATEHOUSE_REDIS_KEY_PREFIX": prefix}
	}, redistest.Addr}
)

// serve started while a store does not answer yet listens at once, as a
// Kubernetes probe expects (contract §6): /healthz 200, /readyz 503
// naming every store it waits for, every other request 503 with
// Retry-After and never proxied, /metrics on admin_listen, and on
// ext_authz_listen a gRPC Check denied with 503 and Retry-After (Envoy
// passes a denial on to the client; an RPC error or a refused connection
// it would answer with status_on_error, or let through under
// failure_mode_allow). Once the stores answer it serves for real, on the
// connections it already had.
func TestServeAnswersWhileWaitingForItsStores(t *testing.T) {
	for _, tc := range []struct {
		name  string
		down  []downStore
		parts []string // what /readyz names while they are down
	}{
		{"postgres", []downStore{downPostgres}, []string{"store", "revocations"}},
		{"redis", []downStore{downRedis}, []string{"redis", "revocations"}},
		{"postgres and redis", []downStore{downPostgres, downRedis}, []string{"store", "redis", "revocations"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var proxied atomic.Int64
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				proxied.Add(1)
				io.WriteString(w, "upstream")
			}))
			t.Cleanup(upstream.Close)
			c := newCLI(t, "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\next_authz_listen: 127.0.0.1:0\nroutes:\n- {name: app, match: {path_prefix: /app/}, upstream: '"+upstream.URL+"', auth: none}\n")
			var proxies []*tcpproxy.Proxy
			for _, d := range tc.down {
				proxy := tcpproxy.New(t, d.to)
				proxy.Stop() // the store is down at start
				proxies = append(proxies, proxy)
				for k, v := range d.env(t, proxy.Addr()) {
					c.env[k] = v
				}
			}
			logs := c.serveInTest()
			var listening struct {
				Listen, Admin string
				ExtAuthz      string `json:"ext_authz"`
			}
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
				req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), method, "http://"+base+path, form)
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
				ready.Status != "unavailable" || !slices.Equal(ready.Failing, tc.parts) {
				t.Errorf("waiting: /readyz = %d %s, want 503 naming %q", resp.StatusCode, body, tc.parts)
			}
			// The HTTP ext_authz service is one of these: Envoy's
			// http_service takes its 5xx for an error (status_on_error).
			for _, path := range []string{"/app/x", "//app/../app/x", "/auth/session", "/.well-known/jwks.json", "/login", "POST /auth/token",
				"/auth/verify/envoy/app/x"} {
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

			// The gRPC ext_authz service, on one connection too.
			var dials atomic.Int64
			conn, err := grpc.NewClient(listening.ExtAuthz, grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
					dials.Add(1)
					return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
				}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			authz := authv3.NewAuthorizationClient(conn)
			check := func() *authv3.CheckResponse {
				t.Helper()
				resp, err := authz.Check(t.Context(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
					Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
						SocketAddress: &corev3.SocketAddress{Address: "198.51.100.4"}}}},
					Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
						Method: "GET", Path: "/app/x", Host: "app.example.com", Scheme: "https",
						Headers: map[string]string{":authority": "app.example.com", ":path": "/app/x", ":method": "GET", "x-forwarded-proto": "https"},
					}},
				}})
				if err != nil {
					t.Fatalf("ext_authz Check: %v", err) // an RPC error: Envoy's failure_mode_allow would let it through
				}
				return resp
			}
			denied := check()
			dr := denied.GetDeniedResponse()
			retryAfter := ""
			for _, h := range dr.GetHeaders() {
				if h.GetHeader().GetKey() == "retry-after" {
					retryAfter = h.GetHeader().GetValue()
				}
			}
			if codes.Code(denied.GetStatus().GetCode()) != codes.Unavailable || dr.GetStatus().GetCode() != http.StatusServiceUnavailable ||
				retryAfter == "" || strings.TrimSpace(dr.GetBody()) != `{"error":"unavailable"}` {
				t.Errorf("waiting: ext_authz Check = %v, denied %d, Retry-After %q, %q; want UNAVAILABLE, 503 {\"error\":\"unavailable\"} with Retry-After",
					codes.Code(denied.GetStatus().GetCode()), dr.GetStatus().GetCode(), retryAfter, dr.GetBody())
			}
			// Counted as the HTTP requests refused meanwhile are.
			if _, body := get(listening.Admin, "/metrics"); !strings.Contains(body, `gatehouse_http_requests_total{code="503",route="`+grpcCheckRoute+`"} 1`) {
				t.Errorf("waiting: /metrics does not count the refused Check under route %s", grpcCheckRoute)
			}

			for _, proxy := range proxies {
				proxy.Start() // the store answers now
			}
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
			if resp, body := get(pub, "/auth/verify/envoy/app/x"); resp.StatusCode != http.StatusOK {
				t.Errorf("serving: HTTP ext_authz = %d %s, want 200", resp.StatusCode, body)
			}
			if got := check(); codes.Code(got.GetStatus().GetCode()) != codes.OK {
				t.Errorf("serving: ext_authz Check = %v %v, want OK", codes.Code(got.GetStatus().GetCode()), got.GetDeniedResponse())
			}
			if n := dials.Load(); n != 1 {
				t.Errorf("the ext_authz Checks came on %d connections, want the one opened while waiting", n)
			}
			if len(conns[pub]) != 1 {
				t.Errorf("the requests to %s came on %d connections, want the one opened while waiting", pub, len(conns[pub]))
			}
		})
	}
}

// A listener's port that is taken stops serve at once, naming the key,
// before it waits for a store that does not answer: ext_authz_listen like
// listen and admin_listen (Envoy would otherwise meet refused connections
// until the stores answer, and the operator learn of the port late).
func TestServeRefusesATakenPortBeforeWaitingForItsStores(t *testing.T) {
	for _, key := range []string{"listen", "admin_listen", "ext_authz_listen"} {
		t.Run(key, func(t *testing.T) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { taken.Close() })
			yaml := map[string]string{"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0", "ext_authz_listen": "127.0.0.1:0"}
			yaml[key] = taken.Addr().String()
			c := newCLI(t, "listen: "+yaml["listen"]+"\nadmin_listen: "+yaml["admin_listen"]+"\next_authz_listen: "+yaml["ext_authz_listen"]+"\n")
			proxy := tcpproxy.New(t, redistest.Addr)
			proxy.Stop() // Redis is down at start
			c.env["GATEHOUSE_REDIS_URL"] = "redis://" + proxy.Addr() + "/0"

			ctx, cancel := context.WithCancel(context.Background())
			logs, done := c.serve(ctx)
			t.Cleanup(func() {
				cancel()
				<-done
			})
			timeout := time.After(30 * time.Second)
			for {
				select {
				case err := <-done:
					done <- err // for the cleanup
					if err == nil || !strings.Contains(err.Error(), "(key "+key+")") || !strings.Contains(err.Error(), taken.Addr().String()) {
						t.Errorf("serve = %v, want the error naming %s and %s", err, key, taken.Addr())
					}
					return
				case line := <-logs:
					if strings.Contains(line, "a store is not reachable at start") {
						t.Fatalf("serve waited for its stores before binding %s (its port is taken): %s", key, line)
					}
				case <-timeout:
					t.Fatal("serve neither failed nor waited for its stores within 30s")
				}
			}
		})
	}
}
