package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestAPIEndpointsAnswerFormPostsWithJSON: the HTML error pages are for
// gatehouse's own forms. An endpoint no gatehouse form posts to answers a
// client whose Accept names text/html, as many HTTP libraries' defaults
// do, with the JSON error even when it sends a form body: the OAuth
// endpoints that take one (userinfo's POST, OIDC Core §5.3.1, with the
// Bearer challenge on a 401, RFC 6750 §3, contract §4; revocation, RFC
// 7009) and the WebAuthn ceremonies, which the pages' script calls with
// JSON.
func TestAPIEndpointsAnswerFormPostsWithJSON(t *testing.T) {
	g, proxy, _, tok := errorKindInstance(t)
	proxy.Stop() // revocation's deny-lists live in Redis
	tests := []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"userinfo without a credential", "/auth/userinfo", "", http.StatusUnauthorized, "unauthorized"},
		{"revocation, store down", "/auth/revoke", "token=" + tok, http.StatusServiceUnavailable, "unavailable"},
		{"passkey registration answer", "/auth/webauthn/register/finish", "name=laptop", http.StatusBadRequest, "invalid_request"},
		{"passkey assertion", "/auth/webauthn/login/finish", "credential=x", http.StatusBadRequest, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), "POST", g.URL+tt.path, tt.body, "Content-Type", formType, "Accept", browserHTML)
			wantFormRefusal(t, resp, body, false, tt.status, tt.code)
			if got := resp.Header.Get("WWW-Authenticate"); tt.status == http.StatusUnauthorized && !strings.HasPrefix(got, "Bearer") {
				t.Errorf("401: WWW-Authenticate = %q, want the Bearer challenge", got)
			}
		})
	}
}
