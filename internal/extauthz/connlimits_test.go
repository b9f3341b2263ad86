package extauthz_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-auth/gatehouse/internal/extauthz"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// wait is the bound on waiting for a connection limit to act: a guard
// against a limit that never acts, not a speed assertion (the scaled limits
// act within a second).
const wait = time.Minute

// watchedListener is a listener that records the connections it accepts and
// watches what the server writes on each: what its client reads.
type watchedListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[string]*watchedConn // by the client's address
}

func (l *watchedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	w := watchConn(c)
	l.mu.Lock()
	l.conns[c.RemoteAddr().String()] = w
	l.mu.Unlock()
	return w, nil
}

// conn is the accepted connection of the client at addr.
func (l *watchedListener) conn(t *testing.T, addr string) *watchedConn {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.conns[addr]
	if !ok {
		t.Fatalf("no accepted connection from %s", addr)
	}
	return c
}

// watchedConn reads the HTTP/2 frames the server writes (a copy of them)
// and tells of its first GOAWAY and of its close.
type watchedConn struct {
	net.Conn
	frames      *io.PipeWriter
	goAway      chan struct{} // closed at the first GOAWAY
	goAwayDebug string        // its debug data, set before goAway is closed
	closed      chan struct{}
	closeOnce   sync.Once
	// copying is held (read) by each Write until its copy is read, and
	// (write) by Close before it ends the copy: a connection the client
	// hangs up on right after a GOAWAY must not end the copy before the
	// GOAWAY written to it is read.
	copying sync.RWMutex
}

func watchConn(c net.Conn) *watchedConn {
	pr, pw := io.Pipe()
	w := &watchedConn{Conn: c, frames: pw, goAway: make(chan struct{}), closed: make(chan struct{})}
	go func() {
		fr := http2.NewFramer(nil, pr)
		seen := false
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				_, _ = io.Copy(io.Discard, pr) // never block the server's writes
				return
			}
			if g, ok := f.(*http2.GoAwayFrame); ok && !seen {
				seen = true
				w.goAwayDebug = string(g.DebugData())
				close(w.goAway)
			}
		}
	}()
	return w
}

func (w *watchedConn) Write(b []byte) (int, error) {
	w.copying.RLock()
	defer w.copying.RUnlock()
	n, err := w.Conn.Write(b)
	_, _ = w.frames.Write(b[:n])
	return n, err
}

// Close closes the connection first, which ends a Write blocked on it, then
// waits for the Writes in flight to be copied.
func (w *watchedConn) Close() error {
	err := w.Conn.Close()
	w.closeOnce.Do(func() {
		w.copying.Lock()
		defer w.copying.Unlock()
		_ = w.frames.Close()
		close(w.closed)
	})
	return err
}

// waitFor waits for ch to be closed.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("no %s within %v", what, wait)
	}
}

// serveWithLimits serves NewGRPC's server with the limits l on a watched
// loopback listener; Cleanup stops it.
func serveWithLimits(t *testing.T, l extauthz.Limits, check extauthz.CheckFunc) (string, *watchedListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wl := &watchedListener{Listener: ln, conns: map[string]*watchedConn{}}
	srv := extauthz.NewGRPCWithLimits(l, check)
	go func() { _ = srv.Serve(wl) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), wl
}

// peerAddr is the client address of the connection that carries r's Check.
func peerAddr(r *http.Request) string {
	if p, ok := peer.FromContext(r.Context()); ok {
		return p.Addr.String()
	}
	return ""
}

// dialH2 opens a raw HTTP/2 connection to addr: preface and SETTINGS.
func dialH2(t *testing.T, addr string) *http2.Framer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(wait))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return fr
}

// A connection ends after the maximum age, so that Envoy's Checks spread
// over instances added since it connected: GOAWAY max_age; the Check in
// flight then is answered within the grace and cut past it (UNAVAILABLE);
// the client's next Check goes out on a new connection.
func TestGRPCConnectionMaxAge(t *testing.T) {
	tests := []struct {
		name    string
		grace   time.Duration
		release bool // the Check in flight is answered after the GOAWAY
		code    codes.Code
	}{
		{"a Check in flight is answered", wait, true, codes.OK},
		{"a Check in flight past the grace is cut", 100 * time.Millisecond, false, codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t)
			entered, release := make(chan string, 1), make(chan struct{})
			var calls atomic.Int32
			l := extauthz.DefaultLimits()
			l.MaxAge, l.AgeGrace = 300*time.Millisecond, tt.grace
			addr, ln := serveWithLimits(t, l, func(r *http.Request) gateway.Verdict {
				if calls.Add(1) == 1 {
					entered <- peerAddr(r)
					<-release
				}
				return g.Check(r)
			})
			// Registered after the server's Stop, so run before it.
			t.Cleanup(func() { close(release) })
			client := dialLimitedExtAuthz(t, addr)
			check := envoyCheck("GET", "api.example.com", "/admin/x", "authorization", "Bearer tok-alice")

			type answer struct {
				code codes.Code
				err  error
			}
			answered := make(chan answer, 1)
			go func() {
				resp, err := client.Check(context.Background(), check)
				answered <- answer{codes.Code(resp.GetStatus().GetCode()), err}
			}()
			first := <-entered
			conn := ln.conn(t, first)
			waitFor(t, conn.goAway, "GOAWAY")
			if conn.goAwayDebug != "max_age" {
				t.Errorf("GOAWAY %q, want max_age", conn.goAwayDebug)
			}
			if tt.release {
				release <- struct{}{}
			} else {
				waitFor(t, conn.closed, "close after the grace")
			}
			a := <-answered
			if tt.code == codes.OK {
				if a.err != nil || a.code != codes.OK {
					t.Errorf("Check in flight = %v, %v; want an allow", a.code, a.err)
				}
			} else if got := status.Code(a.err); got != tt.code {
				t.Errorf("Check in flight: RPC status %v (%v), want %v", got, a.err, tt.code)
			}

			var p peer.Peer
			resp, err := client.Check(context.Background(), check, grpc.Peer(&p))
			if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.OK {
				t.Fatalf("next Check = %v, %v; want an allow", resp.GetStatus(), err)
			}
			next := p.LocalAddr.String()
			if next == first {
				t.Errorf("next Check on the aged connection %s", first)
			}
			ln.conn(t, next) // a connection the listener accepted
		})
	}
}

// A connection without a Check in flight for the idle duration is sent
// GOAWAY max_idle and closed; the client's next Check gets a new one.
func TestGRPCClosesIdleConnections(t *testing.T) {
	l := extauthz.DefaultLimits()
	l.Idle = 300 * time.Millisecond
	addr, ln := serveWithLimits(t, l, newGateway(t).Check)
	client := dialLimitedExtAuthz(t, addr)
	check := envoyCheck("GET", "api.example.com", "/admin/x", "authorization", "Bearer tok-alice")

	var p peer.Peer
	if _, err := client.Check(context.Background(), check, grpc.Peer(&p)); err != nil {
		t.Fatal(err)
	}
	conn := ln.conn(t, p.LocalAddr.String())
	waitFor(t, conn.goAway, "GOAWAY")
	if conn.goAwayDebug != "max_idle" {
		t.Errorf("GOAWAY %q, want max_idle", conn.goAwayDebug)
	}
	waitFor(t, conn.closed, "close of the idle connection")

	var next peer.Peer
	resp, err := client.Check(context.Background(), check, grpc.Peer(&next))
	if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.OK {
		t.Fatalf("next Check = %v, %v; want an allow", resp.GetStatus(), err)
	}
	if next.LocalAddr.String() == p.LocalAddr.String() {
		t.Errorf("next Check on the closed connection %s", p.LocalAddr)
	}
}

// A TCP connection that never sends the HTTP/2 preface is closed after the
// handshake timeout; one that sent it is served on.
func TestGRPCClosesConnectionsWithoutHandshake(t *testing.T) {
	l := extauthz.DefaultLimits()
	l.Handshake = time.Second
	addr, _ := serveWithLimits(t, l, newGateway(t).Check)
	shook := dialH2(t, addr)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })
	_ = silent.SetDeadline(time.Now().Add(wait))

	// The server's SETTINGS, then the end.
	if _, err := io.Copy(io.Discard, silent); os.IsTimeout(err) {
		t.Fatalf("silent connection not closed within %v", wait)
	}
	// Sent after the silent connection was closed, answered.
	if err := shook.WritePing(false, [8]byte{7}); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := shook.ReadFrame()
		if err != nil {
			t.Fatalf("connection with a handshake: %v before the PING's ACK", err)
		}
		if p, ok := f.(*http2.PingFrame); ok && p.IsAck() && p.Data == [8]byte{7} {
			break
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			t.Fatalf("connection with a handshake: GOAWAY %v %q", g.ErrCode, g.DebugData())
		}
	}
}

// readPings reads fr's frames until the connection ends, answering the
// server's PINGs when answer is set; it tells of each PING and of the end.
func readPings(fr *http2.Framer, answer bool, pings chan<- struct{}, ended chan<- error) {
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			ended <- err
			return
		}
		switch f := f.(type) {
		case *http2.PingFrame:
			if f.IsAck() {
				continue
			}
			if answer {
				if err := fr.WritePing(true, f.Data); err != nil {
					ended <- err
					return
				}
			}
			pings <- struct{}{}
		case *http2.SettingsFrame:
			if answer && !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.GoAwayFrame:
			ended <- fmt.Errorf("GOAWAY %v %q", f.ErrCode, f.DebugData())
			return
		}
	}
}

// A peer that stops answering is found: after ping-after without a frame
// the server pings it and closes the connection when no answer comes within
// the ping timeout, while a peer that answers is served on past that.
func TestGRPCClosesDeadPeers(t *testing.T) {
	l := extauthz.DefaultLimits()
	// grpc-go pings no sooner than 1 s (its minimum) after the last frame.
	l.PingAfter, l.PingTimeout = time.Second, 500*time.Millisecond
	addr, _ := serveWithLimits(t, l, newGateway(t).Check)

	deadPings, deadEnded := make(chan struct{}, 100), make(chan error, 1)
	go readPings(dialH2(t, addr), false, deadPings, deadEnded)
	livePings, liveEnded := make(chan struct{}, 100), make(chan error, 1)
	go readPings(dialH2(t, addr), true, livePings, liveEnded)

	select {
	case err := <-deadEnded:
		if len(deadPings) == 0 {
			t.Errorf("silent peer's connection ended (%v) before any PING", err)
		}
		if os.IsTimeout(err) {
			t.Fatalf("silent peer's connection not closed within %v", wait)
		}
	case err := <-liveEnded:
		if os.IsTimeout(err) {
			t.Fatalf("silent peer's connection not closed within %v", wait)
		}
		t.Fatalf("answering peer's connection ended first: %v", err)
	}
	// The server pings again PingAfter after the answer: a second PING
	// comes after the first's PingTimeout, so the answering peer is served
	// on where a silent one is closed.
	for i := range 2 {
		select {
		case <-livePings:
		case err := <-liveEnded:
			t.Fatalf("answering peer's connection ended after %d PINGs: %v", i, err)
		case <-time.After(wait):
			t.Fatalf("answering peer: %d PINGs within %v, want 2", i, wait)
		}
	}
}

// TestDocumentedGRPCLimitsAreTheCodes: docs/envoy.md's table "Limits of the
// gRPC listener" states the limits NewGRPC has, so that changing one
// without the table fails here.
func TestDocumentedGRPCLimitsAreTheCodes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "envoy.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, doc, _ := strings.Cut(string(b), "## Limits of the gRPC listener")
	doc, _, _ = strings.Cut(doc, "\n## ")
	// docDuration is d as the table writes it.
	docDuration := func(d time.Duration) string {
		if d%time.Minute == 0 {
			return fmt.Sprintf("%d min", d/time.Minute)
		}
		return fmt.Sprintf("%d s", d/time.Second)
	}
	def := extauthz.DefaultLimits()
	tests := []struct {
		name, re, want string
	}{
		{"Check size", "\\| size of one `CheckRequest`[^|]*\\| (\\d+ KiB) \\|", fmt.Sprintf("%d KiB", extauthz.MaxCheckBytes>>10)},
		{"header block", `\| HTTP/2 header block [^|]*\| (\d+ KiB) \|`, fmt.Sprintf("%d KiB", extauthz.MaxHeaderListBytes>>10)},
		{"streams", `\| Checks in flight per connection [^|]*\| (\d+) \|`, fmt.Sprint(extauthz.MaxStreams)},
		{"handshake", `\| connection handshake [^|]*\| (\d+ (?:s|min)) \|`, docDuration(def.Handshake)},
		{"client pings", `\| client pings [^|]*\| at most one per (\d+ (?:s|min)),`, docDuration(extauthz.MinPingInterval)},
		{"idle", `\| idle connection [^|]*\| closed after (\d+ (?:s|min)) `, docDuration(def.Idle)},
		{"dead peer: ping after", `\| dead peer \| pinged after (\d+ (?:s|min)) `, docDuration(def.PingAfter)},
		{"dead peer: ping timeout", `\| dead peer \|[^|]* no answer within (\d+ (?:s|min)) \|`, docDuration(def.PingTimeout)},
		{"connection age", `\| connection age \| (\d+ (?:s|min)) `, docDuration(def.MaxAge)},
		{"connection age: grace", `\| connection age \|[^|]* then (\d+ (?:s|min)) for the Checks in flight`, docDuration(def.AgeGrace)},
		{"the age's grace is the drain's", `within the same (\d+ (?:s|min)) grace period`, docDuration(def.AgeGrace)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := regexp.MustCompile(tt.re).FindStringSubmatch(doc)
			if m == nil {
				t.Fatalf("no text matching %q", tt.re)
			}
			if m[1] != tt.want {
				t.Errorf("the text says %s, the code %s", m[1], tt.want)
			}
		})
	}
}
