package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// grpcCheckRoute is the route of Envoy's gRPC Checks in the request log
// and the request metrics: the gRPC method.
const grpcCheckRoute = "/envoy.service.auth.v3.Authorization/Check"

// An operator running Envoy with the gRPC ext_authz service sees its
// Checks as one sees the HTTP service's requests: one request line each
// (the decision's status, the judged method and path without the query,
// host, client address, duration, Envoy's x-request-id as request_id when
// it is a plausible ID) and gatehouse_http_requests_total /
// gatehouse_http_request_duration_seconds under the route of the gRPC
// method. No token, cookie or query value reaches the log, and a forged
// x-request-id (newlines, escapes, 10 KB) is not logged.
func TestServeLogsAndCountsEnvoyGRPCChecks(t *testing.T) {
	c := newCLI(t, "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\next_authz_listen: 127.0.0.1:0\n"+
		"routes:\n- {name: public, match: {path_prefix: /public/}, upstream: 'http://127.0.0.1:1', auth: none}\n"+
		"- {name: api, match: {path_prefix: /api/}, upstream: 'http://127.0.0.1:1', auth: token}\n")
	logs := c.serveInTest()
	var serving struct {
		Admin    string
		ExtAuthz string `json:"ext_authz"`
	}
	if err := json.Unmarshal([]byte(logs.await(t, "gatehouse serving")), &serving); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(serving.ExtAuthz, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	authz := authv3.NewAuthorizationClient(conn)

	forged := "forged\n{\"msg\":\"request\",\"request_id\":\"admin\"}\x1b[31m" + strings.Repeat("A", 10<<10)
	secrets := []string{"BEARERSECRET", "COOKIESECRET", "QUERYTOKEN", "QUERYCODE", "QUERYSTATE", "forged", "AAAAAAAA"}
	check := func(method, host, path string, headers map[string]string) *authv3.CheckResponse {
		t.Helper()
		h := map[string]string{":authority": host, ":method": method, ":path": path, ":scheme": "https",
			"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"}
		for k, v := range headers {
			h[k] = v
		}
		var hr *authv3.AttributeContext_HttpRequest
		if method != "" {
			hr = &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Host: host, Scheme: "https", Headers: h}
		}
		resp, err := authz.Check(t.Context(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: "203.0.113.9", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}},
			Request: &authv3.AttributeContext_Request{Http: hr},
		}})
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		return resp
	}
	check("GET", "app.example.com", "/public/x?token=QUERYTOKEN&state=QUERYSTATE",
		map[string]string{"x-request-id": "6b1a2c3d-0000-4000-8000-000000000001", "cookie": "gatehouse=COOKIESECRET",
			"authorization": "Bearer BEARERSECRET"})
	check("POST", "api.example.com", "/api/orders?code=QUERYCODE",
		map[string]string{"x-request-id": forged, "authorization": "Bearer BEARERSECRET"})
	check("", "", "", nil) // no attributes.request.http: refused as malformed

	// The request lines come in batches: gather them until all three arrived.
	var got []map[string]any
	var all strings.Builder
	deadline := time.After(30 * time.Second)
	for len(got) < 3 {
		select {
		case w := <-logs:
			all.WriteString(w)
			for _, line := range strings.Split(strings.TrimSpace(w), "\n") {
				if !strings.Contains(line, `"msg":"request"`) || !strings.Contains(line, grpcCheckRoute) {
					continue
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("request line %q is not JSON: %v", line, err)
				}
				got = append(got, m)
			}
		case <-deadline:
			t.Fatalf("%d request lines for gRPC Checks within 30s, want 3; log:\n%s", len(got), all.String())
		}
	}
	want := []map[string]any{
		{"method": "GET", "path": "/public/x", "host": "app.example.com", "status": 200.0, "ip": "203.0.113.9", "bytes": 0.0,
			"request_id": "6b1a2c3d-0000-4000-8000-000000000001"},
		{"method": "POST", "path": "/api/orders", "host": "api.example.com", "status": 401.0, "ip": "203.0.113.9"},
		{"method": "", "path": "", "status": 400.0},
	}
	for i, w := range want {
		m := got[i]
		if m["route"] != grpcCheckRoute || m["level"] != "INFO" {
			t.Errorf("line %d: route %v, level %v; want %s, INFO", i, m["route"], m["level"], grpcCheckRoute)
		}
		for k, v := range w {
			if m[k] != v {
				t.Errorf("line %d: %s = %#v, want %#v (%v)", i, k, m[k], v, m)
			}
		}
		for _, k := range []string{"time", "request_id", "duration"} {
			if m[k] == nil || m[k] == "" {
				t.Errorf("line %d lacks %s: %v", i, k, m)
			}
		}
	}
	if id, _ := got[1]["request_id"].(string); id == "" || strings.ContainsAny(id, "\n\x1b{") || len(id) > 64 {
		t.Errorf("a forged x-request-id was logged as request_id %q", id)
	}
	for _, s := range secrets {
		if strings.Contains(all.String(), s) {
			t.Errorf("the log holds %q", s)
		}
	}

	resp, err := http.Get("http://" + serving.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{
		`gatehouse_http_requests_total{code="200",route="` + grpcCheckRoute + `"} 1`,
		`gatehouse_http_requests_total{code="401",route="` + grpcCheckRoute + `"} 1`,
		`gatehouse_http_requests_total{code="400",route="` + grpcCheckRoute + `"} 1`,
		`gatehouse_http_request_duration_seconds_count{route="` + grpcCheckRoute + `"} 3`,
		`gatehouse_auth_decisions_total{method="token",outcome="unauthorized"} 1`,
	} {
		if !strings.Contains(string(body), w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}

// Envoy's gRPC ext_authz service is off by default (contract §12): serve
// without ext_authz_listen names it "off" in its serving line, while the
// HTTP service at /auth/verify/envoy answers on listen.
func TestServeWithoutExtAuthzListenHasNoGRPCService(t *testing.T) {
	c := newCLI(t, "listen: 127.0.0.1:0\nadmin_listen: ''\n"+
		"routes:\n- {name: public, match: {path_prefix: /public/}, upstream: 'http://127.0.0.1:1', auth: none}\n")
	var serving struct {
		Listen   string
		ExtAuthz string `json:"ext_authz"`
	}
	if err := json.Unmarshal([]byte(c.serveInTest().await(t, "gatehouse serving")), &serving); err != nil {
		t.Fatal(err)
	}
	if got, want := serving.ExtAuthz, "off"; got != want {
		t.Errorf("serving line ext_authz = %q, want %q", got, want)
	}
	resp, err := http.Get("http://" + serving.Listen + "/auth/verify/envoy/public/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HTTP ext_authz service = %d, want 200", resp.StatusCode)
	}
}
