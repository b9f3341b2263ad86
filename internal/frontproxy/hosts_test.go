package frontproxy_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/frontproxy"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestForwardAuthTwoServerNames: one nginx (or Caddy) in front of two
// server names, the same path on both, two policies (issue 18). The host
// gatehouse judges is the one the proxy sets ($host for nginx,
// X-Forwarded-Host for Caddy), never one the client sends.
func TestForwardAuthTwoServerNames(t *testing.T) {
	g, a := startTwoServerNames(t)
	g.CreateUser(t, "alice", password, "user")
	g.CreateUser(t, "root", password, "admin", "user")
	alice, root := bearer(t, g, "alice"), bearer(t, g, "root")
	gatehouse, appAddr := strings.TrimPrefix(g.URL, "http://"), strings.TrimPrefix(a.URL, "http://")

	for _, name := range []string{frontproxy.Nginx, frontproxy.Caddy} {
		t.Run(name, func(t *testing.T) {
			// Caddy's site answers every Host on its port (nginx's only
			// server answers every Host anyway).
			p := startProxyFor(t, name, gatehouse, appAddr, func(p *frontproxy.Params) {
				p.Site = "http://:" + p.Listen[strings.LastIndexByte(p.Listen, ':')+1:]
			})
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			send := func(host string, header ...string) (*http.Response, []testutil.Seen) {
				t.Helper()
				n := a.Count()
				req, _ := http.NewRequest("GET", "http://"+p.addr+"/docs/x?a=1", nil)
				req.Host = host
				for i := 0; i+1 < len(header); i += 2 {
					req.Header.Add(header[i], header[i+1])
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp, a.Since(n)
			}
			tests := []struct {
				name   string
				host   string
				header []string
				status int    // 0: any refusal
				user   string // X-Auth-User at the application when allowed
			}{
				{"www: public", "www.example.test", nil, 200, ""},
				{"admin: same path, no credential", "admin.example.test", nil, 401, ""},
				{"admin: user token", "admin.example.test", []string{"Authorization", alice}, 403, ""},
				{"admin: admin token", "admin.example.test", []string{"Authorization", root}, 200, "root"},
				{"admin: upper case", "ADMIN.Example.Test", nil, 401, ""},
				{"admin: client names the public host", "admin.example.test",
					[]string{"X-Forwarded-Host", "www.example.test", "X-Original-URL", "http://www.example.test/docs/x"}, 401, ""},
				{"a host no route names", "other.example.test", nil, 0, ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, seen := send(tt.host, tt.header...)
					switch {
					case tt.status == 200:
						if resp.StatusCode != 200 || len(seen) != 1 {
							t.Fatalf("status %d, application saw %d requests; want 200 and 1", resp.StatusCode, len(seen))
						}
						if got := seen[0].Header.Get("X-Auth-User"); got != tt.user {
							t.Errorf("X-Auth-User = %q, want %q", got, tt.user)
						}
					case len(seen) > 0:
						t.Errorf("refused request reached the application (status %d)", resp.StatusCode)
					case tt.status != 0 && resp.StatusCode != tt.status:
						t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
					case resp.StatusCode < 300:
						t.Errorf("status = %d, want a refusal", resp.StatusCode)
					}
				})
			}
			t.Run("browser returns to its host after login", func(t *testing.T) {
				resp, _ := send("admin.example.test", "Accept", "text/html")
				// nginx names the port it listens on (not 80 here); Caddy
				// passes the client's Host on, which has none.
				host := "admin.example.test"
				if name == frontproxy.Nginx {
					host += p.addr[strings.LastIndexByte(p.addr, ':'):]
				}
				want := publicURL + "/login?next=" + url.QueryEscape("http://"+host+"/docs/x?a=1")
				if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || got != want {
					t.Errorf("= %d Location %q, want 302 %q", resp.StatusCode, got, want)
				}
			})
		})
	}
}

// TestForwardAuthOriginalURLFromClientHost runs nginx configured as the
// snippet's migration note warns against: X-Original-URL built from the
// client's own Host ($http_host) and no "proxy_set_header Host $host" on
// the subrequest. nginx before 1.29.4 accepts "?", "#", "\" and "@" in a
// Host header, so the client spells the URL gatehouse reads; whatever it
// spells, the host judged is either the one it names in full or the request
// is refused. "www.example.test#.admin.example.test" was judged as
// www.example.test and sent on to the application, where a wildcard
// server_name or virtual host for *.admin.example.test would serve it.
func TestForwardAuthOriginalURLFromClientHost(t *testing.T) {
	g, a := startTwoServerNames(t)
	gatehouse, appAddr := strings.TrimPrefix(g.URL, "http://"), strings.TrimPrefix(a.URL, "http://")
	p := startProxyEdited(t, frontproxy.Nginx, gatehouse, appAddr, nil, func(conf string) string {
		for _, r := range [][2]string{
			{"proxy_set_header Host $host$gatehouse_port;\n        proxy_set_header X-Original-Method", "proxy_set_header X-Original-Method"},
			{"X-Original-URL $scheme://$host$gatehouse_port$request_uri", "X-Original-URL $scheme://$http_host$request_uri"},
		} {
			if strings.Count(conf, r[0]) != 1 {
				t.Fatalf("the nginx template no longer has %q once", r[0])
			}
			conf = strings.Replace(conf, r[0], r[1], 1)
		}
		return conf
	})
	// The Host header goes on the wire as written: Go's client refuses to
	// send these.
	send := func(t *testing.T, host string) (int, []testutil.Seen) {
		t.Helper()
		n := a.Count()
		status := rawStatus(t, p.addr, "GET /docs/x HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
		return status, a.Since(n)
	}
	// The application here is a Go server, which itself answers 400 to a
	// Host with these characters: what tells an allow from a refusal is
	// nginx's answer, 500 for gatehouse's 400 (401 passes through).
	tests := []struct {
		name, host string
		status     int
	}{
		{"public host", "www.example.test", http.StatusOK},
		{"admin host, no credential", "admin.example.test", http.StatusUnauthorized},
		{"query after the public host", "www.example.test?.admin.example.test", http.StatusInternalServerError},
		{"fragment after the public host", "www.example.test#.admin.example.test", http.StatusInternalServerError},
		{"backslash after the public host", `www.example.test\.admin.example.test`, http.StatusInternalServerError},
		{"public host as userinfo", "admin.example.test@www.example.test", http.StatusInternalServerError},
		{"admin host as userinfo", "www.example.test@admin.example.test", http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, seen := send(t, tt.host)
			if status != tt.status {
				t.Errorf("status = %d, want %d", status, tt.status)
			}
			if want := tt.status == http.StatusOK; (len(seen) > 0) != want {
				t.Errorf("application saw %d requests, want it to see the request: %v", len(seen), want)
			}
		})
	}
}

// startTwoServerNames starts an application and a gatehouse with the same
// path on two server names under two policies: public on
// www.example.test, admins only on admin.example.test.
func startTwoServerNames(t *testing.T) (*testutil.Instance, *testutil.Upstream) {
	t.Helper()
	a := testutil.StartUpstream(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.PublicURL = publicURL
		c.Routes = []config.Route{
			{Name: "docs-www", Match: config.RouteMatch{Host: "www.example.test", PathPrefix: "/docs/"}, Upstream: a.URL, Auth: "none"},
			{Name: "docs-admin", Match: config.RouteMatch{Host: "admin.example.test", PathPrefix: "/docs/"}, Upstream: a.URL, Auth: "any", Roles: []string{"admin"}},
		}
	}))
	return g, a
}
