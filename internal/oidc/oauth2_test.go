package oidc_test

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/oidc"
)

// fakeGitHub acts as GitHub's OAuth 2.0 endpoints: authorize (auto-approve),
// access_token (checks client secret, code and PKCE verifier) and /user.
type fakeGitHub struct {
	srv         *httptest.Server
	redirectURI string
	user        map[string]any

	mu       sync.Mutex
	codes    map[string]string // code -> code_challenge
	tokens   map[string]bool
	lastAuth url.Values
	issued   int
}

func (g *fakeGitHub) setUser(u map[string]any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.user = u
}

const ghClientID, ghSecret = "gh-client", "gh-secret-0123456789"

func startFakeGitHub(t *testing.T, redirectURI string) *fakeGitHub {
	t.Helper()
	g := &fakeGitHub{redirectURI: redirectURI, codes: map[string]string{}, tokens: map[string]bool{},
		user: map[string]any{"id": 583231, "login": "octocat", "email": "octo@example.com", "name": "The Octocat"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", g.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", g.token)
	mux.HandleFunc("GET /user", g.userinfo)
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	g.mu.Lock()
	g.lastAuth = q
	g.mu.Unlock()
	if q.Get("client_id") != ghClientID || q.Get("redirect_uri") != g.redirectURI || q.Get("code_challenge_method") != "S256" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.issued++
	code := fmt.Sprintf("code-%d", g.issued)
	g.codes[code] = q.Get("code_challenge")
	g.mu.Unlock()
	http.Redirect(w, r, g.redirectURI+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
}

func (g *fakeGitHub) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	g.mu.Lock()
	challenge, known := g.codes[r.PostFormValue("code")]
	delete(g.codes, r.PostFormValue("code"))
	g.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	w.Header().Set("Content-Type", "application/json")
	if id != ghClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(ghSecret)) != 1 || !known ||
		base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "bad_verification_code"})
		return
	}
	g.mu.Lock()
	g.tokens["gho_token"] = true
	g.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]string{"access_token": "gho_token", "token_type": "bearer", "scope": "read:user"})
}

func (g *fakeGitHub) userinfo(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	ok := g.tokens[r.Header.Get("Authorization")[len("Bearer "):]]
	g.mu.Unlock()
	if !ok {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	g.mu.Lock()
	defer g.mu.Unlock()
	_ = json.NewEncoder(w).Encode(g.user)
}

func (e *env) useGitHub(t *testing.T, edit func(*oidc.Provider)) *fakeGitHub {
	t.Helper()
	g := startFakeGitHub(t, e.srv.URL+"/auth/oidc/github/callback")
	p := oidc.Provider{
		Name: "github", DisplayName: "GitHub", Type: "oauth2", ClientID: ghClientID, ClientSecret: ghSecret,
		AuthURL: g.srv.URL + "/login/oauth/authorize", TokenURL: g.srv.URL + "/login/oauth/access_token",
		UserinfoURL: g.srv.URL + "/user", Scopes: []string{"read:user"}, CreateUsers: true, DefaultRoles: []string{"dev"},
	}
	if edit != nil {
		edit(&p)
	}
	e.configureProviders(p)
	return g
}

func TestOAuth2ProviderLogin(t *testing.T) {
	e := newEnv(t, nil)
	g := e.useGitHub(t, nil)
	resp := e.get(e.begin("github", "/code").String())
	if resp.status != http.StatusSeeOther || resp.location != "/code" {
		t.Fatalf("callback: %d to %q, want 303 to /code (body %q)", resp.status, resp.location, resp.body)
	}
	g.mu.Lock()
	lastAuth := g.lastAuth
	g.mu.Unlock()
	if got := lastAuth.Get("nonce"); got != "" {
		t.Errorf("plain OAuth 2.0 authorization request carries nonce %q", got)
	}
	if got := len(lastAuth.Get("state")); got < 22 {
		t.Errorf("state has %d characters, want >= 22", got)
	}
	u := e.sessionUsers()[0]
	if u.Username != "octocat" || len(u.Roles) != 1 || u.Roles[0] != "dev" {
		t.Errorf("user = %+v, want octocat with roles [dev]", u)
	}
	ids, err := e.store.UserIdentities(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0].Issuer != g.srv.URL || ids[0].Subject != "583231" {
		t.Errorf("identities = %+v, want issuer %s (auth_url origin), subject 583231", ids, g.srv.URL)
	}
	if resp := e.get(e.begin("github", "/").String()); resp.status != http.StatusSeeOther {
		t.Fatalf("second login: %d, want 303", resp.status)
	}
	if got, want := e.sessionUsers()[1].ID, u.ID; got != want {
		t.Errorf("second login is user %q, want %q", got, want)
	}
}

func TestOAuth2ClaimMapping(t *testing.T) {
	tests := []struct {
		name     string
		claims   oidc.ClaimMapping
		userJSON map[string]any
		local    string // existing local username
		linked   bool
	}{
		{"unmapped email_verified never links", oidc.ClaimMapping{},
			map[string]any{"id": 7, "login": "octo", "email": "octo@example.com"}, "octo@example.com", false},
		{"mapped email_verified links", oidc.ClaimMapping{Subject: "uid", Username: "handle", Email: "mail", EmailVerified: "mail_ok"},
			map[string]any{"uid": "u-7", "handle": "octo", "mail": "octo@example.com", "mail_ok": true}, "octo@example.com", true},
		{"mapped email_verified false does not link", oidc.ClaimMapping{EmailVerified: "verified"},
			map[string]any{"id": 7, "login": "octo", "email": "octo@example.com", "verified": false}, "octo@example.com", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			local := e.createLocalUser(tc.local, false)
			g := e.useGitHub(t, func(p *oidc.Provider) { p.Claims, p.LinkByEmail, p.CreateUsers = tc.claims, true, false })
			g.setUser(tc.userJSON)
			resp := e.get(e.begin("github", "/").String())
			if !tc.linked {
				e.assertRefused(resp, http.StatusForbidden, "no_local_account")
				return
			}
			if resp.status != http.StatusSeeOther {
				t.Fatalf("status = %d, want 303 (body %q)", resp.status, resp.body)
			}
			if got := e.sessionUsers()[0].ID; got != local.ID {
				t.Errorf("logged in as %q, want %q", got, local.ID)
			}
		})
	}
}

func TestOAuth2UserinfoFailure(t *testing.T) {
	e := newEnv(t, nil)
	g := e.useGitHub(t, nil)
	g.setUser(map[string]any{"login": "no-id"})
	e.assertRefused(e.get(e.begin("github", "/").String()), http.StatusBadGateway, "subject_missing")
}
