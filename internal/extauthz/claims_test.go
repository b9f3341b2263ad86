package extauthz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
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

// Claims of docs/envoy.md ("The answer") that no other test states: an
// allow on an auth: none route sets no identity and removes the client's;
// a rate-limited route's allow carries its RateLimit fields in
// response_headers_to_add and its 429 is RESOURCE_EXHAUSTED with
// Retry-After and RateLimit; a host's trailing dot is ignored as its port.
func TestGRPCDocumentedAnswers(t *testing.T) {
	client := startGRPC(t, newGateway(t))
	check := func(t *testing.T, req *authv3.CheckRequest, want codes.Code) *authv3.CheckResponse {
		t.Helper()
		resp, err := client.Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if got := codes.Code(resp.GetStatus().GetCode()); got != want {
			t.Fatalf("status = %v, want %v (%v)", got, want, resp)
		}
		return resp
	}

	t.Run("auth none: no identity set, the client's removed", func(t *testing.T) {
		resp := check(t, envoyCheck("GET", "api.example.com", "/limited/x", "x-auth-user", "root", "authorization", "Bearer tok-root",
			"x-forwarded-client-cert", "Hash=forged", "x-envoy-expected-rq-timeout-ms", "2000"), codes.OK)
		ok := resp.GetOkResponse()
		if !slices.Contains(ok.GetHeadersToRemove(), "x-forwarded-client-cert") {
			t.Errorf("headers_to_remove %v lacks x-forwarded-client-cert", ok.GetHeadersToRemove())
		}
		if slices.Contains(ok.GetHeadersToRemove(), "x-envoy-expected-rq-timeout-ms") {
			t.Errorf("headers_to_remove %v names Envoy's own x-envoy-* header", ok.GetHeadersToRemove())
		}
		for k := range headerMap(ok.GetHeaders()) {
			if strings.HasPrefix(k, "x-auth-") || k == "authorization" {
				t.Errorf("upstream %s set on an auth: none route", k)
			}
		}
		for _, k := range []string{"x-auth-user", "x-auth-subject", "x-auth-roles", "x-auth-method", "authorization"} {
			if !slices.Contains(ok.GetHeadersToRemove(), k) {
				t.Errorf("headers_to_remove %v lacks %q", ok.GetHeadersToRemove(), k)
			}
		}
		added := headerMap(ok.GetResponseHeadersToAdd())
		if added["ratelimit"] == "" || added["ratelimit-policy"] == "" {
			t.Errorf("response_headers_to_add = %v, want RateLimit and RateLimit-Policy", added)
		}
	})
	t.Run("over the rate limit", func(t *testing.T) {
		d := check(t, envoyCheck("GET", "api.example.com", "/limited/x"), codes.ResourceExhausted).GetDeniedResponse()
		h := headerMap(d.GetHeaders())
		if d.GetStatus().GetCode() != http.StatusTooManyRequests || h["retry-after"] == "" || h["ratelimit"] == "" ||
			strings.TrimSpace(d.GetBody()) != `{"error":"rate_limited"}` {
			t.Errorf("denied = %d %v %q, want 429 rate_limited with Retry-After and RateLimit", d.GetStatus().GetCode(), h, d.GetBody())
		}
	})
	t.Run("host with a trailing dot", func(t *testing.T) {
		resp := check(t, envoyCheck("GET", "app.example.com.", "/admin/x", "cookie", cookieName+"=sess-root"), codes.OK)
		if got := headerMap(resp.GetOkResponse().GetHeaders())["x-auth-user"]; got != "root" {
			t.Errorf("x-auth-user = %q, want root (judged as app.example.com)", got)
		}
	})
}

// docs/envoy.md, HTTP service: x-envoy-auth-headers-to-remove always names
// authorization, the X-Auth-* names gatehouse sets (unless this answer
// sets them) and the forwarding and method-override headers listed there,
// even when allowed_headers kept them from gatehouse; an internal error is
// the same 500 the gRPC service answers.
func TestHTTPServiceDocumentedAnswers(t *testing.T) {
	g := newGateway(t)
	srv := httptest.NewServer(extauthz.HTTPHandler(g.Check))
	t.Cleanup(srv.Close)
	failing := httptest.NewServer(extauthz.HTTPHandler(newGatewayWith(t, failingIssuer{}).Check))
	t.Cleanup(failing.Close)
	get := func(t *testing.T, base, method, path string, header ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+extauthz.HTTPPath+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "api.example.com"
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp, b.String()
	}

	tests := []struct {
		name   string
		path   string
		header []string
		remove []string // must be named
		kept   []string // must not be named: this answer sets them
	}{
		{name: "token route", path: "/admin/x", header: []string{"Authorization", "Bearer tok-alice"},
			remove: []string{"authorization"}, kept: []string{"x-auth-user", "x-auth-subject", "x-auth-roles", "x-auth-method"}},
		{name: "auth none route", path: "/limited/x",
			remove: []string{"authorization", "x-auth-user", "x-auth-subject", "x-auth-roles", "x-auth-method"}},
	}
	always := []string{"forwarded", "x-forwarded-host", "x-real-ip", "true-client-ip", "x-original-url", "x-original-uri",
		"x-original-method", "x-rewrite-url", "x-http-method-override", "x-http-method", "x-method-override"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, srv.URL, "GET", tt.path, tt.header...)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("= %d %q, want 200", resp.StatusCode, body)
			}
			named := strings.Split(resp.Header.Get(extauthz.HeadersToRemove), ",")
			for _, k := range append(slices.Clone(tt.remove), always...) {
				if !slices.Contains(named, k) {
					t.Errorf("%s = %q, lacks %q", extauthz.HeadersToRemove, named, k)
				}
			}
			for _, k := range tt.kept {
				if slices.Contains(named, k) {
					t.Errorf("%s = %q names %q, which this answer sets", extauthz.HeadersToRemove, named, k)
				}
			}
		})
	}
	t.Run("internal error", func(t *testing.T) {
		resp, body := get(t, failing.URL, "POST", "/billing/x", "Authorization", "Bearer tok-alice")
		var e struct{ Error string }
		if resp.StatusCode != http.StatusInternalServerError || json.Unmarshal([]byte(body), &e) != nil || e.Error != "internal_error" {
			t.Errorf("= %d %q, want 500 internal_error", resp.StatusCode, body)
		}
	})
}

// docs/envoy.md, Malformed: a non-canonical path or an untrusted peer is
// logged as every forward-auth refusal, "gateway: verify refused" with
// reason bad_path or untrusted_peer, naming the path but never its query.
func TestGRPCVerifyRefusalsAreLogged(t *testing.T) {
	const secret = "SECRETcode42"
	tests := []struct {
		name    string
		trusted string
		path    string
		reason  string
	}{
		{"non-canonical path", "127.0.0.0/8", "/a/../admin/x?code=" + secret, "bad_path"},
		{"untrusted peer", "10.0.0.0/8", "/admin/x?code=" + secret, "untrusted_peer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			g, err := gateway.New([]config.Route{{Name: "api", Match: config.RouteMatch{PathPrefix: "/"}, Upstream: "http://127.0.0.1:1", Auth: "token"}},
				gateway.Deps{Sessions: creds{}, Tokens: creds{}, CookieName: cookieName, PublicURL: "https://auth.example.com",
					TrustedProxies: []netip.Prefix{netip.MustParsePrefix(tt.trusted)}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(g.Close)
			client := startGRPC(t, g)
			resp, err := client.Check(context.Background(), envoyCheck("GET", "api.example.com", tt.path, "authorization", "Bearer tok-alice"))
			if err != nil {
				t.Fatalf("Check = RPC error %v, want a denial", err)
			}
			if got := resp.GetDeniedResponse().GetStatus().GetCode(); got != http.StatusBadRequest {
				t.Fatalf("denied = %d, want 400", got)
			}
			var line struct{ Msg, Reason string }
			for l := range strings.Lines(logs.String()) {
				if err := json.Unmarshal([]byte(l), &line); err == nil && line.Msg == "gateway: verify refused" {
					break
				}
			}
			if line.Msg != "gateway: verify refused" || line.Reason != tt.reason {
				t.Errorf("log = %q, want gateway: verify refused with reason %s", logs.String(), tt.reason)
			}
			if strings.Contains(logs.String(), secret) {
				t.Errorf("log = %q, holds the query", logs.String())
			}
		})
	}
}
