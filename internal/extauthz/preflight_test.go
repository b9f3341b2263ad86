package extauthz_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/extauthz"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// newPreflightGateway: on api.example.com, /api/ is an SPA's token API with
// skip_auth_preflight and methods without OPTIONS (and roles a preflight
// cannot have); /open/ accepts every method with the key; /plain/ has no
// key.
func newPreflightGateway(t *testing.T) *gateway.Gateway {
	t.Helper()
	const up = "http://127.0.0.1:1"
	rt := func(name, prefix string, key bool, methods ...string) config.Route {
		return config.Route{Name: name, Match: config.RouteMatch{Host: "api.example.com", PathPrefix: prefix, Methods: methods},
			Upstream: up, Auth: "token", Roles: []string{"admin"}, SkipAuthPreflight: key}
	}
	g, err := gateway.New([]config.Route{rt("api", "/api/", true, "GET", "POST"), rt("open", "/open/", true), rt("plain", "/plain/", false)},
		gateway.Deps{Tokens: creds{}, TrustedProxies: loopbackOnly(), PublicURL: "https://auth.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

const spaOrigin = "https://app.example.com"

// preflight are the headers of a browser's preflight for a cross-origin
// method with Authorization, lower-cased as Envoy describes them.
func preflight(method string) []string {
	return []string{"origin", spaOrigin, "access-control-request-method", method, "access-control-request-headers", "authorization"}
}

// identityHeaders are the X-Auth-* headers the gateway sets, lower-cased.
var identityHeaders = []string{"x-auth-subject", "x-auth-user", "x-auth-roles", "x-auth-method", "x-auth-amr"}

// preflightCases are the requests both Envoy services judge: a preflight on
// a keyed route is allowed with no identity (every identity header and
// Authorization removed, none set); everything else as without the key.
var preflightCases = []struct {
	name   string
	method string
	path   string
	header []string
	status int // 200 allowed
}{
	{"preflight, methods without OPTIONS", "OPTIONS", "/api/orders/1?x=1", preflight("POST"), 200},
	{"preflight with spoofed identity", "OPTIONS", "/api/orders/1", append(preflight("GET"), "x-auth-user", "root", "x-auth-roles", "admin"), 200},
	{"preflight with a bearer token: still no identity", "OPTIONS", "/api/orders/1", append(preflight("GET"), "authorization", "Bearer tok-root"), 200},
	{"preflight on a route that accepts OPTIONS", "OPTIONS", "/open/x", preflight("DELETE"), 200},
	{"preflight for a method the route lists not", "OPTIONS", "/api/orders/1", preflight("DELETE"), 404},
	{"preflight on a non-canonical path", "OPTIONS", "/open/../api/x", preflight("GET"), 400},
	{"OPTIONS without access-control-request-method", "OPTIONS", "/open/x", []string{"origin", spaOrigin}, 401},
	{"OPTIONS without origin", "OPTIONS", "/open/x", []string{"access-control-request-method", "GET"}, 401},
	{"GET with the preflight headers", "GET", "/api/orders/1", preflight("GET"), 401},
	{"preflight on a route without the key", "OPTIONS", "/plain/x", preflight("GET"), 401},
}

func TestGRPCPreflight(t *testing.T) {
	client := startGRPC(t, newPreflightGateway(t))
	for _, tt := range preflightCases {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.Check(context.Background(), envoyCheck(tt.method, "api.example.com", tt.path, tt.header...))
			if err != nil {
				t.Fatal(err)
			}
			if tt.status != http.StatusOK {
				if got := int(resp.GetDeniedResponse().GetStatus().GetCode()); got != tt.status {
					t.Fatalf("denied HTTP status = %d, want %d (%v)", got, tt.status, resp)
				}
				return
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != codes.OK {
				t.Fatalf("status = %v, want OK (%v)", got, resp)
			}
			wantNoIdentity(t, okHeaders(resp), resp.GetOkResponse().GetHeadersToRemove())
		})
	}
}

func TestHTTPServicePreflight(t *testing.T) {
	// The configurations docs/envoy.md shows let both preflight headers
	// through; without them a preflight is an OPTIONS to authenticate.
	for _, f := range documentedFilters(t) {
		for _, h := range []string{"origin", "access-control-request-method"} {
			if !f.sends(h) {
				t.Errorf("%s in docs/envoy.md does not send %s to gatehouse", f.name, h)
			}
		}
	}
	srv := httptest.NewServer(extauthz.HTTPHandler(newPreflightGateway(t).Check))
	t.Cleanup(srv.Close)
	for _, tt := range preflightCases {
		t.Run(tt.name, func(t *testing.T) {
			// Envoy's HTTP service: the original method, path_prefix plus
			// the original path, and the headers allowed_headers passes
			// (docs/envoy.md lists origin and access-control-request-method).
			req, err := http.NewRequest(tt.method, srv.URL+extauthz.HTTPPath+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "api.example.com"
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			req.Header.Set("X-Forwarded-Proto", "https")
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Add(tt.header[i], tt.header[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != http.StatusOK {
				return
			}
			set := map[string]string{}
			for k := range resp.Header {
				set[strings.ToLower(k)] = resp.Header.Get(k)
			}
			wantNoIdentity(t, set, strings.Split(resp.Header.Get(extauthz.HeadersToRemove), ","))
		})
	}
}

// okHeaders are the headers an allowed CheckResponse sets upstream.
func okHeaders(resp *authv3.CheckResponse) map[string]string {
	return headerMap(resp.GetOkResponse().GetHeaders())
}

// wantNoIdentity fails unless the upstream request gets no identity: no
// X-Auth-* or Authorization value set, and every one of them removed, as
// on an auth: none route.
func wantNoIdentity(t *testing.T, set map[string]string, remove []string) {
	t.Helper()
	for _, k := range append(slices.Clone(identityHeaders), "authorization") {
		if v := set[k]; v != "" {
			t.Errorf("upstream %s set to %q, want no identity", k, v)
		}
		if !slices.Contains(remove, k) {
			t.Errorf("headers to remove %v lack %q", remove, k)
		}
	}
}

func loopbackOnly() []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }
