package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// traceEcho is an upstream that answers TRACE (and TRACK) as Apache does
// with its default TraceEnable on: the request it received, headers
// included, as a message/http body.
type traceEcho struct {
	*httptest.Server
	hits atomic.Int64
}

func newTraceEcho(t *testing.T) *traceEcho {
	t.Helper()
	u := &traceEcho{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		dump, err := httputil.DumpRequest(r, false)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "message/http")
		_, _ = w.Write(dump)
	}))
	t.Cleanup(u.Close)
	return u
}

// TestTraceAndTrackNeverReachAnUpstream: a TRACE or TRACK request (in any
// letter case) is refused like a method the route does not list — 404
// not_found, before any upstream is contacted — unless the route lists the
// method itself. Proxied, an upstream that answers TRACE echoes the
// headers gatehouse added, so the client would read the internal JWT of
// forward: jwt (cross-site tracing).
func TestTraceAndTrackNeverReachAnUpstream(t *testing.T) {
	echo := newTraceEcho(t)
	billing := route("billing", "/billing/", "any", echo.URL)
	billing.Forward = "jwt"
	debug := route("debug", "/debug/", "any", echo.URL)
	debug.Match.Methods = []string{"GET", "TRACE"}
	g, srv := serve(t, []config.Route{billing, debug}, deps())

	for _, method := range []string{"TRACE", "TRACK", "trace", "Track"} {
		t.Run(method, func(t *testing.T) {
			before := echo.hits.Load()
			r := do(t, newRequest(t, method, srv.URL+"/billing/x", tokenCred("alice")...))
			if strings.Contains(r.Body, "internal.u-alice") {
				t.Errorf("client read the internal JWT: %q", r.Body)
			}
			wantJSONError(t, r, http.StatusNotFound, "not_found")
			if n := echo.hits.Load() - before; n != 0 {
				t.Errorf("upstream contacted %d times, want never", n)
			}
		})
	}

	t.Run("forward-auth and Envoy agree", func(t *testing.T) {
		for name, h := range map[string][]string{
			"traefik": traefik("TRACE", "/billing/x"),
			"nginx":   nginx("TRACK", "/billing/x"),
		} {
			t.Run(name, func(t *testing.T) {
				wantJSONError(t, do(t, newRequest(t, "GET", srv.URL+gateway.VerifyPath, join(h, tokenCred("alice"))...)),
					http.StatusNotFound, "not_found")
			})
		}
		for _, method := range []string{"TRACE", "TRACK"} {
			req := httptest.NewRequest(method, "http://app.example/billing/x", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("Authorization", "Bearer tok-alice")
			v := g.Check(req)
			if v.Status != http.StatusNotFound || v.SetUpstream.Get("Authorization") != "" {
				t.Errorf("Check(%s) = %d, upstream Authorization %q; want 404 and none", method, v.Status, v.SetUpstream.Get("Authorization"))
			}
		}
		if rt, ok := g.Match("TRACE", "/billing/x"); ok {
			t.Errorf("Match(TRACE) = %s, want no route", rt.Name)
		}
	})

	t.Run("a route that lists TRACE gets it", func(t *testing.T) {
		before := echo.hits.Load()
		r := do(t, newRequest(t, "TRACE", srv.URL+"/debug/x", tokenCred("alice")...))
		if r.StatusCode != http.StatusOK || echo.hits.Load()-before != 1 {
			t.Fatalf("status = %d, upstream hits %d; want 200 and 1", r.StatusCode, echo.hits.Load()-before)
		}
		wantJSONError(t, do(t, newRequest(t, "TRACK", srv.URL+"/debug/x", tokenCred("alice")...)), http.StatusNotFound, "not_found")
	})
}

// TestTraceRouteBesideAnEveryMethodRoute: a route with no methods accepts
// every method but TRACE and TRACK, so one that lists TRACE may share its
// prefix.
func TestTraceRouteBesideAnEveryMethodRoute(t *testing.T) {
	const up = "http://127.0.0.1:9001"
	app, trace := route("app", "/x/", "any", up), route("trace", "/x/", "token", up)
	trace.Match.Methods = []string{"TRACE"}
	g, err := gateway.New([]config.Route{app, trace}, deps())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	for method, want := range map[string]string{"GET": "app", "DELETE": "app", "TRACE": "trace"} {
		if rt, ok := g.Match(method, "/x/1"); !ok || rt.Name != want {
			t.Errorf("Match(%s) = %v, %v; want %s", method, rt, ok, want)
		}
	}
	if rt, ok := g.Match("TRACK", "/x/1"); ok {
		t.Errorf("Match(TRACK) = %s, want no route", rt.Name)
	}
	both := trace
	both.Name, both.Match.Methods = "both", []string{"TRACE", "GET"}
	if _, err := gateway.New([]config.Route{app, both}, deps()); err == nil {
		t.Error("New accepted two routes on one prefix that both take GET")
	}
}
