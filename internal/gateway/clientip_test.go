package gateway_test

import (
	"net/http"
	"net/netip"
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
		})
	}
}
