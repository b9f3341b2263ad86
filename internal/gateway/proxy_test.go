package gateway_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// guard bounds a test that would otherwise hang if streaming were broken.
const guard = 10 * time.Second

func TestServerSentEventsArriveIncrementally(t *testing.T) {
	next := make(chan struct{})
	sse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "data: two\n\n")
	}))
	t.Cleanup(sse.Close)
	_, srv := serve(t, []config.Route{route("events", "/events/", "token", sse.URL)}, deps())

	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	req := newRequest(t, "GET", srv.URL+"/events/", tokenCred("alice")...).WithContext(ctx)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	readEvent := func() string {
		t.Helper()
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v", err)
		}
		_, _ = br.ReadString('\n') // the blank line ending the event
		return strings.TrimSpace(line)
	}
	// The upstream sends "two" only after we have read "one": without
	// flushing, the first read would wait until the guard cancels it.
	if got, want := readEvent(), "data: one"; got != want {
		t.Fatalf("first event = %q, want %q", got, want)
	}
	close(next)
	if got, want := readEvent(), "data: two"; got != want {
		t.Fatalf("second event = %q, want %q", got, want)
	}
}

func TestWebSocketThroughGateway(t *testing.T) {
	echo := httptest.NewServer(websocket.Handler(func(ws *websocket.Conn) {
		_ = websocket.Message.Send(ws, "hello "+ws.Request().Header.Get("X-Auth-User"))
		_, _ = io.Copy(ws, ws)
	}))
	t.Cleanup(echo.Close)
	_, srv := serve(t, []config.Route{route("ws", "/ws/", "session", echo.URL)}, deps())
	wsURL := "ws://" + srv.Listener.Addr().String() + "/ws/echo"

	dial := func(origin string) (*websocket.Conn, error) {
		cfg, err := websocket.NewConfig(wsURL, origin)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Header.Set("Cookie", cookieName+"=sess-alice")
		return websocket.DialConfig(cfg)
	}

	t.Run("same origin echoes", func(t *testing.T) {
		ws, err := dial("http://" + srv.Listener.Addr().String())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer ws.Close()
		_ = ws.SetDeadline(time.Now().Add(guard))
		var greeting string
		if err := websocket.Message.Receive(ws, &greeting); err != nil {
			t.Fatal(err)
		}
		if got, want := greeting, "hello alice"; got != want {
			t.Errorf("greeting = %q, want %q", got, want)
		}
		if err := websocket.Message.Send(ws, "ping"); err != nil {
			t.Fatal(err)
		}
		var reply string
		if err := websocket.Message.Receive(ws, &reply); err != nil {
			t.Fatal(err)
		}
		if got, want := reply, "ping"; got != want {
			t.Errorf("echo = %q, want %q", got, want)
		}
	})
	t.Run("cross origin is refused", func(t *testing.T) {
		// A GET handshake carries the cookie like any other request, so it
		// gets the same cross-origin check as a POST (cross-site WebSocket
		// hijacking).
		r := raw(t, srv, "GET", "/ws/echo", "Upgrade", "websocket", "Connection", "Upgrade",
			"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==",
			"Origin", "https://evil.example", "Cookie", cookieName+"=sess-alice")
		wantJSONError(t, r, http.StatusForbidden, "forbidden")
		var de *websocket.DialError
		if _, err := dial("https://evil.example"); !errors.As(err, &de) || de.Err != websocket.ErrBadStatus {
			t.Errorf("cross-origin dial error = %v, want a bad handshake status", err)
		}
	})
	t.Run("without session is refused", func(t *testing.T) {
		r := raw(t, srv, "GET", "/ws/echo", "Upgrade", "websocket", "Connection", "Upgrade",
			"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		wantJSONError(t, r, http.StatusUnauthorized, "unauthorized")
	})
}

func TestUpstreamUnreachableIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	_, srv := serve(t, []config.Route{route("dead", "/", "none", dead)}, deps())
	wantJSONError(t, do(t, newRequest(t, "GET", srv.URL+"/x")), http.StatusBadGateway, "bad_gateway")
}

func TestSlowUpstreamIs504(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	r := route("slow", "/", "none", slow.URL)
	r.Timeout = config.Duration(50 * time.Millisecond)
	_, srv := serve(t, []config.Route{r}, deps())
	wantJSONError(t, do(t, newRequest(t, "GET", srv.URL+"/x")), http.StatusGatewayTimeout, "gateway_timeout")
}

// TestTimeoutDoesNotCutStreamingBody: the route timeout covers the wait for
// response headers only; a body that keeps streaming afterwards is whole.
func TestTimeoutDoesNotCutStreamingBody(t *testing.T) {
	const timeout = 20 * time.Millisecond
	rest := make(chan struct{})
	stream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first,")
		w.(http.Flusher).Flush()
		select {
		case <-rest:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "second")
	}))
	t.Cleanup(stream.Close)
	r := route("stream", "/", "none", stream.URL)
	r.Timeout = config.Duration(timeout)
	_, srv := serve(t, []config.Route{r}, deps())

	resp, err := http.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("first,"))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * timeout) // well past the route timeout, mid-body
	close(rest)
	tail, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body cut after the headers: %v", err)
	}
	if got, want := string(first)+string(tail), "first,second"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
}

func TestLargeBodiesStreamBothWays(t *testing.T) {
	const size = 8 << 20
	body := make([]byte, size)
	_, _ = rand.Read(body)
	sum := sha256.Sum256(body)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// HTTP/1 handlers are half-duplex: read all, then answer in chunks
		// (no Content-Length), so the gateway cannot buffer by size.
		got, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for len(got) > 0 {
			n := min(len(got), 64<<10)
			_, _ = w.Write(got[:n])
			got = got[n:]
		}
	}))
	t.Cleanup(echo.Close)
	_, srv := serve(t, []config.Route{route("echo", "/", "token", echo.URL)}, deps())
	req, err := http.NewRequest("POST", srv.URL+"/upload", io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok-alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if n != size || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Errorf("echoed %d bytes (hash match %v), want %d identical bytes", n, bytes.Equal(h.Sum(nil), sum[:]), size)
	}
}

func TestCloseReleasesIdleUpstreamConnections(t *testing.T) {
	closed := make(chan struct{}, 1)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			select {
			case closed <- struct{}{}:
			default:
			}
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	g, srv := serve(t, []config.Route{route("up", "/", "none", up.URL)}, deps())
	if r := do(t, newRequest(t, "GET", srv.URL+"/x")); r.StatusCode != 200 {
		t.Fatalf("status = %d", r.StatusCode)
	}
	g.Close()
	select {
	case <-closed:
	case <-time.After(guard):
		t.Fatal("the idle upstream connection was not closed")
	}
}

// TestOnlyWebSocketUpgradesReachTheUpstream: the contract passes WebSocket
// upgrades through; any other protocol switch is dropped and the request
// goes upstream as a plain one. An h2c upgrade honoured by a lax upstream
// would turn the connection into an HTTP/2 tunnel whose later requests the
// gateway never sees (h2c smuggling).
func TestOnlyWebSocketUpgradesReachTheUpstream(t *testing.T) {
	up := newUpstream(t)
	_, srv := serve(t, []config.Route{route("pub", "/pub/", "none", up.URL)}, deps())
	tests := []struct{ upgrade, want string }{
		{"h2c", ""},
		{"HTTP/2.0", ""},
		{"websocket", "websocket"},
		{"WebSocket", "WebSocket"},
	}
	for _, tt := range tests {
		t.Run(tt.upgrade, func(t *testing.T) {
			req := newRequest(t, "GET", srv.URL+"/pub/x", "Connection", "Upgrade, HTTP2-Settings",
				"Upgrade", tt.upgrade, "HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA")
			do(t, req)
			h := up.last(t).Header
			if got := h.Get("Upgrade"); got != tt.want {
				t.Errorf("upstream Upgrade = %q, want %q", got, tt.want)
			}
			if tt.want == "" && h.Get("Connection") != "" {
				t.Errorf("upstream Connection = %q, want none for a dropped upgrade", h.Get("Connection"))
			}
			if h.Get("Http2-Settings") != "" {
				t.Errorf("HTTP2-Settings reached the upstream")
			}
		})
	}
}

// TestResponseEncodingIsTheClients: a client that sent no Accept-Encoding
// (curl, most API clients) used to have "Accept-Encoding: gzip" invented
// for it by Go's transport; a compressing upstream then gzipped the body,
// and the gateway inflated it again, dropping the upstream's
// Content-Length and passing on the ETag of the gzipped representation.
// The upstream now sees the client's Accept-Encoding, or none, and its
// response arrives as it was sent.
func TestResponseEncodingIsTheClients(t *testing.T) {
	const page = "hello, hello, hello, hello"
	seen := make(chan []string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Values("Accept-Encoding")
		w.Header().Set("ETag", `"v1"`)
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Length", strconv.Itoa(len(page)))
			_, _ = io.WriteString(w, page)
			return
		}
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = io.WriteString(zw, page)
		_ = zw.Close()
		w.Header().Set("ETag", `"v1-gzip"`)
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		_, _ = w.Write(b.Bytes())
	}))
	t.Cleanup(up.Close)
	_, srv := serve(t, []config.Route{route("app", "/", "none", up.URL)}, deps())
	tests := []struct {
		name     string
		header   []string
		wantUp   []string
		encoding string
		etag     string
	}{
		{"no Accept-Encoding", nil, nil, "", `"v1"`},
		{"identity", []string{"Accept-Encoding", "identity"}, []string{"identity"}, "", `"v1"`},
		{"gzip", []string{"Accept-Encoding", "gzip"}, []string{"gzip"}, "gzip", `"v1-gzip"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := raw(t, srv, "GET", "/page", tt.header...)
			if r.StatusCode != 200 {
				t.Fatalf("status = %d, want 200", r.StatusCode)
			}
			if got := <-seen; !slices.Equal(got, tt.wantUp) {
				t.Errorf("upstream Accept-Encoding = %q, want %q", got, tt.wantUp)
			}
			if got := r.Header.Get("Content-Encoding"); got != tt.encoding {
				t.Errorf("Content-Encoding = %q, want %q", got, tt.encoding)
			}
			if got := r.Header.Get("ETag"); got != tt.etag {
				t.Errorf("ETag = %q, want %q", got, tt.etag)
			}
			if r.ContentLength != int64(len(r.Body)) {
				t.Errorf("Content-Length = %d for a body of %d bytes, want the upstream's", r.ContentLength, len(r.Body))
			}
			if tt.encoding == "" && r.Body != page {
				t.Errorf("body = %q, want %q", r.Body, page)
			}
		})
	}
}
