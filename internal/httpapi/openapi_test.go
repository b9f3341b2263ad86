package httpapi_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/openapitest"
)

func TestOpenAPIIsServed(t *testing.T) {
	i := testutil.Start(t)
	resp, body := do(t, testutil.Client(t), "GET", i.URL+"/openapi.json", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if body != string(httpapi.OpenAPI) {
		t.Error("the served document is not the embedded one")
	}
	if !strings.HasPrefix(decode(t, body)["openapi"].(string), "3.1") {
		t.Error("not OpenAPI 3.1")
	}
	openapitest.Router(t) // parses and validates
}

// TestOpenAPIDescribesEveryEndpoint reads the patterns routes.go registers
// and requires each in the document, so that an endpoint no test calls
// cannot be missing from it either.
func TestOpenAPIDescribesEveryEndpoint(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(httpapi.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	patterns := regexp.MustCompile(`own\("([A-Z]+) ([^"]+)"`).FindAllStringSubmatch(string(src), -1)
	for _, p := range []string{gateway.VerifyPath, gateway.VerifyNginxPath, gateway.VerifyForwardPath} {
		patterns = append(patterns, []string{"", "GET", p})
	}
	if len(patterns) < 20 {
		t.Fatalf("found only %d patterns in routes.go", len(patterns))
	}
	for _, m := range patterns {
		method, path := strings.ToLower(m[1]), m[2]
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("openapi.json lacks %s %s", m[1], path)
		}
	}
}
