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
