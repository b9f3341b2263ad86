package httpapi_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

var cspNonce = regexp.MustCompile(`'nonce-[^']+'`)

// The OIDC error page is rendered by the same code as every other page, so
// its Content-Security-Policy is the login page's (a nonce'd style, never
// 'unsafe-inline').
func TestOIDCErrorPageHasThePagesCSP(t *testing.T) {
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		// Discovery is lazy: an unreachable issuer does not stop the start.
		c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: "http://127.0.0.1:1", ClientID: "gatehouse"}}
	}))
	c := testutil.Client(t)
	login, _ := do(t, c, "GET", g.URL+"/login", "")
	failed, body := do(t, c, "GET", g.URL+"/auth/oidc/nope/start", "")
	if failed.StatusCode != http.StatusNotFound || !strings.Contains(body, "Unknown sign-in provider") {
		t.Fatalf("unknown provider = %d %s", failed.StatusCode, body)
	}
	pageCSP := cspNonce.ReplaceAllString(login.Header.Get("Content-Security-Policy"), "'nonce-N'")
	errorCSP := cspNonce.ReplaceAllString(failed.Header.Get("Content-Security-Policy"), "'nonce-N'")
	if pageCSP == "" || errorCSP != pageCSP {
		t.Errorf("OIDC error page CSP = %q, want the login page's %q", errorCSP, pageCSP)
	}
	if strings.Contains(errorCSP, "unsafe-inline") {
		t.Errorf("OIDC error page allows inline styles: %q", errorCSP)
	}
}

// An endpoint asked with a method it does not serve answers 405 with the
// methods it does serve in Allow (RFC 9110 section 15.5.6), as ServeMux
// would without the gateway behind it; a path no endpoint has stays 404.
func TestWrongMethodOnOwnEndpoint(t *testing.T) {
	g := testutil.Start(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/auth/token", 405, "POST"},
		{"PUT", "/auth/token", 405, "POST"},
		{"GET", "/auth/login", 405, "POST"},
		{"GET", "/auth/revoke", 405, "POST"},
		{"DELETE", "/auth/session", 405, "GET, HEAD"},
		{"PUT", "/auth/userinfo", 405, "GET, HEAD, POST"},
		{"PATCH", "/auth/sessions/abc", 405, "DELETE"},
		{"POST", "/healthz", 405, "GET, HEAD"},
		{"GET", "/auth/nothing", 404, ""},
		{"GET", "/auth/token/x", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), tt.method, g.URL+tt.path, "")
			if resp.StatusCode != tt.status || resp.Header.Get("Allow") != tt.allow {
				t.Fatalf("%s %s = %d Allow %q %s, want %d Allow %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Allow"), body, tt.status, tt.allow)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want the JSON error", got)
			}
		})
	}
}
