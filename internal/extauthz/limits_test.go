package extauthz_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-auth/gatehouse/internal/extauthz"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// serveLimitedExtAuthz serves NewGRPC (its own limits, no test options) on
// loopback and returns the server and its address; Cleanup stops it.
func serveLimitedExtAuthz(t *testing.T, check extauthz.CheckFunc) (*grpc.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := extauthz.NewGRPC(check, nil, nil)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return srv, ln.Addr().String()
}

// dialLimitedExtAuthz is a gRPC client of addr, as Envoy's ext_authz
// filter uses the service.
func dialLimitedExtAuthz(t *testing.T, addr string) authv3.AuthorizationClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

// A Check describes headers: one of the size Envoy accepts by default
// (max_request_headers_kb 60) is judged; one over MaxCheckBytes is refused
// with RESOURCE_EXHAUSTED before it is judged, not held in memory up to
// grpc-go's default 4 MiB, and the connection serves the next Check.
func TestGRPCCheckSizeLimit(t *testing.T) {
	_, addr := serveLimitedExtAuthz(t, newGateway(t).Check)
	client := dialLimitedExtAuthz(t, addr)
	tests := []struct {
		name    string
		padding int // bytes of one client header
		code    codes.Code
	}{
		{"headers of Envoy's default limit", 60 << 10, codes.OK},
		{"just over MaxCheckBytes", extauthz.MaxCheckBytes, codes.ResourceExhausted},
		{"far over MaxCheckBytes", 2 * extauthz.MaxCheckBytes, codes.ResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := envoyCheck("GET", "api.example.com", "/limited/x", "x-padding", strings.Repeat("a", tt.padding))
			_, err := client.Check(context.Background(), req)
			if got := status.Code(err); got != tt.code {
				t.Fatalf("Check of %d header bytes: RPC status %v (%v), want %v", tt.padding, got, err, tt.code)
			}
			// The same connection judges the next Check.
			resp, err := client.Check(context.Background(), envoyCheck("GET", "api.example.com", "/admin/x", "authorization", "Bearer tok-alice"))
			if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.OK {
				t.Errorf("next Check = %v, %v; want an allow", resp.GetStatus(), err)
			}
		})
	}
}

// A client that pings more often than MinPingInterval (three times in a
// row) is sent GOAWAY ENHANCE_YOUR_CALM "too_many_pings" and disconnected;
// other clients are served on.
func TestGRPCDisconnectsAClientPingingTooOften(t *testing.T) {
	_, addr := serveLimitedExtAuthz(t, newGateway(t).Check)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	// A guard against a server that never answers, not a speed assertion.
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := fr.WritePing(false, [8]byte{byte(i)}); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
	}
	var goAway *http2.GoAwayFrame
	for goAway == nil {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("read before any GOAWAY: %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			goAway = g
		}
	}
	if goAway.ErrCode != http2.ErrCodeEnhanceYourCalm || string(goAway.DebugData()) != "too_many_pings" {
		t.Errorf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", goAway.ErrCode, goAway.DebugData())
	}
	for {
		if _, err := fr.ReadFrame(); err != nil {
			break // the server closed the connection
		}
	}

	client := dialLimitedExtAuthz(t, addr)
	resp, err := client.Check(context.Background(), envoyCheck("GET", "api.example.com", "/admin/x", "authorization", "Bearer tok-alice"))
	if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.OK {
		t.Errorf("another client's Check = %v, %v; want an allow", resp.GetStatus(), err)
	}
}

// GracefulStop lets a Check in flight be answered and closes the listener
// meanwhile; once its context ends, the Check still in flight is cut
// (UNAVAILABLE) and it returns the context's error.
func TestGRPCGracefulStop(t *testing.T) {
	tests := []struct {
		name     string
		deadline bool // the stop's context ends before the Check is answered
		code     codes.Code
		err      error
	}{
		{"Check in flight completes", false, codes.OK, nil},
		{"past the deadline the Check is cut", true, codes.Unavailable, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entered, release := make(chan struct{}), make(chan struct{})
			g := newGateway(t)
			srv, addr := serveLimitedExtAuthz(t, func(r *http.Request) gateway.Verdict {
				close(entered)
				<-release
				return g.Check(r)
			})
			// Registered after the server's Stop, so run before it: a
			// stopped server still waits for its handlers.
			t.Cleanup(func() {
				select {
				case <-release:
				default:
					close(release)
				}
			})
			client := dialLimitedExtAuthz(t, addr)
			type answer struct {
				resp *authv3.CheckResponse
				err  error
			}
			answered := make(chan answer, 1)
			go func() {
				resp, err := client.Check(context.Background(), envoyCheck("GET", "api.example.com", "/admin/x", "authorization", "Bearer tok-alice"))
				answered <- answer{resp, err}
			}()
			<-entered

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stopped := make(chan error, 1)
			go func() { stopped <- extauthz.GracefulStop(ctx, srv) }()
			waitListenerClosed(t, addr)
			if tt.deadline {
				cancel()
				if err := <-stopped; !errors.Is(err, tt.err) {
					t.Errorf("GracefulStop = %v, want %v", err, tt.err)
				}
			} else {
				close(release)
			}
			a := <-answered
			if tt.code == codes.OK {
				if a.err != nil || codes.Code(a.resp.GetStatus().GetCode()) != codes.OK {
					t.Errorf("Check in flight = %v, %v; want an allow", a.resp.GetStatus(), a.err)
				}
				if err := <-stopped; err != nil {
					t.Errorf("GracefulStop = %v, want nil", err)
				}
			} else if got := status.Code(a.err); got != tt.code {
				t.Errorf("Check in flight: RPC status %v (%v), want %v", got, a.err, tt.code)
			}
		})
	}
}

// waitListenerClosed waits until addr refuses connections: GracefulStop
// has begun.
func waitListenerClosed(t *testing.T, addr string) {
	t.Helper()
	for range 1000 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		_ = c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s still accepts connections", addr)
}
