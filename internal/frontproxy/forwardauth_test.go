package frontproxy_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/frontproxy"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

const (
	publicURL = "http://app.example.test" // what browsers are sent to; never contacted
	password  = "correct horse battery staple 11"
)

// setup starts gatehouse with the routes the attacks aim at, and the
// application behind the proxies.
//
//	/public/  auth none
//	/app/     any authenticated user
//	/admin/   role admin
//	/orders/  GET: role user, POST: role admin
func setup(t *testing.T) (*testutil.Instance, *testutil.Upstream) {
	t.Helper()
	a := testutil.StartUpstream(t)
	r := func(name, prefix, auth string, methods []string, roles ...string) config.Route {
		return config.Route{Name: name, Match: config.RouteMatch{PathPrefix: prefix, Methods: methods},
			Upstream: a.URL, Auth: auth, Roles: roles}
	}
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.PublicURL = publicURL
		c.Routes = []config.Route{
			r("public", "/public/", "none", nil),
			r("app", "/app/", "any", nil),
			r("admin", "/admin/", "any", nil, "admin"),
			r("orders-read", "/orders/", "any", []string{"GET"}, "user"),
			r("orders-write", "/orders/", "any", []string{"POST"}, "admin"),
		}
	}))
	g.CreateUser(t, "alice", password, "user")
	g.CreateUser(t, "root", password, "admin", "user")
	return g, a
}

// bearer gets an access token with the password grant.
func bearer(t *testing.T, g *testutil.Instance, user string) string {
	t.Helper()
	resp, err := http.PostForm(g.URL+"/auth/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(testutil.ReadBody(t, resp)), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token for %s: status %d, %v", user, resp.StatusCode, err)
	}
	return "Bearer " + tok.AccessToken
}

// session logs in and returns the session cookie as name=value.
func session(t *testing.T, g *testutil.Instance, user string) string {
	t.Helper()
	body := `{"username":"` + user + `","password":"` + password + `"}`
	resp, err := http.Post(g.URL+"/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	testutil.ReadBody(t, resp)
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("login %s: status %d, no gatehouse cookie", user, resp.StatusCode)
	return ""
}

// TestForwardAuthBehindRealProxies sends the attacks of issue 11 finding 1
// from a client through real nginx and Caddy, configured with exactly the
// snippets of docs/forward-auth.md, and checks what the application behind
// them receives.
func TestForwardAuthBehindRealProxies(t *testing.T) {
	g, a := setup(t)
	gatehouse := strings.TrimPrefix(g.URL, "http://")
	appAddr := strings.TrimPrefix(a.URL, "http://")
	alice, root := bearer(t, g, "alice"), bearer(t, g, "root")
	rootSession := session(t, g, "root")

	for _, name := range []string{frontproxy.Nginx, frontproxy.Caddy} {
		t.Run(name, func(t *testing.T) {
			p := startProxy(t, name, gatehouse, appAddr)

			// denied: the request must not reach the application at all.
			denied := []struct {
				name, method, target string
				header               []string
				status               int // 0: any status that is not 2xx
			}{
				{"forward headers name a public path", "GET", "/admin/secret",
					[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/public/x", "X-Forwarded-Host", "localhost", "X-Forwarded-Proto", "http"}, 401},
				{"original headers name a public path", "GET", "/admin/secret",
					[]string{"X-Original-Method", "GET", "X-Original-URI", "/public/x"}, 401},
				{"both families name a public path", "GET", "/admin/secret",
					[]string{"X-Original-Method", "GET", "X-Original-URI", "/public/x", "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/public/x"}, 401},
				{"POST smuggled as GET (forward headers)", "POST", "/orders/1",
					[]string{"Authorization", alice, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/orders/1"}, 403},
				{"POST smuggled as GET (original headers)", "POST", "/orders/1",
					[]string{"Authorization", alice, "X-Original-Method", "GET", "X-Original-URI", "/orders/1"}, 403},
				{"duplicate forward headers", "GET", "/admin/secret",
					[]string{"X-Forwarded-Uri", "/public/x", "X-Forwarded-Uri", "/public/y", "X-Forwarded-Method", "GET", "X-Forwarded-Method", "GET"}, 401},
				{"duplicate original headers", "GET", "/admin/secret",
					[]string{"X-Original-URI", "/public/x", "X-Original-URI", "/public/y", "X-Original-Method", "GET", "X-Original-Method", "GET"}, 401},
				{"dot segments", "GET", "/admin/../app/x", []string{"Authorization", alice}, 0},
				{"dot segments after an empty one", "GET", "/admin//../app/x", []string{"Authorization", alice}, 0},
				{"encoded slash", "GET", "/app/..%2fadmin", []string{"Authorization", alice}, 0},
				{"empty first segment", "GET", "//admin", []string{"Authorization", alice}, 0},
				{"encoded dot segment", "GET", "/app/%2e%2e/admin", []string{"Authorization", alice}, 0},
				{"semicolon and dot segments", "GET", "/app/x;/../../admin", []string{"Authorization", alice}, 0},
				{"semicolon segment", "GET", "/admin;/x", []string{"Authorization", alice}, 0},
				{"dot segments, anonymous, to a public path", "GET", "/admin/../public/x", nil, 0},
				{"no credentials", "GET", "/app/x", nil, 401},
				{"wrong role", "GET", "/admin/x", []string{"Authorization", alice}, 403},
			}
			for _, tt := range denied {
				t.Run(tt.name, func(t *testing.T) {
					n := a.Count()
					resp, body := testutil.RawRequest(t, p.addr, tt.method, tt.target, tt.header...)
					if got := a.Since(n); len(got) > 0 {
						t.Errorf("%s %s reached the application as %s %q with X-Auth-User %q",
							tt.method, tt.target, got[0].Method, got[0].RequestURI, got[0].Header.Get("X-Auth-User"))
					}
					if tt.status != 0 && resp.StatusCode != tt.status {
						t.Errorf("status = %d, want %d (body %q)", resp.StatusCode, tt.status, body)
					} else if resp.StatusCode < 300 {
						t.Errorf("status = %d, want a refusal (body %q)", resp.StatusCode, body)
					}
				})
			}

			// allowed: the application receives the identity gatehouse
			// decided, never the client's own X-Auth-* or Authorization.
			allowed := []struct {
				name, method, target string
				header               []string
				user, method2, roles string // X-Auth-User, X-Auth-Method, X-Auth-Roles at the application
				amr                  string // X-Auth-AMR at the application
			}{
				{"token", "GET", "/app/x?q=1", []string{"Authorization", alice, "X-Auth-User", "mallory", "X-Auth-Roles", "admin", "X-Auth-AMR", "mfa"}, "alice", "token", "user", ""},
				{"session", "GET", "/admin/x", []string{"Cookie", rootSession + "; theme=dark", "X-Auth-User", "mallory", "X-Auth-AMR", "mfa"}, "root", "session", "admin,user", "pwd"},
				{"admin POST", "POST", "/orders/1", []string{"Authorization", root}, "root", "token", "admin,user", ""},
				{"public, spoofed identity", "GET", "/public/x", []string{"X-Auth-User", "mallory", "X-Auth-Roles", "admin", "X-Auth-AMR", "mfa"}, "", "", "", ""},
			}
			for _, tt := range allowed {
				t.Run(tt.name, func(t *testing.T) {
					n := a.Count()
					resp, body := testutil.RawRequest(t, p.addr, tt.method, tt.target, tt.header...)
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("status = %d, want 200 (body %q)", resp.StatusCode, body)
					}
					got := a.Since(n)
					if len(got) != 1 {
						t.Fatalf("application received %d requests, want 1", len(got))
					}
					s := got[0]
					if s.Method != tt.method || s.RequestURI != tt.target {
						t.Errorf("application got %s %q, want %s %q", s.Method, s.RequestURI, tt.method, tt.target)
					}
					for k, want := range map[string]string{"X-Auth-User": tt.user, "X-Auth-Method": tt.method2, "X-Auth-Roles": tt.roles, "X-Auth-Amr": tt.amr, "Authorization": ""} {
						if v := s.Header.Values(k); len(v) > 1 || strings.Join(v, "") != want {
							t.Errorf("application got %s %q, want %q", k, v, want)
						}
					}
					if strings.Contains(s.Header.Get("Cookie"), "gatehouse=") {
						t.Errorf("application got the session cookie: %q", s.Header.Get("Cookie"))
					}
				})
			}

			// A browser without a session goes to the login page on
			// public_url, never to gatehouse's internal address.
			t.Run("browser login redirect", func(t *testing.T) {
				n := a.Count()
				resp, _ := testutil.RawRequest(t, p.addr, "GET", "/admin/x?a=1", "Accept", "text/html")
				if got, want := resp.Header.Get("Location"), publicURL+"/login?next=%2Fadmin%2Fx%3Fa%3D1"; resp.StatusCode != http.StatusFound || got != want {
					t.Errorf("= %d Location %q, want 302 %q", resp.StatusCode, got, want)
				}
				if a.Count() != n {
					t.Error("the application was called")
				}
			})
		})
	}
}

// TestForwardAuthRefusesConnect: a CONNECT request names an authority, not
// a path. Caddy (Go's server) accepts "CONNECT host:port", describes it to
// gatehouse as X-Forwarded-Uri "/" and, on an allow, sends the CONNECT on
// to the application: behind a public catch-all route, anyone's tunnel
// request reached it, judged as a request for "/". The built-in gateway
// refuses CONNECT; forward-auth must too. (nginx refuses CONNECT itself.)
func TestForwardAuthRefusesConnect(t *testing.T) {
	a := testutil.StartUpstream(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.PublicURL = publicURL
		c.Routes = []config.Route{{Name: "site", Match: config.RouteMatch{PathPrefix: "/"}, Upstream: a.URL, Auth: "none"}}
	}))
	gatehouse, appAddr := strings.TrimPrefix(g.URL, "http://"), strings.TrimPrefix(a.URL, "http://")
	for _, name := range []string{frontproxy.Nginx, frontproxy.Caddy} {
		t.Run(name, func(t *testing.T) {
			p := startProxy(t, name, gatehouse, appAddr)
			for _, target := range []string{p.addr, "127.0.0.1:22"} {
				t.Run(target, func(t *testing.T) {
					n := a.Count()
					resp, body := testutil.RawRequest(t, p.addr, "CONNECT", target)
					if got := a.Since(n); len(got) > 0 {
						t.Errorf("CONNECT %s reached the application as %s %q", target, got[0].Method, got[0].RequestURI)
					}
					if resp.StatusCode < 300 {
						t.Errorf("status = %d, want a refusal (body %q)", resp.StatusCode, body)
					}
				})
			}
			// The catch-all still serves ordinary requests.
			if resp, body := testutil.RawRequest(t, p.addr, "GET", "/x"); resp.StatusCode != http.StatusOK {
				t.Errorf("GET /x = %d, want 200 (body %q)", resp.StatusCode, body)
			}
		})
	}
}
