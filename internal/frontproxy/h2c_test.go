package frontproxy_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"golang.org/x/net/http2/hpack"
	"golang.org/x/net/websocket"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/frontproxy"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// h2cApp is an application that serves HTTP/2 over cleartext the way Go
// programs commonly do (golang.org/x/net/http2/h2c, which accepts the
// RFC 7540 Upgrade: h2c). It records the path of every request, and
// echoes a WebSocket at /public/ws.
type h2cApp struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func startH2CApp(t *testing.T) *h2cApp {
	t.Helper()
	a := &h2cApp{}
	echo := websocket.Handler(func(ws *websocket.Conn) { _, _ = io.Copy(ws, ws) })
	a.Server = httptest.NewServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/public/ws" {
			echo.ServeHTTP(w, r)
			return
		}
		a.mu.Lock()
		a.paths = append(a.paths, r.URL.Path+" as "+r.Header.Get("X-Auth-User"))
		a.mu.Unlock()
		_, _ = io.WriteString(w, "app ok")
	}), &http2.Server{}))
	t.Cleanup(a.Close)
	return a
}

func (a *h2cApp) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.paths...)
}

// smuggleH2C asks for public through addr with Upgrade: h2c (RFC 7540
// §3.2). If the connection is switched, it sends a second request, for
// hidden, as HTTP/2 on the tunnel, and returns the status of the first
// response and whether the second was answered.
func smuggleH2C(t *testing.T, addr, public, hidden string) (int, bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = io.WriteString(conn, "GET "+public+" HTTP/1.1\r\nHost: "+addr+"\r\n"+
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body.Close()
		return resp.StatusCode, false
	}
	// The client's preface and SETTINGS, then the second request on
	// stream 3 (stream 1 is the upgraded request).
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, br)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", addr}, {":path", hidden}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return resp.StatusCode, false
		}
		if h, ok := f.(*http2.HeadersFrame); ok && h.StreamID == 3 {
			return resp.StatusCode, true
		}
	}
}

// TestH2CSmugglingThroughRealProxies: a client asks for a public path with
// Upgrade: h2c. A proxy that passes the client's Upgrade and Connection
// headers on lets an h2c application switch the connection to HTTP/2, and
// every request on it after that goes to the application without
// forward-auth (h2c smuggling): here an admin path, without credentials.
// Only WebSocket upgrades may pass, and they still do.
func TestH2CSmugglingThroughRealProxies(t *testing.T) {
	app := startH2CApp(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.PublicURL = publicURL
		c.Routes = []config.Route{
			{Name: "public", Match: config.RouteMatch{PathPrefix: "/public/"}, Upstream: app.URL, Auth: "none"},
			{Name: "admin", Match: config.RouteMatch{PathPrefix: "/admin/"}, Upstream: app.URL, Auth: "any", Roles: []string{"admin"}},
		}
	}))
	gatehouse, appAddr := strings.TrimPrefix(g.URL, "http://"), strings.TrimPrefix(app.URL, "http://")
	proxies := []struct{ name, addr string }{{"gatehouse gateway", gatehouse}}
	for _, name := range []string{frontproxy.Nginx, frontproxy.Caddy} {
		proxies = append(proxies, struct{ name, addr string }{name, startProxy(t, name, gatehouse, appAddr).addr})
	}
	for _, p := range proxies {
		t.Run(p.name, func(t *testing.T) {
			n := len(app.seen())
			status, answered := smuggleH2C(t, p.addr, "/public/x", "/admin/secret")
			if answered || status == http.StatusSwitchingProtocols {
				t.Errorf("the connection was switched to h2c (status %d); a request for /admin/secret on it answered: %v", status, answered)
			}
			for _, s := range app.seen()[n:] {
				if strings.HasPrefix(s, "/admin/") {
					t.Errorf("the application served %s", s)
				}
			}
			ws, err := websocket.Dial("ws://"+p.addr+"/public/ws", "", "http://"+p.addr)
			if err != nil {
				t.Fatalf("WebSocket: %v", err)
			}
			defer ws.Close()
			_ = ws.SetDeadline(time.Now().Add(5 * time.Second))
			var got string
			if err := websocket.Message.Send(ws, "ping"); err != nil {
				t.Fatal(err)
			}
			if err := websocket.Message.Receive(ws, &got); err != nil || got != "ping" {
				t.Errorf("WebSocket echo = %q, %v; want ping", got, err)
			}
		})
	}
}
