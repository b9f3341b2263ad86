package gateway_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// folded is a header name as CGI, WSGI (gunicorn) and PHP see it: case
// ignored, '_' and '.' read as '-'.
func folded(name string) string {
	return strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
}

// upstreamHas returns the values of the header called name as the upstream
// saw it: for a lookalike name (with '_' or '.') any lookalike spelling of
// it, for a real name that name in any case.
func upstreamHas(s seen, name string) ([]string, bool) {
	lookalike := strings.ContainsAny(name, "_.")
	for k, v := range s.Header {
		if folded(k) == folded(name) && strings.ContainsAny(k, "_.") == lookalike {
			return v, true
		}
	}
	return nil, false
}

// TestHeaderLookalikesNeverReachUpstream sends the spellings of issue 11
// findings 2-4 from a client and from a trusted proxy. Identity and
// method-override headers never pass; forwarding and routing headers pass
// only from a trusted proxy and only under their real name; any name with
// '_' is dropped unless the route opts in.
func TestHeaderLookalikesNeverReachUpstream(t *testing.T) {
	up := newUpstream(t)
	routes := []config.Route{
		route("app", "/app/", "session", up.URL),
		route("get", "/get/", "none", up.URL),
		route("legacy", "/legacy/", "none", up.URL),
	}
	routes[1].Match.Methods = []string{"GET"}
	routes[2].AllowUnderscoreHeaders = true
	type want int
	const (
		gone  want = iota // no header folding to this name reaches the upstream
		kept              // arrives unchanged
		fresh             // replaced by gatehouse's own value
	)
	tests := []struct {
		name, value      string
		client, trusted  want // peer not in / in trusted_proxies
		underscoreRouted want // from a client on the route with allow_underscore_headers
	}{
		{"X_Auth_User", "bob", gone, gone, gone},
		{"X_Auth_Roles", "admin", gone, gone, gone},
		{"X.Auth.Roles", "admin", gone, gone, gone},
		{"x_auth_subject", "u-bob", gone, gone, gone},
		{"X-Auth_Method", "token", gone, gone, gone},
		{"X_Forwarded_For", "203.0.113.7", fresh, fresh, fresh},
		{"X_Forwarded_Proto", "https", fresh, fresh, fresh},
		{"X.Forwarded.Host", "victim.example", fresh, fresh, fresh},
		{"X_Forwarded_Prefix", "/evil", gone, gone, gone},
		{"Forwarded", "for=203.0.113.9", gone, kept, gone},
		{"X-Real-IP", "203.0.113.8", gone, kept, gone},
		{"X_Real_IP", "203.0.113.8", gone, gone, gone},
		{"True-Client-IP", "203.0.113.10", gone, kept, gone},
		{"True_Client_IP", "203.0.113.10", gone, gone, gone},
		// Path overrides: the route was matched on the request line, so
		// not even a trusted proxy's reach the upstream.
		{"X-Rewrite-URL", "/admin/secret", gone, gone, gone},
		{"X-Original-URL", "/admin/secret", gone, gone, gone},
		{"X.Original.URL", "/admin/secret", gone, gone, gone},
		{"X-HTTP-Method-Override", "DELETE", gone, gone, gone},
		{"X-HTTP-Method", "DELETE", gone, gone, gone},
		{"X-Method-Override", "DELETE", gone, gone, gone},
		{"x_http_method_override", "DELETE", gone, gone, gone},
		{"My_Header", "1", gone, gone, kept},
		{"X.Trace.Id", "1", kept, kept, kept},
		{"X-Plain", "1", kept, kept, kept},
	}
	var header []string
	for _, tt := range tests {
		header = append(header, tt.name, tt.value)
	}
	peers := []struct {
		name    string
		trusted bool
		path    string
		pick    func(c, t, u want) want
	}{
		{"client", false, "/app/x", func(c, _, _ want) want { return c }},
		{"client on a GET-only route", false, "/get/x", func(c, _, _ want) want { return c }},
		{"trusted proxy", true, "/app/x", func(_, t, _ want) want { return t }},
		{"client on allow_underscore_headers route", false, "/legacy/x", func(_, _, u want) want { return u }},
	}
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			d := deps()
			if !p.trusted {
				d.TrustedProxies = notLoopback()
			}
			_, srv := serve(t, routes, d)
			r := raw(t, srv, "GET", p.path, append(slices.Clone(header), sessionCred("alice")...)...)
			if r.StatusCode != 200 {
				t.Fatalf("status = %d %s", r.StatusCode, r.Body)
			}
			s := up.last(t)
			for _, tt := range tests {
				v, ok := upstreamHas(s, tt.name)
				switch p.pick(tt.client, tt.trusted, tt.underscoreRouted) {
				case gone:
					if ok {
						t.Errorf("%s: upstream got %q, want it dropped", tt.name, v)
					}
				case kept:
					if !slices.Equal(v, []string{tt.value}) {
						t.Errorf("%s: upstream got %q, want %q", tt.name, v, tt.value)
					}
				case fresh:
					if slices.Contains(v, tt.value) || strings.Contains(strings.Join(v, ","), tt.value) {
						t.Errorf("%s: upstream got the client's %q", tt.name, v)
					}
				}
			}
			if p.path == "/app/x" {
				if got := s.Header.Values("X-Auth-User"); !slices.Equal(got, []string{"alice"}) {
					t.Errorf("X-Auth-User = %q, want [alice] only", got)
				}
			}
			if got := s.Method; got != "GET" {
				t.Errorf("upstream method = %s, want GET", got)
			}
		})
	}
}
