package gateway

import (
	"crypto/tls"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"testing"
)

// setXForwarded writes exactly what httputil's SetXForwarded writes, for a
// fresh chain, an extended one, TLS, and a RemoteAddr without a port (the
// header is then removed, as SetXForwarded does).
func TestSetXForwardedMatchesHTTPUtil(t *testing.T) {
	tests := []struct {
		name, remote, host string
		prior              []string
		tls                bool
	}{
		{"fresh", "192.0.2.7:5555", "app.example", nil, false},
		{"chain extended", "10.0.0.1:443", "app.example:8443", []string{"198.51.100.1", "203.0.113.5"}, false},
		{"tls", "[2001:db8::1]:1234", "app.example", nil, true},
		{"no port: header removed", "192.0.2.7", "app.example", []string{"198.51.100.1"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := func() *httputil.ProxyRequest {
				in := httptest.NewRequest("GET", "http://app.example/x", nil)
				in.RemoteAddr, in.Host = tc.remote, tc.host
				if tc.tls {
					in.TLS = &tls.ConnectionState{}
				}
				o := in.Clone(in.Context())
				o.URL = &url.URL{Path: "/x"}
				if tc.prior != nil {
					o.Header["X-Forwarded-For"] = slices.Clone(tc.prior)
				}
				return &httputil.ProxyRequest{In: in, Out: o}
			}
			want, got := out(), out()
			want.SetXForwarded()
			var v [3]string
			setXForwarded(got, &v)
			for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if w, g := want.Out.Header[k], got.Out.Header[k]; !slices.Equal(w, g) {
					t.Errorf("%s = %q, want %q (httputil)", k, g, w)
				}
			}
			if len(want.Out.Header) != len(got.Out.Header) {
				t.Errorf("headers = %v, want %v", got.Out.Header, want.Out.Header)
			}
		})
	}
}
