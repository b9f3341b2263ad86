package frontproxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/frontproxy"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// startPortSite starts an application and a gatehouse with a session route
// on every host (/app/) and the same path under two policies on two hosts
// (/docs/: public on www.example.test, admins on admin.example.test), with
// the user alice.
func startPortSite(t *testing.T) (*testutil.Instance, *testutil.Upstream) {
	t.Helper()
	a := testutil.StartUpstream(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.PublicURL = publicURL
		c.Routes = []config.Route{
			{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: a.URL, Auth: "session"},
			{Name: "docs-www", Match: config.RouteMatch{Host: "www.example.test", PathPrefix: "/docs/"}, Upstream: a.URL, Auth: "none"},
			{Name: "docs-admin", Match: config.RouteMatch{Host: "admin.example.test", PathPrefix: "/docs/"}, Upstream: a.URL, Auth: "any", Roles: []string{"admin"}},
		}
	}))
	g.CreateUser(t, "alice", password, "user")
	return g, a
}

// postFrom sends a POST to the proxy at addr as a browser without fetch
// metadata (Safari before 16.4) does: Host is host, Origin is origin and no
// Sec-Fetch-Site. It returns the response, body closed.
func postFrom(t *testing.T, addr, host, origin, path string, form url.Values, cookie string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestProxyKeepsTheListeningPort: a proxy on a port other than its
// scheme's default describes the request to gatehouse (Host of its own
// pages, the verify subrequest's Host and X-Original-URL or
// X-Forwarded-Host) and to the application (Host, X-Forwarded-Host) with
// that port. nginx's snippet sent $host, which has none: gatehouse saw
// "host" where the browser's Origin says "http://host:port", so a browser
// that sends Origin without Sec-Fetch-Site (Safari before 16.4) got 403 on
// the login form and on every POST to a session route, and the login
// redirect's next lost the port. nginx's port comes from its own socket
// ($server_port), never from the client's Host header: a request line with
// an absolute URI is still judged by the host the proxy serves it for.
// Caddy passes the request's own host[:port] on, and always did.
func TestProxyKeepsTheListeningPort(t *testing.T) {
	g, a := startPortSite(t)
	gatehouse, appAddr := strings.TrimPrefix(g.URL, "http://"), strings.TrimPrefix(a.URL, "http://")
	cookie := session(t, g, "alice")
	for _, name := range []string{frontproxy.Nginx, frontproxy.Caddy} {
		t.Run(name, func(t *testing.T) {
			p := startProxyFor(t, name, gatehouse, appAddr, func(p *frontproxy.Params) {
				p.Site = "http://:" + p.Listen[strings.LastIndexByte(p.Listen, ':')+1:] // every host
			})
			port := p.addr[strings.LastIndexByte(p.addr, ':')+1:]
			self := "http://" + p.addr // the origin of a page the proxy served

			t.Run("login form, Origin with the port, no Sec-Fetch-Site", func(t *testing.T) {
				resp := postFrom(t, p.addr, p.addr, self, "/auth/login", url.Values{"username": {"alice"}, "password": {password}}, "")
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
					t.Fatalf("= %d Location %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
				}
				if !hasCookie(resp, "gatehouse") {
					t.Error("no session cookie set")
				}
			})
			t.Run("login form from another origin", func(t *testing.T) {
				resp := postFrom(t, p.addr, p.addr, "http://evil.example", "/auth/login", url.Values{"username": {"alice"}, "password": {password}}, "")
				if resp.StatusCode != http.StatusForbidden || hasCookie(resp, "gatehouse") {
					t.Errorf("= %d (cookie set: %v), want 403 without a cookie", resp.StatusCode, hasCookie(resp, "gatehouse"))
				}
			})
			t.Run("session POST, Origin with the port, no Sec-Fetch-Site", func(t *testing.T) {
				n := a.Count()
				resp := postFrom(t, p.addr, p.addr, self, "/app/x", url.Values{"a": {"1"}}, cookie)
				seen := a.Since(n)
				if resp.StatusCode != http.StatusOK || len(seen) != 1 {
					t.Fatalf("= %d, application saw %d requests; want 200 and 1", resp.StatusCode, len(seen))
				}
				// The application builds its own URLs and origin checks from these.
				if got := seen[0].Host; got != p.addr {
					t.Errorf("application got Host %q, want %q", got, p.addr)
				}
				if got := seen[0].Header.Values("X-Forwarded-Host"); len(got) != 1 || got[0] != p.addr {
					t.Errorf("application got X-Forwarded-Host %q, want %q", got, p.addr)
				}
			})
			t.Run("session POST from another port", func(t *testing.T) {
				n := a.Count()
				resp := postFrom(t, p.addr, p.addr, "http://127.0.0.1:1", "/app/x", url.Values{"a": {"1"}}, cookie)
				if resp.StatusCode != http.StatusForbidden || a.Count() != n {
					t.Errorf("= %d, application called: %v; want 403 and not called", resp.StatusCode, a.Count() != n)
				}
			})
			t.Run("login redirect keeps the port", func(t *testing.T) {
				resp, _ := testutil.RawRequest(t, p.addr, "GET", "/docs/x?a=1", "Host", "admin.example.test:"+port, "Accept", "text/html")
				want := publicURL + "/login?next=" + url.QueryEscape("http://admin.example.test:"+port+"/docs/x?a=1")
				if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || got != want {
					t.Errorf("= %d Location %q, want 302 %q", resp.StatusCode, got, want)
				}
			})
			// The request line's absolute URI names the host the proxy
			// serves the request for (nginx's $host, Go's Request.Host);
			// the Host header does not count, and must not for gatehouse.
			for _, tt := range []struct{ name, target, host string }{
				{"absolute URI names the protected host", "http://admin.example.test/docs/x", "www.example.test"},
				{"absolute URI with a port names the protected host", "http://admin.example.test:" + port + "/docs/x", "www.example.test:" + port},
			} {
				t.Run(tt.name, func(t *testing.T) {
					n := a.Count()
					status := rawStatus(t, p.addr, "GET "+tt.target+" HTTP/1.1\r\nHost: "+tt.host+"\r\nConnection: close\r\n\r\n")
					if status != http.StatusUnauthorized || a.Count() != n {
						t.Errorf("= %d, application called: %v; want 401 and not called", status, a.Count() != n)
					}
				})
			}
			if name != frontproxy.Nginx {
				return
			}
			t.Run("the port is nginx's, not the client's", func(t *testing.T) {
				resp, _ := testutil.RawRequest(t, p.addr, "GET", "/docs/x?a=1", "Host", "admin.example.test:1", "Accept", "text/html")
				want := publicURL + "/login?next=" + url.QueryEscape("http://admin.example.test:"+port+"/docs/x?a=1")
				if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || got != want {
					t.Errorf("= %d Location %q, want 302 %q", resp.StatusCode, got, want)
				}
				n := a.Count()
				status := rawStatus(t, p.addr, "GET http://www.example.test/docs/x HTTP/1.1\r\nHost: admin.example.test:1\r\nConnection: close\r\n\r\n")
				seen := a.Since(n)
				if status != http.StatusOK || len(seen) != 1 {
					t.Fatalf("= %d, application saw %d requests; want 200 and 1", status, len(seen))
				}
				if got, want := seen[0].Host, "www.example.test:"+port; got != want {
					t.Errorf("application got Host %q, want %q", got, want)
				}
			})
		})
	}
}

// TestNginxDefaultPortSendsNoPort: on its scheme's default port nginx
// names the host without a port, as browsers write Origin and as
// net/http's CrossOriginProtection compares it with Host (exactly, so
// "host:80" would refuse "http://host"). The test cannot listen on port 80:
// it gives the map's "http:80" entry the port it listens on instead.
func TestNginxDefaultPortSendsNoPort(t *testing.T) {
	g, a := startPortSite(t)
	gatehouse, appAddr := strings.TrimPrefix(g.URL, "http://"), strings.TrimPrefix(a.URL, "http://")
	var port string
	p := startProxyEdited(t, frontproxy.Nginx, gatehouse, appAddr, func(p *frontproxy.Params) {
		port = p.Listen[strings.LastIndexByte(p.Listen, ':')+1:]
	}, func(conf string) string {
		const entry = `"http:80"`
		if strings.Count(conf, entry) != 1 {
			t.Fatalf("the nginx template no longer has %s once", entry)
		}
		return strings.Replace(conf, entry, `"http:`+port+`"`, 1)
	})

	t.Run("login form, Origin without a port", func(t *testing.T) {
		resp := postFrom(t, p.addr, "127.0.0.1", "http://127.0.0.1", "/auth/login", url.Values{"username": {"alice"}, "password": {password}}, "")
		if resp.StatusCode != http.StatusSeeOther || !hasCookie(resp, "gatehouse") {
			t.Errorf("= %d (cookie set: %v), want 303 with a cookie", resp.StatusCode, hasCookie(resp, "gatehouse"))
		}
	})
	cookie := session(t, g, "alice")
	t.Run("session POST, Origin without a port", func(t *testing.T) {
		n := a.Count()
		resp := postFrom(t, p.addr, "127.0.0.1", "http://127.0.0.1", "/app/x", url.Values{"a": {"1"}}, cookie)
		seen := a.Since(n)
		if resp.StatusCode != http.StatusOK || len(seen) != 1 {
			t.Fatalf("= %d, application saw %d requests; want 200 and 1", resp.StatusCode, len(seen))
		}
		if got := seen[0].Host; got != "127.0.0.1" {
			t.Errorf("application got Host %q, want 127.0.0.1", got)
		}
	})
	t.Run("login redirect without a port", func(t *testing.T) {
		resp, _ := testutil.RawRequest(t, p.addr, "GET", "/docs/x", "Host", "admin.example.test", "Accept", "text/html")
		want := publicURL + "/login?next=" + url.QueryEscape("http://admin.example.test/docs/x")
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || got != want {
			t.Errorf("= %d Location %q, want 302 %q", resp.StatusCode, got, want)
		}
	})
}

func hasCookie(resp *http.Response, name string) bool {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.Value != "" {
			return true
		}
	}
	return false
}

// rawStatus writes request to addr as it is and returns the status.
func rawStatus(t *testing.T, addr, request string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestNginxUnixSocketSendsNoPort: a Unix socket has no port ($server_port
// is empty), so nginx behind another proxy on one names the host without
// a port, not as "host:", which is no host gatehouse accepts.
func TestNginxUnixSocketSendsNoPort(t *testing.T) {
	g, a := startPortSite(t)
	gatehouse, appAddr := strings.TrimPrefix(g.URL, "http://"), strings.TrimPrefix(a.URL, "http://")
	sock := filepath.Join(t.TempDir(), "nginx.sock")
	startProxyFor(t, frontproxy.Nginx, gatehouse, appAddr, func(p *frontproxy.Params) {
		p.Listen += ";\n    listen unix:" + sock // and the TCP address the harness waits for
	})
	client := &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(client.CloseIdleConnections)
	n := a.Count()
	req, _ := http.NewRequest("POST", "http://www.example.test/docs/x", strings.NewReader("a=1"))
	req.Header.Set("Origin", "http://www.example.test")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	seen := a.Since(n)
	if resp.StatusCode != http.StatusOK || len(seen) != 1 {
		t.Fatalf("= %d, application saw %d requests; want 200 and 1", resp.StatusCode, len(seen))
	}
	if got := seen[0].Host; got != "www.example.test" {
		t.Errorf("application got Host %q, want www.example.test", got)
	}
}
