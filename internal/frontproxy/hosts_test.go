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
	a := testutil.StartUpstream(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.PublicURL = publicURL
		c.Routes = []config.Route{
			{Name: "docs-www", Match: config.RouteMatch{Host: "www.example.test", PathPrefix: "/docs/"}, Upstream: a.URL, Auth: "none"},
			{Name: "docs-admin", Match: config.RouteMatch{Host: "admin.example.test", PathPrefix: "/docs/"}, Upstream: a.URL, Auth: "any", Roles: []string{"admin"}},
		}
	}))
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
				want := publicURL + "/login?next=" + url.QueryEscape("http://admin.example.test/docs/x?a=1")
				if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || got != want {
					t.Errorf("= %d Location %q, want 302 %q", resp.StatusCode, got, want)
				}
			})
		})
	}
}
