package extauthz_test

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	// Registered for the typed_config "@type" names of the snippets, which
	// protojson resolves through the global registry.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/extauthz"
)

// yamlBlocks returns the ```yaml blocks of a docs page, in order.
func yamlBlocks(t *testing.T, page string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", page))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// commentedYAML is the YAML a snippet shows as comments after the comment
// line that starts with intro: the following "#   " lines, uncommented.
func commentedYAML(t *testing.T, block, intro string) string {
	t.Helper()
	var out []string
	found := false
	for line := range strings.SplitSeq(block, "\n") {
		switch {
		case !found:
			found = strings.HasPrefix(line, "# "+intro)
		case strings.HasPrefix(line, "#   "):
			out = append(out, strings.TrimPrefix(line, "#   "))
		default:
			return strings.Join(out, "\n")
		}
	}
	if !found {
		t.Fatalf("no comment %q in the snippet", intro)
	}
	return strings.Join(out, "\n")
}

// decodeEnvoy decodes YAML as Envoy reads it (YAML → JSON → protojson, an
// unknown field or enum value an error) into m and runs the messages'
// protoc-gen-validate rules, which Envoy applies to a config too.
func decodeEnvoy(t *testing.T, name, src string, m proto.Message) {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		t.Fatalf("%s: not YAML: %v\n%s", name, err, src)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(j, m); err != nil {
		t.Fatalf("%s: Envoy would refuse it: %v\n%s", name, err, src)
	}
	if vm, ok := m.(interface{ ValidateAll() error }); ok {
		if err := vm.ValidateAll(); err != nil {
			t.Fatalf("%s: Envoy would refuse it: %v\n%s", name, err, src)
		}
	}
}

// TestEnvoySnippetsDecode decodes every Envoy configuration docs/envoy.md
// shows into Envoy's own protos (go-control-plane, the version the gRPC
// tests use), failing on an unknown field, a wrong type or a broken
// validation rule: no Envoy runs here, so this is what keeps a copied
// snippet from being refused at Envoy's start. The gatehouse.yaml snippet
// goes through config.Parse and Validate; the Envoy Gateway and Istio
// resources are Kubernetes objects without protos here, so only their
// YAML is checked, and a new kind of snippet fails until it is classified.
func TestEnvoySnippetsDecode(t *testing.T) {
	blocks := yamlBlocks(t, "envoy.md")
	seen := map[string]int{}
	for i, block := range blocks {
		switch {
		case strings.Contains(block, "\nhttp_filters:") || strings.HasPrefix(block, "http_filters:"):
			seen["grpc"]++
			var doc struct {
				HTTPFilters any `yaml:"http_filters"`
				Clusters    any `yaml:"clusters"`
			}
			if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
				t.Fatalf("block %d: %v", i, err)
			}
			filters, err := yaml.Marshal(map[string]any{
				// What a HttpConnectionManager needs besides its filters.
				"stat_prefix": "ingress", "route_config": map[string]any{"name": "local"},
				"http_filters": doc.HTTPFilters,
			})
			if err != nil {
				t.Fatal(err)
			}
			var hcm hcmv3.HttpConnectionManager
			decodeEnvoy(t, "gRPC http_filters", string(filters), &hcm)
			if len(hcm.GetHttpFilters()) != 2 {
				t.Fatalf("gRPC http_filters: %d filters, want ext_authz and router", len(hcm.GetHttpFilters()))
			}
			var ea extauthzv3.ExtAuthz
			if err := hcm.GetHttpFilters()[0].GetTypedConfig().UnmarshalTo(&ea); err != nil {
				t.Fatal(err)
			}
			if ea.GetGrpcService().GetEnvoyGrpc().GetClusterName() != "gatehouse_ext_authz" || ea.GetFailureModeAllow() {
				t.Errorf("gRPC filter: cluster %q, failure_mode_allow %v; want gatehouse_ext_authz, false",
					ea.GetGrpcService().GetEnvoyGrpc().GetClusterName(), ea.GetFailureModeAllow())
			}
			var opts hcmv3.HttpConnectionManager
			decodeEnvoy(t, "HttpConnectionManager options (comment)",
				"stat_prefix: ingress\nroute_config: { name: local }\n"+commentedYAML(t, block, "on the HttpConnectionManager:"), &opts)
			if !opts.GetUseRemoteAddress().GetValue() || !opts.GetStripAnyHostPort() || !opts.GetStripTrailingHostDot() {
				t.Error("HttpConnectionManager options: want use_remote_address, strip_any_host_port and strip_trailing_host_dot")
			}
			perRoute := commentedYAML(t, block, "and on gatehouse's own paths")
			var route routev3.Route
			decodeEnvoy(t, "per-route typed_per_filter_config (comment)",
				"match: { prefix: /auth/ }\ndirect_response: { status: 404 }\n"+perRoute, &route)
			var off extauthzv3.ExtAuthzPerRoute
			if err := route.GetTypedPerFilterConfig()["envoy.filters.http.ext_authz"].UnmarshalTo(&off); err != nil || !off.GetDisabled() {
				t.Errorf("per-route config: disabled %v, %v; want ext_authz disabled", off.GetDisabled(), err)
			}
			clusters, ok := doc.Clusters.([]any)
			if !ok || len(clusters) == 0 {
				t.Fatal("gRPC snippet: no clusters")
			}
			for _, c := range clusters {
				src, err := yaml.Marshal(c)
				if err != nil {
					t.Fatal(err)
				}
				decodeEnvoy(t, "cluster", string(src), &clusterv3.Cluster{})
			}
		case strings.Contains(block, "http_service:"):
			seen["http"]++
			// The snippet is the ext_authz filter's typed_config, indented as
			// under the gRPC example's.
			var ea extauthzv3.ExtAuthz
			decodeEnvoy(t, "http_service", dedent(block), &ea)
			if ea.GetHttpService().GetPathPrefix() != extauthz.HTTPPath {
				t.Errorf("http_service path_prefix %q, want %q", ea.GetHttpService().GetPathPrefix(), extauthz.HTTPPath)
			}
		case strings.HasPrefix(block, "# gatehouse.yaml"):
			seen["gatehouse"]++
			cfg := config.Default()
			if err := config.Parse([]byte(block), "envoy.md", &cfg); err != nil {
				t.Fatal(err)
			}
			if errs := cfg.Validate(); len(errs) > 0 {
				t.Fatalf("gatehouse.yaml snippet: %v", errs)
			}
		case strings.Contains(block, "kind: SecurityPolicy"), strings.Contains(block, "kind: AuthorizationPolicy"):
			seen["kubernetes"]++
			dec := yaml.NewDecoder(strings.NewReader(block))
			for {
				var v any
				if err := dec.Decode(&v); err != nil {
					if errors.Is(err, io.EOF) {
						break
					}
					t.Fatalf("block %d: not YAML: %v", i, err)
				}
			}
		default:
			t.Errorf("block %d of docs/envoy.md is of no kind this test knows; decode it here:\n%s", i, block)
		}
	}
	want := map[string]int{"grpc": 1, "http": 1, "gatehouse": 1, "kubernetes": 2}
	for k, n := range want {
		if seen[k] != n {
			t.Errorf("%s snippets: %d, want %d", k, seen[k], n)
		}
	}
}

// dedent removes the indentation of a block's first line from every line.
func dedent(block string) string {
	first := block[:len(block)-len(strings.TrimLeft(block, " "))]
	var out []string
	for line := range strings.SplitSeq(block, "\n") {
		out = append(out, strings.TrimPrefix(line, first))
	}
	return strings.Join(out, "\n")
}
