package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestRevokeThrottlesWrongClientSecrets: /auth/revoke authenticates
// confidential clients as the token endpoint does, so wrong secrets from
// one address are throttled there too — 429 with Retry-After, as
// openapi.json describes (every exchange below is checked against it).
func TestRevokeThrottlesWrongClientSecrets(t *testing.T) {
	g := startApps(t)
	c := testutil.Client(t)
	form := url.Values{"token": {"x"}}.Encode()
	revoke := func(secret string) *http.Response {
		t.Helper()
		resp, _ := do(t, c, "POST", g.URL+"/auth/revoke", form,
			"Content-Type", "application/x-www-form-urlencoded",
			"Authorization", "Basic "+basic("other", secret),
			"X-Forwarded-For", "203.0.113.9")
		return resp
	}
	for i := range g.Config.Login.MaxFailures {
		if resp := revoke("wrong-secret-guess"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong secret %d = %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp := revoke("wrong-secret-guess")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after %d wrong secrets = %d (Retry-After %q), want 429 with Retry-After",
			g.Config.Login.MaxFailures, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
