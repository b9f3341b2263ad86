package httpapi_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/openapitest"
	"github.com/gatehouse-auth/gatehouse/internal/user"
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

// TestDocumentedNameLimitsAreTheCodes: the length limits the documents
// spell out as text are the constants the code checks, so that changing a
// constant without its texts fails here. The OpenAPI "1 to 64 characters"
// is a passkey's name (mfa.MaxCredentialName), not a username's.
func TestDocumentedNameLimitsAreTheCodes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Schema struct {
						Properties map[string]struct {
							Description string `json:"description"`
						} `json:"properties"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(httpapi.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	passkeyName := doc.Paths["/auth/webauthn/register/finish"]["post"].RequestBody.Content["application/json"].Schema.Properties["name"].Description
	tests := []struct {
		name string
		text func(t *testing.T) string
		re   string
		want int
	}{
		{"oidc.md username of a new OIDC user", readDoc("oidc.md"), `username \(1 to (\d+) characters after normalisation`, user.MaxNameLen},
		{"architecture.md usernames", readDoc("architecture.md"), `Usernames \(1\.\.(\d+) characters after NFKC`, user.MaxNameLen},
		{"security.md passwords: a longer username", readDoc("security.md"), `a username longer than (\d+) characters \(after NFKC\)`, user.MaxNameLen},
		{"security.md limits table: username at login", readDoc("security.md"), `\| username at login \| (\d+) characters \|`, user.MaxNameLen},
		{"openapi.json passkey name at register finish", func(*testing.T) string { return passkeyName }, `^1 to (\d+) characters$`, mfa.MaxCredentialName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := regexp.MustCompile(tt.re).FindStringSubmatch(tt.text(t))
			if m == nil {
				t.Fatalf("no text matching %q", tt.re)
			}
			if got, err := strconv.Atoi(m[1]); err != nil || got != tt.want {
				t.Errorf("the text says %s, the code %d", m[1], tt.want)
			}
		})
	}
}

// readDoc returns a reader of docs/name whose text joins lines with
// spaces, as a sentence wraps in Markdown.
func readDoc(name string) func(*testing.T) string {
	return func(t *testing.T) string {
		t.Helper()
		b, err := os.ReadFile("../../docs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(strings.Fields(string(b)), " ")
	}
}
