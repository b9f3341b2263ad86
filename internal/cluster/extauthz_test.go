package cluster_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestEnvoyExtAuthzThroughServe: `gatehouse serve` with ext_authz_listen
// answers Envoy's gRPC Check and the HTTP service at /auth/verify/envoy with
// the routes of its config: the same path on two hosts, two policies.
func TestEnvoyExtAuthzThroughServe(t *testing.T) {
	dir := t.TempDir()
	grpcAddr := freeAddr(t)
	cfg := filepath.Join(dir, "gatehouse.yaml")
	body := fmt.Sprintf(`store: %q
admin_listen: ""
ext_authz_listen: %q
log: {level: warn}
routes:
  - {name: public, match: {host: www.example.com, path_prefix: /docs/}, upstream: "http://127.0.0.1:1", auth: none}
  - {name: private, match: {host: internal.example.com, path_prefix: /docs/}, upstream: "http://127.0.0.1:1", auth: token}
`, "sqlite://"+filepath.Join(dir, "gatehouse.db"), grpcAddr)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startServe(t, cfg)

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := authv3.NewAuthorizationClient(conn)
	check := func(host string) (codes.Code, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := client.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: "198.51.100.4"}}}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Path: "/docs/a", Host: host, Scheme: "https",
				Headers: map[string]string{":authority": host, ":path": "/docs/a", ":method": "GET", "x-forwarded-proto": "https"},
			}},
		}})
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		return codes.Code(resp.GetStatus().GetCode()), int(resp.GetDeniedResponse().GetStatus().GetCode())
	}
	if code, _ := check("www.example.com"); code != codes.OK {
		t.Errorf("gRPC www = %v, want OK", code)
	}
	if code, status := check("internal.example.com"); code != codes.Unauthenticated || status != 401 {
		t.Errorf("gRPC internal = %v/%d, want Unauthenticated/401", code, status)
	}

	for host, want := range map[string]int{"www.example.com": 200, "internal.example.com": 401} {
		req, _ := http.NewRequest("GET", n.base+"/auth/verify/envoy/docs/a", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		testutil.ReadBody(t, resp)
		if resp.StatusCode != want {
			t.Errorf("HTTP service for %s = %d, want %d", host, resp.StatusCode, want)
		}
	}
}
