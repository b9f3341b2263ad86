package gateway_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/duration"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

func TestMatchLongestPrefixAtSegmentBoundary(t *testing.T) {
	const up = "http://127.0.0.1:1"
	getOnly := route("orders-read", "/api/orders/", "token", up)
	getOnly.Match.Methods = []string{"GET"}
	routes := []config.Route{
		route("root", "/", "none", up),
		route("api", "/api/", "token", up),
		getOnly,
		route("app", "/app", "session", up),
		route("admin", "/admin/", "session", up, "admin"),
	}
	g, err := gateway.New(routes, deps())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	tests := []struct {
		method, path, want string // want "" = no match
	}{
		{"GET", "/", "root"},
		{"GET", "/api/", "api"},
		{"GET", "/api/x", "api"},
		{"GET", "/apix", "root"},
		{"GET", "/api", "api"}, // a trailing-slash prefix also claims its directory's own name
		{"GET", "/app", "app"},
		{"GET", "/app/", "app"},
		{"GET", "/app/x", "app"},
		{"GET", "/apple", "root"},
		{"GET", "/api/orders/1", "orders-read"},
		{"POST", "/api/orders/1", ""}, // the longest prefix wins; its method filter is final
		{"GET", "/api/ordersx", "api"},
		{"GET", "/Admin/x", "root"}, // case-sensitive
		{"GET", "/%61dmin/x", "admin"},
		{"GET", "//admin//x", "admin"},
		{"GET", "/x/../admin/", "admin"},
		{"GET", "/admin;x", "root"},
		{"GET", "/admin/%2e%2e/x", ""},
		{"GET", "/admin%zz", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rt, ok := g.Match(tt.method, tt.path)
			got := ""
			if ok {
				got = rt.Name
			}
			if got != tt.want {
				t.Errorf("Match(%s, %q) = %q, want %q", tt.method, tt.path, got, tt.want)
			}
		})
	}
}

func TestNoRouteIsJSON404(t *testing.T) {
	up := newUpstream(t)
	r := route("reports", "/reports/", "none", up.URL)
	r.Match.Methods = []string{"GET"}
	_, srv := serve(t, []config.Route{r}, deps())
	for _, tt := range []struct{ method, path string }{{"GET", "/elsewhere"}, {"POST", "/reports/x"}} {
		wantJSONError(t, do(t, newRequest(t, tt.method, srv.URL+tt.path)), http.StatusNotFound, "not_found")
	}
	if got := up.count(); got != 0 {
		t.Errorf("upstream saw %d requests, want 0", got)
	}
}

func TestCompileRefusesBadRoutesByKey(t *testing.T) {
	const up = "http://127.0.0.1:9001"
	withMethods := func(r gateway.RouteConfig, m ...string) gateway.RouteConfig { r.Match.Methods = m; return r }
	withForward := func(r gateway.RouteConfig, f string) gateway.RouteConfig { r.Forward = f; return r }
	withTimeout := func(r gateway.RouteConfig, d time.Duration) gateway.RouteConfig {
		r.Timeout = duration.Duration(d)
		return r
	}
	ok := route("ok", "/ok/", "none", up)
	tests := []struct {
		name   string
		routes []gateway.RouteConfig
		key    string
	}{
		{"empty name", []gateway.RouteConfig{route("", "/x/", "none", up)}, "routes[0].name"},
		{"name with a space", []gateway.RouteConfig{route("a b", "/x/", "none", up)}, "routes[0].name"},
		{"unknown auth", []gateway.RouteConfig{route("bad", "/x/", "basic", up)}, "routes[0].auth"},
		{"empty auth", []gateway.RouteConfig{ok, route("bad", "/x/", "", up)}, "routes[1].auth"},
		{"roles without auth", []gateway.RouteConfig{route("bad", "/x/", "none", up, "admin")}, "routes[0].roles"},
		{"relative upstream", []gateway.RouteConfig{route("bad", "/x/", "none", "/elsewhere")}, "routes[0].upstream"},
		{"ftp upstream", []gateway.RouteConfig{route("bad", "/x/", "none", "ftp://h/")}, "routes[0].upstream"},
		{"unparsable upstream", []gateway.RouteConfig{route("bad", "/x/", "none", "http://[::1")}, "routes[0].upstream"},
		{"upstream with credentials", []gateway.RouteConfig{route("bad", "/x/", "none", "http://u:p@h/")}, "routes[0].upstream"},
		{"upstream with a user name", []gateway.RouteConfig{route("bad", "/x/", "none", "http://tok@h/")}, "routes[0].upstream"},
		{"unclean prefix", []gateway.RouteConfig{route("bad", "/x/../y/", "none", up)}, "routes[0].match.path_prefix"},
		{"encoded prefix", []gateway.RouteConfig{route("bad", "/%78/", "none", up)}, "routes[0].match.path_prefix"},
		{"relative prefix", []gateway.RouteConfig{route("bad", "x/", "none", up)}, "routes[0].match.path_prefix"},
		{"empty prefix", []gateway.RouteConfig{route("bad", "", "none", up)}, "routes[0].match.path_prefix"},
		{"parameter in prefix", []gateway.RouteConfig{route("bad", "/x;y/", "none", up)}, "routes[0].match.path_prefix"},
		{"backslash in prefix", []gateway.RouteConfig{route("bad", `/x\y/`, "none", up)}, "routes[0].match.path_prefix"},
		{"prefix under /auth/", []gateway.RouteConfig{route("bad", "/auth/x/", "none", up)}, "routes[0].match.path_prefix"},
		{"prefix /login", []gateway.RouteConfig{route("bad", "/login", "none", up)}, "routes[0].match.path_prefix"},
		{"lower-case method", []gateway.RouteConfig{withMethods(route("bad", "/x/", "none", up), "get")}, "routes[0].match.methods"},
		{"unknown forward", []gateway.RouteConfig{withForward(route("bad", "/x/", "token", up), "cookie")}, "routes[0].forward"},
		{"negative timeout", []gateway.RouteConfig{withTimeout(route("bad", "/x/", "none", up), -time.Second)}, "routes[0].timeout"},
		{"shadowing prefix", []gateway.RouteConfig{route("good", "/x", "none", up), route("bad", "/x/", "token", up)}, "routes[1].match"},
		{"shadowing method", []gateway.RouteConfig{withMethods(route("good", "/x/", "none", up), "GET"), withMethods(route("bad", "/x/", "token", up), "POST", "GET")}, "routes[1].match"},
		{"duplicate name", []gateway.RouteConfig{route("bad", "/x/", "none", up), route("bad", "/y/", "none", up)}, "routes[1].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gateway.Compile(tt.routes)
			if !errors.Is(err, gateway.ErrInvalidRoute) {
				t.Fatalf("Compile error = %v, want ErrInvalidRoute", err)
			}
			var re *gateway.RouteError
			if !errors.As(err, &re) {
				t.Fatalf("error %v holds no *RouteError", err)
			}
			if got, want := re.Key(), tt.key; got != want {
				t.Errorf("key = %q, want %q (error %q)", got, want, err)
			}
			if _, err := gateway.New(tt.routes, deps()); !errors.Is(err, gateway.ErrInvalidRoute) {
				t.Errorf("New error = %v, want the same verdict as Compile", err)
			}
		})
	}
}

// An upstream's credentials are refused, never echoed: the error reaches
// stderr and logs. Nor is a refused upstream's query (an API key of a
// webhook-style URL whose scheme was forgotten), which config check masks.
func TestCompileNeverPrintsUpstreamCredentials(t *testing.T) {
	for _, upstream := range []string{"http://user:s3cret@127.0.0.1:9", "http://s3cret@127.0.0.1:9", "ftp://u:s3cret@h", "http://u:s3cret@[::1",
		"ftp://h/?token=s3cret", "hooks.example.com/in?api_key=s3cret", "localhost:9000/?password=s3cret"} {
		_, err := gateway.Compile([]gateway.RouteConfig{route("a", "/a/", "none", upstream)})
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("upstream %q: error %v (want a refusal without the secret)", upstream, err)
		}
	}
}

// The most common slip, host:port without http://, is named as such: Go's
// URL parser reads "localhost:9001" as the scheme "localhost" and refuses
// "127.0.0.1:9001" outright, and neither reading helps the user. A port that
// no TCP connection can use is refused at load, not left to a 502 per request.
func TestCompileExplainsABadUpstream(t *testing.T) {
	tests := []struct {
		upstream, want string
	}{
		{"127.0.0.1:9001", "it has no scheme"},
		{"localhost:9001", "it has no scheme"},
		{"orders.internal:8080/v1/", "it has no scheme"},
		{"[::1]:9001", "it has no scheme"},
		{"localhost:9000/?password=s3cret", "it has no scheme"},
		{"ftp://h/", `its scheme is "ftp"`},
		{"mailto:ops", `its scheme is "mailto"`},
		{"http://127.0.0.1:99999", "its port is not between 1 and 65535"},
		{"http://127.0.0.1:0/", "its port is not between 1 and 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.upstream, func(t *testing.T) {
			_, err := gateway.Compile([]gateway.RouteConfig{route("a", "/a/", "none", tt.upstream)})
			var re *gateway.RouteError
			if !errors.As(err, &re) || re.Key() != "routes[0].upstream" {
				t.Fatalf("Compile(%q) error = %v, want a routes[0].upstream error", tt.upstream, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestCompileReportsEveryProblem(t *testing.T) {
	_, err := gateway.Compile([]gateway.RouteConfig{
		route("a", "/a/", "maybe", "http://127.0.0.1:1"),
		route("b", "b/", "none", "ftp://x"),
	})
	for _, key := range []string{"routes[0].auth", "routes[1].match.path_prefix", "routes[1].upstream"} {
		if err == nil || !strings.Contains(err.Error(), key+":") {
			t.Errorf("error %v does not report %s", err, key)
		}
	}
}

func TestNewRefusesRoutesWithoutTheirDependencies(t *testing.T) {
	const up = "http://127.0.0.1:9001"
	withForward := func(r gateway.RouteConfig, f string) gateway.RouteConfig { r.Forward = f; return r }
	tests := []struct {
		name   string
		routes []gateway.RouteConfig
		deps   gateway.Deps
	}{
		{"session without authenticator", []gateway.RouteConfig{route("bad", "/x/", "session", up)}, gateway.Deps{CookieName: "c"}},
		{"token without verifier", []gateway.RouteConfig{route("bad", "/x/", "any", up)}, gateway.Deps{Sessions: fakeSessions{}, CookieName: "c"}},
		{"jwt without issuer", []gateway.RouteConfig{withForward(route("bad", "/x/", "token", up), "jwt")}, gateway.Deps{Tokens: fakeTokens{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gateway.New(tt.routes, tt.deps)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), `"bad"`) {
				t.Errorf("error %q does not name the route", err)
			}
		})
	}
}

// TestGETRouteServesHEAD: HEAD is GET without the body (RFC 9110 section
// 9.3.2), so a route listing GET takes HEAD too, and a HEAD-only route
// beside it at the same prefix would never be reached.
func TestGETRouteServesHEAD(t *testing.T) {
	const up = "http://127.0.0.1:9001"
	read, write := route("read", "/x/", "none", up), route("write", "/x/", "token", up)
	read.Match.Methods, write.Match.Methods = []string{"GET"}, []string{"POST"}
	g, err := gateway.New([]config.Route{read, write}, deps())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	if rt, ok := g.Match("HEAD", "/x/1"); !ok || rt.Name != "read" {
		t.Errorf("Match(HEAD) = %v, %v; want read", rt, ok)
	}
	if _, ok := g.Match("DELETE", "/x/1"); ok {
		t.Error("Match(DELETE) found a route; want none")
	}
	head := route("head", "/x/", "token", up)
	head.Match.Methods = []string{"HEAD"}
	if _, err := gateway.New([]config.Route{read, head}, deps()); err == nil {
		t.Error("a HEAD route behind a GET route at the same prefix was accepted; want the shadowing error")
	}
}

func TestNewAcceptsSameprefixWithDisjointMethods(t *testing.T) {
	const up = "http://127.0.0.1:9001"
	read, write := route("read", "/x/", "none", up), route("write", "/x/", "token", up)
	read.Match.Methods, write.Match.Methods = []string{"GET", "HEAD"}, []string{"POST"}
	g, err := gateway.New([]config.Route{read, write}, deps())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	for method, want := range map[string]string{"GET": "read", "POST": "write"} {
		if rt, ok := g.Match(method, "/x/1"); !ok || rt.Name != want {
			t.Errorf("Match(%s) = %v, %v; want %s", method, rt, ok, want)
		}
	}
}

// TestCompileAppliesTheContractDefaults: a route that sets only name,
// match, upstream and auth runs with the defaults of contract §5 — no
// roles (any authenticated user), strip_prefix false, forward headers and a
// 30 s upstream timeout — not only in what config check prints
// (config.TestMaskedShowsRouteDefaults) but in the compiled route the
// proxy uses.
func TestCompileAppliesTheContractDefaults(t *testing.T) {
	routes, err := gateway.Compile([]config.Route{route("orders", "/api/orders/", "token", "http://127.0.0.1:9001")})
	if err != nil {
		t.Fatal(err)
	}
	rt := routes[0]
	if got, want := rt.Upstream.Timeout, 30*time.Second; got != want {
		t.Errorf("timeout = %s, want %s", got, want)
	}
	if got, want := rt.Policy.Forward, gateway.ForwardHeaders; got != want {
		t.Errorf("forward = %q, want %q", got, want)
	}
	if rt.Upstream.StripPrefix {
		t.Error("strip_prefix = true, want false")
	}
	if len(rt.Policy.Roles) != 0 || len(rt.Match.Methods) != 0 {
		t.Errorf("roles = %q, methods = %q, want none of either", rt.Policy.Roles, rt.Match.Methods)
	}
}
