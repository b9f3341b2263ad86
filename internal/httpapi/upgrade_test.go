package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// A WebSocket handshake through a session route is logged and counted
// with the 101 the client received: ReverseProxy writes the upstream's 101
// on the hijacked connection, past the response writer, which used to
// leave the request line and gatehouse_http_requests_total at 200.
func TestWebSocketUpgradeIsLoggedAs101(t *testing.T) {
	echo := httptest.NewServer(websocket.Handler(func(ws *websocket.Conn) {
		_ = websocket.Message.Send(ws, "hello "+ws.Request().Header.Get("X-Auth-User"))
		_, _ = io.Copy(ws, ws)
	}))
	t.Cleanup(echo.Close)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Routes = []config.Route{{Name: "ws", Match: config.RouteMatch{PathPrefix: "/ws/"}, Upstream: echo.URL, Auth: "session"}}
	}))
	g.CreateUser(t, "alice", strongPassword)
	resp, _ := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword)
	cookie := sessionCookie(t, resp, "gatehouse")

	cfg, err := websocket.NewConfig("ws"+strings.TrimPrefix(g.URL, "http")+"/ws/echo", g.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Header.Set("Cookie", cookie.Name+"="+cookie.Value)
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_ = ws.SetDeadline(time.Now().Add(10 * time.Second))
	var greeting string
	if err := websocket.Message.Receive(ws, &greeting); err != nil || greeting != "hello alice" {
		t.Fatalf("greeting = %q, %v; want hello alice", greeting, err)
	}
	ws.Close()

	// The line is written when the proxied connection ends.
	var line map[string]any
	logged := clocktest.Within(10*time.Second, func() bool {
		for _, l := range strings.Split(g.Logs(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" && m["path"] == "/ws/echo" {
				line = m
				return true
			}
		}
		return false
	})
	if !logged {
		t.Fatalf("no request line for /ws/echo in %s", g.Logs())
	}
	if line["status"] != float64(101) || line["route"] != "gateway:ws" {
		t.Errorf("request line = %v, want status 101 on route gateway:ws", line)
	}
	admin := httptest.NewServer(g.App.AdminHandler())
	t.Cleanup(admin.Close)
	_, body := do(t, testutil.Client(t), "GET", admin.URL+"/metrics", "")
	if want := `gatehouse_http_requests_total{code="101",route="gateway:ws"} 1`; !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
