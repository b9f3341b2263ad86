package gateway_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// fuzzUpstream records the decoded path of the last request it received.
type fuzzUpstream struct {
	*httptest.Server
	mu    sync.Mutex
	n     int
	path  string
	query string
}

func newFuzzUpstream(f *testing.F) *fuzzUpstream {
	u := &fuzzUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.n, u.path, u.query = u.n+1, r.URL.Path, r.URL.RawQuery
		u.mu.Unlock()
	}))
	f.Cleanup(u.Close)
	return u
}

func (u *fuzzUpstream) last() (int, string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n, u.path
}

// FuzzGatewayForwardsJudgedPath sends any request-target through the whole
// gateway (net/http's request parsing, normalisation, route matching, the
// reverse proxy and a real loopback upstream). Invariant (contract section
// 5, issue 11): either the request is refused with 400 and reaches no
// upstream, or exactly one upstream receives it, that upstream belongs to
// the route that longest-prefix matching selects for the path the upstream
// itself decoded, that path is clean (no empty or dot segments an upstream
// could resolve differently), and Match agrees. A route can never be
// reached by a spelling the matcher did not see.
func FuzzGatewayForwardsJudgedPath(f *testing.F) {
	prefixes := map[string]string{"public": "/", "admin": "/admin/", "deep": "/admin/deep/", "api": "/api"}
	ups := map[string]*fuzzUpstream{}
	var routes []config.Route
	for name, prefix := range prefixes {
		ups[name] = newFuzzUpstream(f)
		routes = append(routes, route(name, prefix, "none", ups[name].URL))
	}
	g, err := gateway.New(routes, gateway.Deps{TrustedProxies: loopback()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(g.Close)

	for _, s := range []string{
		"/", "/admin", "/admin/", "/admin/x", "//admin/x", "/admin//x", "/public/../admin/x", "/../../admin/x",
		"/%61dmin/x", "/admin/.", "/admin/./x", "/admin/x;y", "/admin;x/y", "/ADMIN/x", "/admin%2fx", "/..;/admin/x",
		"/admin/..;/x", "/%2e%2e/admin/x", "/.%2E/admin", "/admin%00", `/admin\x`, "/admin%5cx", "/apix", "/api",
		"/api/../admin", "/admin/deep", "/admin/deep/../x", "/admin/deep%2F..%2Fx", "/%C3%A9/admin", "/a?b=/admin/",
		"/admin/%25", "/public/%252e%252e/admin", "/admin/deep/.;/x", "*", "http://evil.example/admin/x",
	} {
		f.Add("GET", s)
	}
	f.Add("POST", "/admin/x")
	f.Add("OPTIONS", "*")

	f.Fuzz(func(t *testing.T, method, target string) {
		// net/http parses the request line exactly as the server would; a
		// request it refuses never reaches the gateway.
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n")))
		if err != nil || req.Method == http.MethodConnect {
			return
		}
		req.RemoteAddr = "192.0.2.1:4321"
		before := map[string]int{}
		for name, u := range ups {
			before[name], _ = u.last()
		}
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)

		var got []string
		var path string
		for name, u := range ups {
			if n, p := u.last(); n != before[name] {
				got, path = append(got, name), p
			}
		}
		if rec.Code == http.StatusBadRequest {
			if len(got) != 0 {
				t.Fatalf("%s %q: 400 but upstream %v was called", method, target, got)
			}
			return
		}
		rt, matched := g.Match(req.Method, req.URL.EscapedPath())
		if len(got) != 1 {
			t.Fatalf("%s %q: status %d, upstreams called %v; want exactly one or a 400", method, target, rec.Code, got)
		}
		if want := longestPrefix(prefixes, path); got[0] != want {
			t.Fatalf("%s %q: upstream %s received %q, which matching assigns to %s", method, target, got[0], path, want)
		}
		if !matched || rt.Name != got[0] {
			t.Fatalf("%s %q: proxied to %s but Match = %v, %v", method, target, got[0], rt, matched)
		}
		if !strings.HasPrefix(path, "/") || strings.Contains(path, "//") || strings.ContainsAny(path, "\\\x00") {
			t.Fatalf("%s %q: upstream received unclean path %q", method, target, path)
		}
		for _, seg := range strings.Split(path[1:], "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%s %q: upstream received dot segment in %q", method, target, path)
			}
		}
	})
}

// A request-target in opaque form ("scheme:rest", no slash after the
// colon) has an empty path: the matcher would judge "/" while the proxy
// sent "rest" upstream. It is refused before any upstream sees it; found by
// FuzzGatewayForwardsJudgedPath (corpus entry 98d79adf6546190f).
func TestOpaqueRequestTargetRefused(t *testing.T) {
	public, admin := newUpstream(t), newUpstream(t)
	_, srv := serve(t, []config.Route{
		route("public", "/", "none", public.URL),
		route("admin", "/admin/", "session", admin.URL, "admin"),
	}, deps())
	for _, target := range []string{"a:admin/x", "A:0", "mailto:admin", "x:%2e%2e/admin"} {
		t.Run(target, func(t *testing.T) {
			wantJSONError(t, raw(t, srv, "GET", target), http.StatusBadRequest, "bad_request")
			if n := public.count() + admin.count(); n != 0 {
				t.Errorf("upstreams saw %d requests, want 0", n)
			}
		})
	}
}

// longestPrefix is the documented matching rule (contract section 5),
// written out independently: the longest prefix that p lies under at a
// segment boundary.
func longestPrefix(prefixes map[string]string, p string) string {
	best, bestLen := "", -1
	for name, prefix := range prefixes {
		base := strings.TrimSuffix(prefix, "/")
		if strings.HasPrefix(p, base) && (len(p) == len(base) || p[len(base)] == '/') && len(base) > bestLen {
			best, bestLen = name, len(base)
		}
	}
	return best
}
