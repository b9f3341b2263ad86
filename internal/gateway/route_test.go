package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
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

func TestNewRefusesBadRoutesNamingThem(t *testing.T) {
	const up = "http://127.0.0.1:9001"
	withMethods := func(r config.Route, m ...string) config.Route { r.Match.Methods = m; return r }
	withForward := func(r config.Route, f string) config.Route { r.Forward = f; return r }
	tests := []struct {
		name   string
		routes []config.Route
		deps   gateway.Deps
	}{
		{"unknown auth", []config.Route{route("bad", "/x/", "basic", up)}, deps()},
		{"empty auth", []config.Route{route("bad", "/x/", "", up)}, deps()},
		{"roles without auth", []config.Route{route("bad", "/x/", "none", up, "admin")}, deps()},
		{"relative upstream", []config.Route{route("bad", "/x/", "none", "/elsewhere")}, deps()},
		{"upstream with credentials", []config.Route{route("bad", "/x/", "none", "http://u:p@h/")}, deps()},
		{"unclean prefix", []config.Route{route("bad", "/x/../y/", "none", up)}, deps()},
		{"encoded prefix", []config.Route{route("bad", "/%78/", "none", up)}, deps()},
		{"relative prefix", []config.Route{route("bad", "x/", "none", up)}, deps()},
		{"lower-case method", []config.Route{withMethods(route("bad", "/x/", "none", up), "get")}, deps()},
		{"unknown forward", []config.Route{withForward(route("bad", "/x/", "token", up), "cookie")}, deps()},
		{"shadowing prefix", []config.Route{route("good", "/x", "none", up), route("bad", "/x/", "token", up)}, deps()},
		{"duplicate name", []config.Route{route("bad", "/x/", "none", up), route("bad", "/y/", "none", up)}, deps()},
		{"session without authenticator", []config.Route{route("bad", "/x/", "session", up)}, gateway.Deps{CookieName: "c"}},
		{"token without verifier", []config.Route{route("bad", "/x/", "any", up)}, gateway.Deps{Sessions: fakeSessions{}, CookieName: "c"}},
		{"jwt without issuer", []config.Route{withForward(route("bad", "/x/", "token", up), "jwt")}, gateway.Deps{Tokens: fakeTokens{}}},
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
