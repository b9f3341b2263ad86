package frontproxy_test

import (
	"net"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/frontproxy"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestGatehouseDownFailsClosed: when gatehouse does not answer (nothing
// listens, it drops the connection without a response, or it accepts and
// never answers), both proxies answer 5xx and the application sees
// nothing, whatever the client sends. The last case ends only because the
// snippets bound the wait (VerifyTimeout, 1 s here): Caddy's forward_auth
// would otherwise hold the request for ever.
func TestGatehouseDownFailsClosed(t *testing.T) {
	app := testutil.StartUpstream(t)
	appAddr := strings.TrimPrefix(app.URL, "http://")
	hangUp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hangUp.Close() })
	go func() {
		for {
			c, err := hangUp.Accept()
			if err != nil {
				return
			}
			_, _ = c.Read(make([]byte, 4096))
			c.Close()
		}
	}()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		var held []net.Conn // kept open, unanswered, until the test ends
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	gatehouses := map[string]string{
		"nothing listens": testutil.FreeAddr(t),
		"hangs up":        hangUp.Addr().String(),
		"never answers":   silent.Addr().String(),
	}
	for _, name := range []string{frontproxy.Nginx, frontproxy.Caddy} {
		for why, addr := range gatehouses {
			t.Run(name+" "+why, func(t *testing.T) {
				p := startProxyFor(t, name, addr, appAddr, func(p *frontproxy.Params) { p.VerifyTimeout = "1s" })
				for _, header := range [][]string{nil, {"X-Auth-User", "admin"}, {"Authorization", "Bearer x", "Accept", "text/html"}} {
					n := app.Count()
					resp, body := testutil.RawRequest(t, p.addr, "GET", "/public/x", header...)
					if got := app.Since(n); len(got) > 0 {
						t.Errorf("%q: the application got the request", header)
					}
					if resp.StatusCode < 500 {
						t.Errorf("%q: status %d, want 5xx (body %q)", header, resp.StatusCode, body)
					}
				}
			})
		}
	}
}
