package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// What an outside conformance suite (OpenID Foundation basic OP, RFC 6749,
// RFC 9110) checks of contract §8 beyond the happy path.

// A registered redirect URI's own query is kept byte for byte (RFC 6749
// §3.1.2: it "MUST be retained when adding additional query
// parameters"): a bare key, a ';' pair and the order stay as registered.
const queryCB = "https://rp.example.com/cb?tenant=a&flag&b=1;c=2"

// TestRedirectURIKeepsItsRegisteredQuery: the code, the error and the
// post-logout redirect all start with the registered URI verbatim and
// add their parameters after it.
func TestRedirectURIKeepsItsRegisteredQuery(t *testing.T) {
	const outURI = "https://rp.example.com/out?x=1&y"
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Clients = []config.Client{{ID: "other", Type: "confidential", Secret: otherSec, FirstParty: true,
			RedirectURIs: []string{queryCB}, PostLogoutRedirectURIs: []string{outURI},
			GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}}}
	}))
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()
	authz := func(scope string) string {
		return g.URL + "/auth/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"other"},
			"redirect_uri": {queryCB}, "scope": {scope}, "state": {"st"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"}}.Encode()
	}
	tests := []struct {
		name, url, registered string
		b                     *http.Client
		want                  map[string]string // added parameters that must be present
	}{
		{"code", authz("openid"), queryCB, b, map[string]string{"state": "st", "iss": g.URL}},
		{"error", authz("openid admin"), queryCB, b, map[string]string{"error": "invalid_scope", "state": "st", "iss": g.URL}},
		{"post-logout", g.URL + "/auth/end_session?" + url.Values{"client_id": {"other"},
			"post_logout_redirect_uri": {outURI}, "state": {"s t"}}.Encode(), outURI, testutil.Client(t), map[string]string{"state": "s t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := do(t, tt.b, "GET", tt.url, "")
			loc := resp.Header.Get("Location")
			if resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, tt.registered+"&") {
				t.Fatalf("= %d Location %q, want the registered %q with parameters appended", resp.StatusCode, loc, tt.registered)
			}
			added, err := url.ParseQuery(strings.TrimPrefix(loc, tt.registered+"&"))
			if err != nil {
				t.Fatalf("appended parameters %q: %v", loc, err)
			}
			for k, want := range tt.want {
				if got := added[k]; len(got) != 1 || got[0] != want {
					t.Errorf("%s = %q, want exactly [%q] (Location %q)", k, got, want, loc)
				}
			}
		})
	}
}

// TestInvalidClientAlwaysChallenges: RFC 9110 §15.5.2 — a 401 MUST carry
// WWW-Authenticate, not only when the client used Basic: a confidential
// client that sent no secret, a wrong secret in the body, or no client at
// all where one is required are 401 invalid_client with the Basic
// challenge, at the token and the revocation endpoint.
func TestInvalidClientAlwaysChallenges(t *testing.T) {
	g := startApps(t)
	v := oauth2.GenerateVerifier()
	code := url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {webCB}, "code_verifier": {v}}
	with := func(f url.Values, kv ...string) url.Values {
		out := url.Values{}
		for k, vs := range f {
			out[k] = vs
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	tests := []struct {
		name, path string
		form       url.Values
		user, pass string
	}{
		{"confidential client without a secret", "/auth/token", with(code, "client_id", "web"), "", ""},
		{"wrong secret in the body", "/auth/token", with(code, "client_id", "web", "client_secret", "wrong"), "", ""},
		{"wrong secret by Basic", "/auth/token", code, "web", "wrong"},
		{"code exchange without any client", "/auth/token", code, "", ""},
		{"client_credentials without any client", "/auth/token", url.Values{"grant_type": {"client_credentials"}}, "", ""},
		{"unknown client in the body", "/auth/token", with(code, "client_id", "ghost"), "", ""},
		{"revoke by a confidential client without its secret", "/auth/revoke", url.Values{"token": {"x"}, "client_id": {"web"}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", g.URL+tt.path, strings.NewReader(tt.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.user != "" {
				req.SetBasicAuth(url.QueryEscape(tt.user), url.QueryEscape(tt.pass))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			m := decode(t, testutil.ReadBody(t, resp))
			if resp.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_client" {
				t.Fatalf("= %d %v, want 401 invalid_client", resp.StatusCode, m)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
				t.Errorf("WWW-Authenticate = %q, want the Basic challenge", got)
			}
		})
	}
}
