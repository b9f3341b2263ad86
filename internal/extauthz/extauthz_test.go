package extauthz_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/duration"
	"github.com/gatehouse-auth/gatehouse/internal/extauthz"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

const cookieName = "gatehouse"

var users = map[string]auth.Principal{
	"alice": {Subject: "u-alice", Username: "alice", Roles: []string{"user"}},
	"root":  {Subject: "u-root", Username: "root", Roles: []string{"admin", "user"}},
}

// creds accepts the session cookie "sess-<user>" and the bearer token
// "tok-<user>"; "sess-down" and "tok-down" find their store down.
type creds struct{}

func (creds) AuthenticateSession(r *http.Request) (auth.Principal, error) {
	c, err := r.Cookie(cookieName)
	if err == nil {
		if c.Value == "sess-down" {
			return auth.Principal{}, fmt.Errorf("session: %w", auth.ErrUnavailable)
		}
		if p, ok := users[strings.TrimPrefix(c.Value, "sess-")]; ok {
			return p, nil
		}
	}
	return auth.Principal{}, fmt.Errorf("session: %w", auth.ErrUnauthenticated)
}

func (creds) Verify(_ context.Context, raw string) (auth.Principal, error) {
	if raw == "tok-down" {
		return auth.Principal{}, fmt.Errorf("token: %w", auth.ErrUnavailable)
	}
	if p, ok := users[strings.TrimPrefix(raw, "tok-")]; ok && strings.HasPrefix(raw, "tok-") {
		return p, nil
	}
	return auth.Principal{}, fmt.Errorf("token: %w", auth.ErrUnauthenticated)
}

type issuer struct{}

func (issuer) IssueInternal(p auth.Principal, aud string, ttl time.Duration) (string, error) {
	return "internal." + p.Subject + "." + aud, nil
}

// newGateway: /admin/ is a session route for admins on app.example.com and a
// token route on api.example.com; /billing/ forwards an internal JWT;
// /limited/ allows one request.
func newGateway(t *testing.T, trusted ...netip.Prefix) *gateway.Gateway {
	t.Helper()
	return newGatewayWith(t, issuer{}, trusted...)
}

// newGatewayWith is newGateway minting forward: jwt tokens with internal.
func newGatewayWith(t *testing.T, internal gateway.InternalIssuer, trusted ...netip.Prefix) *gateway.Gateway {
	t.Helper()
	const up = "http://127.0.0.1:1"
	rt := func(name, host, prefix, authKind string, roles ...string) config.Route {
		return config.Route{Name: name, Match: config.RouteMatch{Host: host, PathPrefix: prefix}, Upstream: up, Auth: authKind, Roles: roles}
	}
	billing := rt("billing", "api.example.com", "/billing/", "token")
	billing.Forward = "jwt"
	limited := rt("limited", "api.example.com", "/limited/", "none")
	limited.RateLimit = &gateway.RateLimitConfig{Per: "route", Rate: 1, Burst: 1, Window: duration.Duration(time.Hour)}
	if trusted == nil {
		trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	g, err := gateway.New([]config.Route{
		rt("app-admin", "app.example.com", "/admin/", "session", "admin"),
		rt("api-admin", "api.example.com", "/admin/", "token", "user"),
		billing, limited,
	}, gateway.Deps{Sessions: creds{}, Tokens: creds{}, Internal: internal, CookieName: cookieName, TrustedProxies: trusted, PublicURL: "https://auth.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// startGRPC serves the Authorization service on loopback and returns a
// client, as Envoy's ext_authz filter would use it.
func startGRPC(t *testing.T, g *gateway.Gateway) authv3.AuthorizationClient {
	t.Helper()
	return startGRPCLog(t, g, nil)
}

// startGRPCLog is startGRPC logging to log.
func startGRPCLog(t *testing.T, g *gateway.Gateway, log *slog.Logger) authv3.AuthorizationClient {
	t.Helper()
	return startGRPCCheck(t, g.Check, log)
}

// startGRPCCheck is startGRPCLog judging with check.
func startGRPCCheck(t *testing.T, check extauthz.CheckFunc, log *slog.Logger) authv3.AuthorizationClient {
	t.Helper()
	return startGRPCObserved(t, check, nil, log)
}

// startGRPCObserved is startGRPCCheck telling observe of every Check.
func startGRPCObserved(t *testing.T, check extauthz.CheckFunc, observe extauthz.ObserveFunc, log *slog.Logger) authv3.AuthorizationClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := extauthz.NewGRPC(check, observe, log)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

// envoyCheck is the CheckRequest Envoy sends for a client request: the
// pseudo-headers and the x-forwarded-* headers Envoy's HTTP connection
// manager set (use_remote_address: true appends the client address to
// x-forwarded-for), plus the client's own headers, lower-cased.
func envoyCheck(method, host, path string, client ...string) *authv3.CheckRequest {
	h := map[string]string{
		":authority": host, ":method": method, ":path": path, ":scheme": "https",
		"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https",
		"x-request-id": "6b1a2c3d-0000-4000-8000-000000000001", "user-agent": "curl/8.5.0",
	}
	for i := 0; i+1 < len(client); i += 2 {
		h[strings.ToLower(client[i])] = client[i+1]
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 51234}}}}},
		Destination: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "10.0.0.5", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 443}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: h["x-request-id"], Method: method, Headers: h, Path: path, Host: host, Scheme: "https", Protocol: "HTTP/1.1",
		}},
	}}
}

// spoofedRouting are headers a client adds to claim another address, host,
// scheme or path; Envoy forwards them as they came. The built-in gateway
// never forwards any of them from a client (contract §5), so ext_authz must
// name each in headers_to_remove.
var spoofedRouting = []string{
	"x-original-url", "/admin/secret",
	"x-original-uri", "/admin/secret",
	"x-rewrite-url", "/admin/secret",
	"x-real-ip", "127.0.0.1",
	"true-client-ip", "127.0.0.1",
	"forwarded", "for=127.0.0.1;host=admin.example;proto=https",
	"x-forwarded-host", "admin.example",
	"x-forwarded-port", "443",
	"x-forwarded-prefix", "/admin",
	"x.forwarded.for", "127.0.0.1", // a lookalike of Envoy's own header
	"x-http-method-override", "DELETE",
}

// spoofedRoutingNames are the names of spoofedRouting.
var spoofedRoutingNames = func() []string {
	var names []string
	for i := 0; i < len(spoofedRouting); i += 2 {
		names = append(names, spoofedRouting[i])
	}
	return names
}()

// envoyOwn are headers Envoy itself sets on every request (use_remote_address:
// true); removing them would take the client address and scheme from the
// upstream.
var envoyOwn = []string{"x-forwarded-for", "x-forwarded-proto", "x-request-id"}

func headerMap(opts []*corev3.HeaderValueOption) map[string]string {
	m := map[string]string{}
	for _, o := range opts {
		m[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
	}
	return m
}

func TestGRPCCheck(t *testing.T) {
	client := startGRPC(t, newGateway(t))
	tests := []struct {
		name   string
		req    *authv3.CheckRequest
		code   codes.Code
		status int               // denied HTTP status
		set    map[string]string // allowed: upstream headers that must be exactly this
		remove []string          // allowed: must be in headers_to_remove
		keep   []string          // allowed: must not be in headers_to_remove
		header map[string]string // denied: response headers
		body   string
	}{
		{name: "token on the api host, spoofed identity removed",
			req: envoyCheck("GET", "api.example.com", "/admin/x?y=1", "authorization", "Bearer tok-alice",
				"x-auth-user", "root", "x_auth_roles", "admin", "x-auth-admin", "1", "cookie", cookieName+"=sess-root; theme=dark"),
			code: codes.OK,
			set: map[string]string{"x-auth-user": "alice", "x-auth-subject": "u-alice", "x-auth-roles": "user",
				"x-auth-method": "token", "cookie": "theme=dark"},
			remove: []string{"authorization", "x_auth_roles", "x-auth-admin"}},
		{name: "client routing and address headers removed, Envoy's own kept",
			req:  envoyCheck("GET", "api.example.com", "/admin/x", append([]string{"authorization", "Bearer tok-alice"}, spoofedRouting...)...),
			code: codes.OK, remove: spoofedRoutingNames, keep: envoyOwn},
		{name: "same path on the app host is a session route: browser to login",
			req:  envoyCheck("GET", "app.example.com", "/admin/x", "accept", "text/html"),
			code: codes.Unauthenticated, status: 302,
			header: map[string]string{"location": "https://auth.example.com/login?next=" + url.QueryEscape("https://app.example.com/admin/x")}},
		{name: "app host, admin session", req: envoyCheck("GET", "APP.example.com:443", "/admin/x", "cookie", cookieName+"=sess-root"),
			code: codes.OK, set: map[string]string{"x-auth-user": "root", "x-auth-method": "session"}, remove: []string{"cookie", "authorization"}},
		{name: "app host, user session: 403", req: envoyCheck("GET", "app.example.com", "/admin/x", "cookie", cookieName+"=sess-alice"),
			code: codes.PermissionDenied, status: 403, body: `{"error":"forbidden"}`},
		{name: "api host without token: 401 with the challenge", req: envoyCheck("GET", "api.example.com", "/admin/x"),
			code: codes.Unauthenticated, status: 401, body: `{"error":"unauthorized"}`,
			header: map[string]string{"www-authenticate": `Bearer realm="gatehouse"`, "content-type": "application/json"}},
		{name: "bad token", req: envoyCheck("GET", "api.example.com", "/admin/x", "authorization", "Bearer nope"),
			code: codes.Unauthenticated, status: 401,
			header: map[string]string{"www-authenticate": `Bearer realm="gatehouse", error="invalid_token"`}},
		{name: "forward jwt", req: envoyCheck("POST", "api.example.com", "/billing/x", "authorization", "Bearer tok-alice"),
			code: codes.OK, set: map[string]string{"authorization": "Bearer internal.u-alice.billing"}},
		{name: "non-canonical path", req: envoyCheck("GET", "api.example.com", "/limited/../admin/x"),
			code: codes.InvalidArgument, status: 400, body: `{"error":"bad_request"}`},
		// Envoy strips only a numeric port (strip_any_host_port), so it
		// routes these by another virtual host than app.example.com's.
		{name: "host with a port that is no number", req: envoyCheck("GET", "app.example.com:1@evil.example", "/admin/x", "accept", "text/html"),
			code: codes.InvalidArgument, status: 400, body: `{"error":"bad_request"}`},
		{name: "host with an empty port", req: envoyCheck("GET", "app.example.com:", "/admin/x", "cookie", cookieName+"=sess-root"),
			code: codes.InvalidArgument, status: 400},
		{name: "no route on an unknown host", req: envoyCheck("GET", "other.example.com", "/admin/x"),
			code: codes.NotFound, status: 404, body: `{"error":"not_found"}`},
		{name: "no http attributes", req: &authv3.CheckRequest{}, code: codes.InvalidArgument, status: 400},
		// A CONNECT names a host and port, not a path: with CONNECT
		// upgrades enabled, Envoy passes an HTTP/2 CONNECT's :path (which
		// it may carry) and, for HTTP/1.1, none. Judged as the path, the
		// tunnel was allowed wherever a GET of that path would be.
		{name: "CONNECT with a path", req: envoyCheck("CONNECT", "api.example.com", "/admin/x", "authorization", "Bearer tok-alice"),
			code: codes.InvalidArgument, status: 400, body: `{"error":"bad_request"}`},
		{name: "CONNECT without a path", req: envoyCheck("CONNECT", "api.example.com:443", "", "authorization", "Bearer tok-alice"),
			code: codes.InvalidArgument, status: 400, body: `{"error":"bad_request"}`},
		// A store that does not answer fails closed with the gateway's 503
		// and Retry-After, a browser included (no login redirect, the HTML
		// error page): never an allow, never an RPC error that
		// failure_mode_allow would let through.
		{name: "session store down, browser", req: envoyCheck("GET", "app.example.com", "/admin/x", "cookie", cookieName+"=sess-down", "accept", "text/html"),
			code: codes.Unavailable, status: 503,
			header: map[string]string{"content-type": "text/html; charset=utf-8", "retry-after": httperr.RetryAfter(httperr.StoreRetry)}},
		{name: "token store down", req: envoyCheck("GET", "api.example.com", "/admin/x", "authorization", "Bearer tok-down"),
			code: codes.Unavailable, status: 503, body: `{"error":"unavailable"}`,
			header: map[string]string{"retry-after": httperr.RetryAfter(httperr.StoreRetry)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.Check(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != tt.code {
				t.Fatalf("status = %v, want %v (%v)", got, tt.code, resp)
			}
			if tt.code == codes.OK {
				ok := resp.GetOkResponse()
				set := headerMap(ok.GetHeaders())
				for k, want := range tt.set {
					if set[k] != want {
						t.Errorf("upstream %s = %q, want %q", k, set[k], want)
					}
				}
				for _, k := range tt.remove {
					if !slices.Contains(ok.GetHeadersToRemove(), k) {
						t.Errorf("headers_to_remove %v lacks %q", ok.GetHeadersToRemove(), k)
					}
				}
				for k := range set {
					if strings.HasPrefix(k, "x-forwarded") || k == "x-request-id" {
						t.Errorf("Envoy's own %s was rewritten", k)
					}
				}
				for _, k := range tt.keep {
					if slices.Contains(ok.GetHeadersToRemove(), k) {
						t.Errorf("headers_to_remove %v removes Envoy's own %q", ok.GetHeadersToRemove(), k)
					}
				}
				return
			}
			d := resp.GetDeniedResponse()
			if got := int(d.GetStatus().GetCode()); got != tt.status {
				t.Errorf("denied HTTP status = %d, want %d", got, tt.status)
			}
			hm := headerMap(d.GetHeaders())
			for k, want := range tt.header {
				if hm[k] != want {
					t.Errorf("denied %s = %q, want %q", k, hm[k], want)
				}
			}
			if tt.body != "" && strings.TrimSpace(d.GetBody()) != tt.body {
				t.Errorf("body = %q, want %q", d.GetBody(), tt.body)
			}
		})
	}
}

func TestGRPCRateLimitAndUntrustedPeer(t *testing.T) {
	client := startGRPC(t, newGateway(t))
	if resp, _ := client.Check(context.Background(), envoyCheck("GET", "api.example.com", "/limited/x")); codes.Code(resp.GetStatus().GetCode()) != codes.OK {
		t.Fatalf("first = %v", resp)
	}
	resp, err := client.Check(context.Background(), envoyCheck("GET", "api.example.com", "/limited/x"))
	if err != nil {
		t.Fatal(err)
	}
	d := resp.GetDeniedResponse()
	if d.GetStatus().GetCode() != 429 || headerMap(d.GetHeaders())["retry-after"] == "" {
		t.Errorf("second = %v, want 429 with retry-after", resp)
	}

	untrusted := startGRPC(t, newGateway(t, netip.MustParsePrefix("10.0.0.0/8")))
	resp, err = untrusted.Check(context.Background(), envoyCheck("GET", "api.example.com", "/admin/x", "authorization", "Bearer tok-alice"))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetDeniedResponse().GetStatus().GetCode(); got != 400 {
		t.Errorf("from an untrusted peer = %v, want 400", resp)
	}
}

func TestHTTPService(t *testing.T) {
	g := newGateway(t)
	srv := httptest.NewServer(extauthz.HTTPHandler(g.Check))
	t.Cleanup(srv.Close)
	// Envoy's HTTP ext_authz: original method, path_prefix + original path,
	// original Host, the headers allowed_headers lets through, and
	// x-forwarded-for/-proto from the connection manager.
	check := func(method, host, path string, header ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+extauthz.HTTPPath+path, nil)
		req.Host = host
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		req.Header.Set("X-Forwarded-Proto", "https")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Add(header[i], header[i+1])
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, _ := check("GET", "api.example.com", "/admin/x?q=1", "Authorization", "Bearer tok-alice", "X-Auth-User", "root")
	if resp.StatusCode != 200 || resp.Header.Get("X-Auth-User") != "alice" {
		t.Errorf("allowed = %d X-Auth-User %q", resp.StatusCode, resp.Header.Get("X-Auth-User"))
	}
	if got := resp.Header.Get(extauthz.HeadersToRemove); !strings.Contains(got, "authorization") {
		t.Errorf("%s = %q, want authorization in it", extauthz.HeadersToRemove, got)
	}
	resp, body := check("GET", "api.example.com", "/admin/x")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || strings.TrimSpace(body) != `{"error":"unauthorized"}` {
		t.Errorf("no token = %d %q %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	resp, _ = check("GET", "app.example.com", "/admin/x", "Accept", "text/html")
	if resp.StatusCode != 302 || !strings.HasPrefix(resp.Header.Get("Location"), "https://auth.example.com/login?next=https%3A%2F%2Fapp.example.com%2F") {
		t.Errorf("browser = %d %q, want 302 to login", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = check("POST", "api.example.com", "/admin/x", "Authorization", "Bearer tok-alice")
	if resp.StatusCode != 200 {
		t.Errorf("original method POST = %d", resp.StatusCode)
	}
	if resp, _ := check("GET", "api.example.com", "//admin/x", "Authorization", "Bearer tok-alice"); resp.StatusCode != 400 {
		t.Errorf("non-canonical path = %d, want 400", resp.StatusCode)
	}
	// Envoy's HTTP service sends the original method: a CONNECT with a
	// path (HTTP/2) arrives as "CONNECT /auth/verify/envoy/admin/x", which
	// names a tunnel, not that path.
	if resp, body := check("CONNECT", "api.example.com", "/admin/x", "Authorization", "Bearer tok-alice"); resp.StatusCode != 400 || strings.TrimSpace(body) != `{"error":"bad_request"}` {
		t.Errorf("CONNECT = %d %q, want 400 bad_request", resp.StatusCode, body)
	}
	// The client's routing and address headers, when allowed_headers lets
	// them through, are named for removal; Envoy's own are not.
	resp, _ = check("GET", "api.example.com", "/admin/x", append([]string{"Authorization", "Bearer tok-alice"}, spoofedRouting...)...)
	remove := strings.Split(resp.Header.Get(extauthz.HeadersToRemove), ",")
	if resp.StatusCode != 200 {
		t.Fatalf("with spoofed routing headers = %d, want 200", resp.StatusCode)
	}
	for _, k := range spoofedRoutingNames {
		if !slices.Contains(remove, k) {
			t.Errorf("%s = %q, lacks %q", extauthz.HeadersToRemove, remove, k)
		}
	}
	for _, k := range envoyOwn {
		if slices.Contains(remove, k) {
			t.Errorf("%s = %q removes Envoy's own %q", extauthz.HeadersToRemove, remove, k)
		}
	}
}

// failingIssuer cannot mint internal tokens: with err, or by panicking.
type failingIssuer struct{ panics bool }

func (f failingIssuer) IssueInternal(auth.Principal, string, time.Duration) (string, error) {
	if f.panics {
		panic("signing key exploded")
	}
	return "", errors.New("sign internal token: no usable key")
}

// When the internal JWT of a forward: jwt route cannot be minted, or minting
// it panics, the Check is a denial with 500 internal_error and status
// INTERNAL (as the HTTP service answers 500), never an RPC error that
// Envoy's failure_mode_allow would let through, and the process lives on.
// The panic is logged without the request's credentials.
func TestGRPCInternalErrorIsADenial(t *testing.T) {
	for _, tt := range []struct {
		name   string
		issuer failingIssuer
	}{{"minting fails", failingIssuer{}}, {"minting panics", failingIssuer{panics: true}}} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			client := startGRPCLog(t, newGatewayWith(t, tt.issuer), slog.New(slog.NewTextHandler(&logs, nil)))
			req := envoyCheck("POST", "api.example.com", "/billing/x", "authorization", "Bearer tok-alice")
			for range 2 { // the server still answers after a panic
				resp, err := client.Check(context.Background(), req)
				if err != nil {
					t.Fatalf("Check = RPC error %v, want a denial", err)
				}
				if got := codes.Code(resp.GetStatus().GetCode()); got != codes.Internal {
					t.Errorf("status = %v, want %v", got, codes.Internal)
				}
				d := resp.GetDeniedResponse()
				if got := d.GetStatus().GetCode(); got != 500 || strings.TrimSpace(d.GetBody()) != `{"error":"internal_error"}` {
					t.Errorf("denied = %d %q, want 500 internal_error", got, d.GetBody())
				}
			}
			if tt.issuer.panics && !strings.Contains(logs.String(), "signing key exploded") {
				t.Errorf("log = %q, want the panic", logs.String())
			}
			if strings.Contains(logs.String(), "tok-alice") {
				t.Errorf("log = %q, holds the request's bearer token", logs.String())
			}
		})
	}
}

// A Check whose path cannot be judged is refused (400) and logged without
// its query: the query of a malformed path can hold a token or an
// authorization code (contract §6: never a token in the log).
func TestGRPCRefusalLogHoldsNoQuery(t *testing.T) {
	const secret = "SECRETtoken123"
	tests := []struct {
		name, path string
	}{
		{"bad escape in the path", "/x%zz?access_token=" + secret},
		{"control character", "/x?code=" + secret + "\x7f"},
		{"not origin-form", "x?refresh_token=" + secret},
		{"absolute form", "https://app.example.com/x?access_token=" + secret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			client := startGRPCLog(t, newGateway(t), slog.New(slog.NewJSONHandler(&logs, nil)))
			resp, err := client.Check(context.Background(), envoyCheck("GET", "api.example.com", tt.path))
			if err != nil {
				t.Fatalf("Check = RPC error %v, want a denial", err)
			}
			if got := resp.GetDeniedResponse().GetStatus().GetCode(); got != http.StatusBadRequest {
				t.Fatalf("denied = %d, want 400", got)
			}
			if !strings.Contains(logs.String(), "bad_check_request") {
				t.Errorf("log = %q, want the refusal", logs.String())
			}
			if strings.Contains(logs.String(), secret) {
				t.Errorf("log = %q, holds the query's secret", logs.String())
			}
		})
	}
}

// While serve waits for its stores, every Check is a denial (never an RPC
// error, which failure_mode_allow would turn into an allow): UNAVAILABLE,
// 503 {"error":"unavailable"} with Retry-After in whole seconds, what the
// public listener answers meanwhile.
func TestGRPCWaiting(t *testing.T) {
	client := startGRPCCheck(t, extauthz.Waiting(func() time.Duration { return 1500 * time.Millisecond }), nil)
	for _, req := range []*authv3.CheckRequest{
		envoyCheck("GET", "api.example.com", "/limited/x"),
		envoyCheck("GET", "app.example.com", "/admin/x", "cookie", cookieName+"=sess-root"),
	} {
		resp, err := client.Check(context.Background(), req)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		dr := resp.GetDeniedResponse()
		h := headerMap(dr.GetHeaders())
		if codes.Code(resp.GetStatus().GetCode()) != codes.Unavailable || dr.GetStatus().GetCode() != http.StatusServiceUnavailable ||
			h["retry-after"] != "2" || h["content-type"] != "application/json" || h["cache-control"] != "no-store" ||
			strings.TrimSpace(dr.GetBody()) != `{"error":"unavailable"}` {
			t.Errorf("Check = %v, denied %d %v %q; want UNAVAILABLE, 503 {\"error\":\"unavailable\"}, Retry-After 2, no-store",
				codes.Code(resp.GetStatus().GetCode()), dr.GetStatus().GetCode(), h, dr.GetBody())
		}
	}
}
