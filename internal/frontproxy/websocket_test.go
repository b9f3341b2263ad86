package frontproxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/frontproxy"
)

// handshake sends a browser's WebSocket handshake for target to addr, with
// the session cookie and the Origin and Sec-Fetch-Site of the page that
// opened it, and returns the response status.
func handshake(t *testing.T, addr, target, cookie, origin, site string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Origin: " + origin + "\r\nSec-Fetch-Site: " + site + "\r\nSec-Fetch-Mode: websocket\r\nSec-Fetch-Dest: empty\r\n" +
		"Cookie: " + cookie + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCrossSiteWebSocketThroughRealProxies: a page on another site opens a
// WebSocket to a session route through nginx and Caddy (the snippets of
// docs/forward-auth.md). The browser sends the victim's session cookie
// with it, and a handshake is a GET, so the answer must come from the
// origin check: the application never sees the handshake (contract §3/§5,
// cross-site WebSocket hijacking). nginx's auth_request subrequest (and
// Traefik's ForwardAuth request) drop the hop-by-hop Upgrade header, so
// gatehouse has to recognise the handshake by its Sec-WebSocket-* headers.
// A same-origin handshake still reaches the application with the identity.
func TestCrossSiteWebSocketThroughRealProxies(t *testing.T) {
	g, a := setup(t)
	gatehouse := strings.TrimPrefix(g.URL, "http://")
	appAddr := strings.TrimPrefix(a.URL, "http://")
	rootSession := session(t, g, "root")
	for _, name := range []string{frontproxy.Nginx, frontproxy.Caddy} {
		t.Run(name, func(t *testing.T) {
			p := startProxy(t, name, gatehouse, appAddr)
			t.Run("cross-site", func(t *testing.T) {
				n := a.Count()
				status := handshake(t, p.addr, "/app/ws", rootSession, "https://evil.example", "cross-site")
				if got := a.Since(n); len(got) > 0 {
					t.Errorf("the cross-site handshake reached the application (status %d) with X-Auth-User %q",
						status, got[0].Header.Get("X-Auth-User"))
				}
				if status != http.StatusForbidden {
					t.Errorf("status = %d, want 403", status)
				}
			})
			t.Run("same-origin", func(t *testing.T) {
				n := a.Count()
				handshake(t, p.addr, "/app/ws", rootSession, "http://"+p.addr, "same-origin")
				got := a.Since(n)
				if len(got) != 1 || got[0].Header.Get("X-Auth-User") != "root" {
					t.Fatalf("application got %d requests, want 1 as root", len(got))
				}
			})
		})
	}
}
