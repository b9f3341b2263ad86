package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct client", "198.51.100.1:5555", nil, "198.51.100.1"},
		{"untrusted peer's header ignored", "198.51.100.1:5555", []string{"203.0.113.9"}, "198.51.100.1"},
		{"trusted peer without header", "127.0.0.1:5555", nil, "127.0.0.1"},
		{"trusted peer", "127.0.0.1:5555", []string{"203.0.113.9"}, "203.0.113.9"},
		{"spoofed left entries ignored", "127.0.0.1:5555", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"trusted hops skipped", "127.0.0.1:5555", []string{"203.0.113.9, 10.0.0.2", "10.0.0.3"}, "203.0.113.9"},
		{"garbage stops the walk", "127.0.0.1:5555", []string{"203.0.113.9, junk, 10.0.0.2"}, "10.0.0.2"},
		{"IPv4-mapped IPv6 peer", "[::ffff:127.0.0.1]:5555", []string{"203.0.113.9"}, "203.0.113.9"},
		{"IPv6 client", "127.0.0.1:5555", []string{"2001:db8::1"}, "2001:db8::1"},
		// Some load balancers append the client's port.
		{"IPv4 entry with a port", "127.0.0.1:5555", []string{"203.0.113.7:4711"}, "203.0.113.7"},
		{"IPv6 entry with a port", "127.0.0.1:5555", []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
		{"trusted hop with a port skipped", "127.0.0.1:5555", []string{"203.0.113.7:4711, 10.0.0.2:80"}, "203.0.113.7"},
		{"IPv4-mapped entry with a port", "127.0.0.1:5555", []string{"[::ffff:203.0.113.7]:4711"}, "203.0.113.7"},
		// Junk that looks like a port form still stops the walk at the
		// last trusted hop: it never names the client.
		{"port without an address", "127.0.0.1:5555", []string{"203.0.113.9, :4711"}, "127.0.0.1"},
		{"port out of range", "127.0.0.1:5555", []string{"203.0.113.9, 203.0.113.7:65536"}, "127.0.0.1"},
		{"unbracketed IPv6 with a port is an address", "127.0.0.1:5555", []string{"2001:db8::1:4711"}, "2001:db8::1:4711"},
		{"bracketed IPv6 without a port", "127.0.0.1:5555", []string{"203.0.113.9, [2001:db8::1]"}, "127.0.0.1"},
		{"host name with a port", "127.0.0.1:5555", []string{"203.0.113.9, example.com:80"}, "127.0.0.1"},
		{"junk behind a trusted hop with a port", "127.0.0.1:5555", []string{"203.0.113.9, junk:1, 10.0.0.2:80"}, "10.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := gateway.ClientIP(r, trusted); got.String() != tt.want {
				t.Errorf("ClientIP = %s, want %s", got, tt.want)
			}
			// The same request on a connection whose peer gatehouse serve
			// parsed once (ConnContext).
			r = r.WithContext(gateway.WithPeer(context.Background(), tt.remote))
			if got := gateway.ClientIP(r, trusted); got.String() != tt.want {
				t.Errorf("ClientIP with the connection's peer = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestClientIPFollowsRewrittenRemoteAddr: a request whose RemoteAddr is
// not the connection's (forward-auth rebuilds the original request with the
// client's address) is judged by its own RemoteAddr, never by the peer
// recorded for the connection; an unparsable one is no address.
func TestClientIPFollowsRewrittenRemoteAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	ctx := gateway.WithPeer(context.Background(), "127.0.0.1:5555")
	for _, tt := range []struct{ remote, want string }{
		{"127.0.0.1:5555", "127.0.0.1"},
		{"198.51.100.1:0", "198.51.100.1"},
		{"[2001:db8::1]:0", "2001:db8::1"},
		{"not an address", "invalid IP"},
	} {
		r := (&http.Request{RemoteAddr: tt.remote, Header: http.Header{}}).WithContext(ctx)
		if got := gateway.ClientIP(r, trusted); got.String() != tt.want {
			t.Errorf("RemoteAddr %q on the connection of 127.0.0.1:5555: ClientIP = %s, want %s", tt.remote, got, tt.want)
		}
	}
	if got := gateway.ClientIP(&http.Request{RemoteAddr: "@", Header: http.Header{}}, trusted); got.IsValid() {
		t.Errorf("ClientIP of an unparsable RemoteAddr = %s, want none", got)
	}
}

// TestConnContextRecordsTheConnectionsPeer: behind an http.Server with
// ConnContext, every request on a keep-alive connection gets the client
// address of that connection.
func TestConnContextRecordsTheConnectionsPeer(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, gateway.ClientIP(r, nil).String()+" "+r.RemoteAddr)
	}))
	srv.Config.ConnContext = gateway.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	for i := range 3 {
		res, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		ip, remote, _ := strings.Cut(string(body), " ")
		if ap, err := netip.ParseAddrPort(remote); err != nil || ip != ap.Addr().String() || ip != "127.0.0.1" {
			t.Errorf("request %d: ClientIP %q for RemoteAddr %q, want the loopback peer", i, ip, remote)
		}
	}
}
