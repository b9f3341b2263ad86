package admin_test

import (
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/admin"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

func TestConsoleAccess(t *testing.T) {
	e := start(t)
	tests := []struct {
		name     string
		header   []string
		status   int
		location string
	}{
		{"no session goes to login", nil, 302, "/login?next=%2Fadmin%2Fusers%3Fq%3Dal"},
		{"non-admin gets a 403 page", e.cookie(e.aliceCookie), 403, ""},
		{"admin sees the page", e.cookie(e.rootCookie), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", "/admin/users?q=al", "", append([]string{"Accept", "text/html"}, tt.header...)...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Location"); got != tt.location {
				t.Errorf("Location = %q, want %q", got, tt.location)
			}
			if tt.status == 302 {
				return
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("CSP = %q", csp)
			}
			if strings.Contains(strings.ToLower(body), "<script") {
				t.Error("the page has a script")
			}
			if tt.status == 200 && (!strings.Contains(body, ">alice</a>") || strings.Contains(body, ">root</a>")) {
				t.Errorf("search for 'al' should list alice only:\n%s", body)
			}
		})
	}
}

func TestConsoleRevokeSessionAndExplain(t *testing.T) {
	up := testutil.StartUpstream(t)
	e := start(t, testutil.WithConfig(func(c *config.Config) {
		c.Routes = []config.Route{{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: up.URL, Auth: "session"}}
	}))
	admin := append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)
	_, page := e.do(t, "GET", "/admin/users/alice", "", admin...)
	m := regexp.MustCompile(`action="(/admin/users/alice/sessions/[^"]+/revoke)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no revoke form on alice's page:\n%s", page)
	}
	form := []string{"Content-Type", "application/x-www-form-urlencoded"}
	if resp, _ := e.do(t, "POST", m[1], "", append(append([]string{"Sec-Fetch-Site", "cross-site"}, form...), admin...)...); resp.StatusCode != 403 {
		t.Fatalf("cross-site revoke = %d, want 403", resp.StatusCode)
	}
	if resp, _ := e.do(t, "GET", "/app/x", "", e.cookie(e.aliceCookie)...); resp.StatusCode != 200 {
		t.Fatalf("alice before revoke = %d", resp.StatusCode)
	}
	resp, _ := e.do(t, "POST", m[1], "", append(append([]string{"Sec-Fetch-Site", "same-origin"}, form...), admin...)...)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/users/alice" {
		t.Fatalf("revoke = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := e.do(t, "GET", "/app/x", "", e.cookie(e.aliceCookie)...); resp.StatusCode != 401 {
		t.Errorf("alice after revoke = %d, want 401", resp.StatusCode)
	}

	q := url.Values{"method": {"GET"}, "url": {"/app/x"}, "cookie": {e.aliceCookie}}
	_, out := e.do(t, "POST", "/admin/explain", q.Encode(), append(append([]string{"Sec-Fetch-Site", "same-origin"}, form...), admin...)...)
	if !strings.Contains(out, `<code id="reason">invalid_session</code>`) {
		t.Errorf("explain page does not show invalid_session:\n%s", out)
	}
	if strings.Contains(out, e.aliceCookie) {
		t.Error("the explain page echoes the cookie")
	}
}

func TestConsolePages(t *testing.T) {
	e := start(t)
	admin := append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)
	for path, want := range map[string]string{
		"/admin/":                    "",
		"/admin/keys":                "Rotate now",
		"/admin/audit?type=login.ok": "login.ok",
		"/admin/explain":             "Explain a decision",
		"/admin/users/root":          "Sign out everywhere",
	} {
		resp, body := e.do(t, "GET", path, "", admin...)
		if want == "" {
			if resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/users" {
				t.Errorf("%s = %d %q, want 303 to /admin/users", path, resp.StatusCode, resp.Header.Get("Location"))
			}
			continue
		}
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("%s = %d, want 200 with %q", path, resp.StatusCode, want)
		}
	}
	if resp, _ := e.do(t, "GET", "/admin/users/nobody", "", admin...); resp.StatusCode != 404 {
		t.Errorf("unknown user page = %d, want 404", resp.StatusCode)
	}
}

// TestOpenAPIDescribesEveryAdminEndpoint reads the patterns of api.go and
// console.go and requires each in httpapi's OpenAPI document.
func TestOpenAPIDescribesEveryAdminEndpoint(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(httpapi.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for file, re := range map[string]string{"api.go": `api\("([A-Z]+) ([^"]+)"`, "console.go": `page\("([A-Z]+) ([^"]+)"`} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(string(src), -1) {
			path := strings.TrimSuffix(m[2], "{$}")
			if file == "api.go" {
				path = admin.Prefix + path
			}
			n++
			if _, ok := doc.Paths[path][strings.ToLower(m[1])]; !ok {
				t.Errorf("openapi.json lacks %s %s", m[1], path)
			}
		}
	}
	if n < 25 {
		t.Fatalf("found only %d patterns", n)
	}
}
