package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// The standard-client view of contract §8: what an RP built on go-oidc and
// x/oauth2 (or one that follows OIDC Discovery to the letter) meets.

// TestDiscoveryAsRelyingPartiesReadIt: every field an RP acts on says what
// the endpoints really do, including the ones whose absence means "yes".
func TestDiscoveryAsRelyingPartiesReadIt(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	if _, err := oidc.NewProvider(context.Background(), g.URL); err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	_, body := do(t, testutil.Client(t), "GET", g.URL+"/.well-known/openid-configuration", "")
	var d map[string]any
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if d["issuer"] != g.URL {
		t.Errorf("issuer = %v, want %s exactly", d["issuer"], g.URL)
	}
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
		"revocation_endpoint", "end_session_endpoint"} {
		if v, _ := d[k].(string); !strings.HasPrefix(v, g.URL+"/") {
			t.Errorf("%s = %v, want an absolute URL under the issuer", k, d[k])
		}
	}
	list := func(k string) []string {
		var out []string
		for _, v := range d[k].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	if got := list("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
		t.Errorf("code_challenge_methods_supported = %v", got)
	}
	if got := list("response_types_supported"); !slices.Equal(got, []string{"code"}) {
		t.Errorf("response_types_supported = %v", got)
	}
	_, jwks := do(t, testutil.Client(t), "GET", g.URL+"/.well-known/jwks.json", "")
	var set struct{ Keys []struct{ Alg string } }
	_ = json.Unmarshal([]byte(jwks), &set)
	algs := list("id_token_signing_alg_values_supported")
	for _, k := range set.Keys {
		if !slices.Contains(algs, k.Alg) {
			t.Errorf("JWKS key alg %s is not in id_token_signing_alg_values_supported %v", k.Alg, algs)
		}
	}
	// OIDC Discovery 1.0 §3: request_uri_parameter_supported defaults to
	// true when omitted; gatehouse refuses request objects, so it must say so.
	for _, k := range []string{"request_parameter_supported", "request_uri_parameter_supported"} {
		if d[k] != false {
			t.Errorf("%s = %v, want false (the authorization endpoint refuses it)", k, d[k])
		}
	}

	// And the refusals carry the OIDC Core §3.1.2.6 codes.
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()
	for param, want := range map[string]string{"request": "request_not_supported", "request_uri": "request_uri_not_supported"} {
		q := url.Values{"response_type": {"code"}, "client_id": {"other"}, "redirect_uri": {webCB}, "scope": {"openid"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"}, "state": {"s"},
			param: {"urn:example:x"}}
		resp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+q.Encode(), "")
		if got := redirected(t, resp, webCB).Get("error"); got != want {
			t.Errorf("authorize with %s: error=%q, want %s", param, got, want)
		}
		// RFC 6749 §3.1: a parameter without a value is as if omitted.
		q.Set(param, "")
		q.Set("response_mode", "")
		resp, _ = do(t, b, "GET", g.URL+"/auth/authorize?"+q.Encode(), "")
		if got := redirected(t, resp, webCB); got.Get("code") == "" {
			t.Errorf("authorize with empty %s and response_mode: %v, want a code", param, got)
		}
	}
}

// TestUserinfoPOST: OIDC Core §5.3.1 — the UserInfo endpoint MUST support
// GET and POST; RPs configured for POST send the bearer token in the
// Authorization header of a POST.
func TestUserinfoPOST(t *testing.T) {
	g := startApps(t)
	u := g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()
	code := codeFor(t, g, b, "other", webCB, v, "openid")
	resp, toks := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB},
		"code_verifier": {v}}, "other", otherSec)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange = %d %v", resp.StatusCode, toks)
	}
	at := toks["access_token"].(string)
	_, get := userinfo(t, g, at)
	resp, post := do(t, testutil.Client(t), "POST", g.URL+"/auth/userinfo", "", "Authorization", "Bearer "+at)
	if resp.StatusCode != http.StatusOK || post != get || decode(t, post)["sub"] != u.ID {
		t.Fatalf("POST userinfo = %d %s, want 200 %s", resp.StatusCode, post, get)
	}
	resp, _ = do(t, testutil.Client(t), "POST", g.URL+"/auth/userinfo", "", "Authorization", "Bearer "+at+"x")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("POST userinfo with a bad token = %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// TestClientSecretBasicEncodingWithRealLibrary: RFC 6749 §2.3.1 — x/oauth2
// form-urlencodes id and secret before Basic; a secret with ':', '%', '+',
// '&', '=' and spaces works in the header, in the body and with the
// library's auto-detection, for the code exchange and for refreshes.
func TestClientSecretBasicEncodingWithRealLibrary(t *testing.T) {
	const odd = "odd:secret%2F+with spaces&=0123456789abcdefghij"
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Clients = []config.Client{{ID: "odd.client", Type: "confidential", Secret: odd, RedirectURIs: []string{webCB},
			FirstParty: true, GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "offline_access"}}}
	}))
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, g.URL)
	if err != nil {
		t.Fatal(err)
	}
	for name, style := range map[string]oauth2.AuthStyle{"basic": oauth2.AuthStyleInHeader, "post": oauth2.AuthStyleInParams,
		"auto-detect": oauth2.AuthStyleAutoDetect} {
		t.Run(name, func(t *testing.T) {
			ep := provider.Endpoint()
			ep.AuthStyle = style
			conf := oauth2.Config{ClientID: "odd.client", ClientSecret: odd, Endpoint: ep, RedirectURL: webCB,
				Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}}
			v := oauth2.GenerateVerifier()
			resp, _ := do(t, b, "GET", conf.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), "")
			tok, err := conf.Exchange(ctx, redirected(t, resp, webCB).Get("code"), oauth2.VerifierOption(v))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			old := *tok
			old.Expiry = time.Now().Add(-time.Minute)
			if fresh, err := conf.TokenSource(ctx, &old).Token(); err != nil || fresh.RefreshToken == tok.RefreshToken {
				t.Fatalf("refresh = %v, %v", fresh, err)
			}
		})
	}
	// The same secret sent raw (not form-urlencoded) in Basic is not it.
	req, _ := http.NewRequest("POST", g.URL+"/auth/token", strings.NewReader("grant_type=refresh_token&refresh_token=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("odd.client", odd)
	raw, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := testutil.ReadBody(t, raw); raw.StatusCode != http.StatusUnauthorized || decode(t, body)["error"] != "invalid_client" ||
		!strings.HasPrefix(raw.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("unencoded Basic secret = %d %s %q, want 401 invalid_client with a Basic challenge", raw.StatusCode, body, raw.Header.Get("WWW-Authenticate"))
	}
}

// TestClientAuthFailuresElsewhereDoNotLockTheClientOut: an attacker who
// knows only a client_id (it is in every authorization URL) sends wrong
// secrets from a handful of addresses. Guessing a client secret (≥ 32
// characters, 256 random bits when generated) is hopeless, so there is
// nothing an account-wide lock would protect; it would only refuse the
// real app — every user's code exchange and refresh — for login.window.
// The attacker's own addresses are throttled; the app's is not.
func TestClientAuthFailuresElsewhereDoNotLockTheClientOut(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	post := func(form url.Values, ip, user, pass string) (*http.Response, map[string]any) {
		t.Helper()
		return tokenCall(t, g, form, user, pass, "X-Forwarded-For", ip)
	}
	limit := g.Config.Login.MaxFailures
	for _, victim := range []struct{ id, secret string }{{"other", otherSec}, {"spa", ""}} {
		t.Run(victim.id, func(t *testing.T) {
			// Far more than the account-wide limit (4 × max), from addresses
			// that each stay within their own.
			for i := range 5 * limit {
				ip := "203.0.113." + strconv.Itoa(1+i/limit)
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}
				resp, m := post(form, ip, victim.id, "wrong-secret-guess")
				if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("attempt %d = %d %v", i, resp.StatusCode, m)
				}
			}
			// The attacker's address is throttled…
			if resp, _ := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, "203.0.113.1", victim.id, "again"); resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("attacker address after %d failures = %d, want 429", limit, resp.StatusCode)
			}
			// …the app, from its own address, still exchanges its codes.
			v := oauth2.GenerateVerifier()
			redirect := webCB
			if victim.id == "spa" {
				redirect = "https://spa.example.com/cb"
			}
			form := url.Values{"grant_type": {"authorization_code"}, "code": {codeFor(t, g, b, victim.id, redirect, v, "openid")},
				"redirect_uri": {redirect}, "code_verifier": {v}}
			user := victim.id
			if victim.secret == "" {
				form.Set("client_id", victim.id)
				user = ""
			}
			if resp, m := post(form, "198.51.100.20", user, victim.secret); resp.StatusCode != http.StatusOK {
				t.Fatalf("the app's own exchange after failures elsewhere = %d %v (Retry-After %q), want 200",
					resp.StatusCode, m, resp.Header.Get("Retry-After"))
			}
		})
	}
}

// TestUnusableBasicHeaderIsInvalidClient: a client that sends an
// Authorization header with the Basic scheme attempted client_secret_basic
// (RFC 6749 §2.3.1). When that header cannot be read — not base64, no
// ':' — the request is 401 invalid_client with the Basic challenge (§5.2),
// never answered as if the header were absent: the client_secret in the
// body must not stand in for it. (Two headers are invalid_request:
// TestTwoClientAuthenticationsAreInvalidRequest.)
func TestUnusableBasicHeaderIsInvalidClient(t *testing.T) {
	g := startApps(t)
	good := "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:"+svcSecret))
	tests := []struct {
		name    string
		headers []string
		form    url.Values
	}{
		{"not base64, secret in the body", []string{"Basic %%%"},
			url.Values{"client_id": {"svc"}, "client_secret": {svcSecret}}},
		{"no colon, secret in the body", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("svc"))},
			url.Values{"client_id": {"svc"}, "client_secret": {svcSecret}}},
		{"lower-case scheme, not base64", []string{"basic %%%"},
			url.Values{"client_id": {"svc"}, "client_secret": {svcSecret}}},
		{"not base64, nothing else", []string{"Basic %%%"}, url.Values{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}}
			for k, v := range tt.form {
				form[k] = v
			}
			resp, body := postWithAuthorization(t, g.URL+"/auth/token", form, tt.headers...)
			if resp.StatusCode != http.StatusUnauthorized || decode(t, body)["error"] != "invalid_client" ||
				!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("= %d %s WWW-Authenticate %q, want 401 invalid_client with the Basic challenge",
					resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// The well-formed header alone still authenticates.
	if resp, body := postWithAuthorization(t, g.URL+"/auth/token", url.Values{"grant_type": {"client_credentials"}}, good); resp.StatusCode != http.StatusOK {
		t.Fatalf("well-formed Basic = %d %s, want 200", resp.StatusCode, body)
	}
}

// TestTwoClientAuthenticationsAreInvalidRequest: RFC 6749 §5.2 — a request
// that "utilizes more than one mechanism for authenticating the client" is
// invalid_request (400), at the token and the revocation endpoint: two
// Authorization headers (neither is picked), or Basic and a client_secret
// in the body.
func TestTwoClientAuthenticationsAreInvalidRequest(t *testing.T) {
	g := startApps(t)
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	tests := []struct {
		name    string
		headers []string
		form    url.Values
	}{
		{"two Basic headers", []string{basic("svc", svcSecret), basic("svc", "wrong")}, nil},
		{"the same Basic header twice", []string{basic("svc", svcSecret), basic("svc", svcSecret)}, nil},
		{"Basic and Bearer", []string{basic("svc", svcSecret), "Bearer x"}, nil},
		{"two Bearer headers, secret in the body", []string{"Bearer x", "Bearer y"},
			url.Values{"client_id": {"svc"}, "client_secret": {svcSecret}}},
		{"Basic and client_secret in the body", []string{basic("svc", svcSecret)}, url.Values{"client_secret": {svcSecret}}},
	}
	for _, path := range []string{"/auth/token", "/auth/revoke"} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				form := url.Values{"grant_type": {"client_credentials"}, "token": {"x"}}
				for k, v := range tt.form {
					form[k] = v
				}
				resp, body := postWithAuthorization(t, g.URL+path, form, tt.headers...)
				if resp.StatusCode != http.StatusBadRequest || decode(t, body)["error"] != "invalid_request" {
					t.Fatalf("= %d %s, want 400 invalid_request", resp.StatusCode, body)
				}
			})
		}
	}
}

// postWithAuthorization posts form to u with each of authorization as an
// Authorization header of its own: do sets one value per header name.
func postWithAuthorization(t *testing.T, u string, form url.Values, authorization ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, h := range authorization {
		req.Header.Add("Authorization", h)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, testutil.ReadBody(t, resp)
}
