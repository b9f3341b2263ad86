package oidc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
)

// backends are the main stores inbound back-channel logout runs on.
var backends = []struct {
	name string
	open func(t *testing.T) testStore
}{
	{"sqlite", func(t *testing.T) testStore { return sqlitetest.New(t) }},
	{"postgres", func(t *testing.T) testStore { return pgtest.New(t) }},
}

func withBackchannel(p *oidc.Provider) { p.BackchannelLogout = true }

// postLogout POSTs a logout_token form to provider's back-channel endpoint.
func (e *env) postLogout(provider string, form url.Values) response {
	e.t.Helper()
	resp, err := http.PostForm(e.srv.URL+"/auth/oidc/"+provider+"/backchannel-logout", form)
	if err != nil {
		e.t.Fatalf("POST backchannel-logout: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(b), header: resp.Header}
}

// sendLogout signs lt with the provider and posts it.
func (e *env) sendLogout(lt oidctestop.LogoutToken) response {
	e.t.Helper()
	raw, err := e.op.Sign(lt)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.postLogout("corp", url.Values{"logout_token": {raw}})
}

// loginAs logs in once in a fresh browser and returns the session's ID.
func (e *env) loginAs() string {
	e.t.Helper()
	e.newBrowser()
	if resp := e.login("/"); resp.status != http.StatusSeeOther {
		e.t.Fatalf("login: status %d: %s", resp.status, resp.body)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessionIDs[len(e.sessionIDs)-1]
}

// alive reports whether the session with public ID id still works.
func (e *env) alive(id string) bool {
	e.t.Helper()
	_, err := e.sessionMgr.LookupID(context.Background(), id)
	if err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
		e.t.Fatalf("look up session: %v", err)
	}
	return err == nil
}

func assertInvalidRequest(t *testing.T, resp response) {
	t.Helper()
	if resp.status != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400 (body %q)", resp.status, resp.body)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(resp.body), &body); err != nil || body["error"] != "invalid_request" {
		t.Errorf("body = %q, want {\"error\":\"invalid_request\"}", resp.body)
	}
	if got := resp.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}

// TestBackchannelLogoutRefusesBadTokens: every malformed or hostile logout
// token is 400 invalid_request and ends nothing.
func TestBackchannelLogoutRefusesBadTokens(t *testing.T) {
	other := oidctestop.Start(t) // a provider whose key gatehouse must not trust
	tests := []struct {
		name  string
		edit  func(e *env, lt *oidctestop.LogoutToken)
		other bool // signed by another provider's key
	}{
		{"wrong audience", func(_ *env, lt *oidctestop.LogoutToken) { lt.Audience = []string{"someone-else"} }, false},
		{"wrong issuer", func(_ *env, lt *oidctestop.LogoutToken) { lt.Issuer = other.Issuer() }, false},
		{"signed by another provider", nil, true},
		{"nonce present", func(_ *env, lt *oidctestop.LogoutToken) { lt.Nonce = "n-0S6_WzA2Mj" }, false},
		// §2.6: the token must not contain a nonce claim, whatever its value.
		{"nonce present as null", func(_ *env, lt *oidctestop.LogoutToken) { lt.Extra = map[string]any{"nonce": nil} }, false},
		{"expired", func(_ *env, lt *oidctestop.LogoutToken) {
			lt.IssuedAt, lt.Expiry = lt.IssuedAt.Add(-3*time.Minute), lt.IssuedAt.Add(-time.Minute)
		}, false},
		{"issued too long ago", func(_ *env, lt *oidctestop.LogoutToken) {
			lt.IssuedAt, lt.Expiry = lt.IssuedAt.Add(-time.Hour), lt.IssuedAt.Add(time.Hour)
		}, false},
		{"issued in the future", func(_ *env, lt *oidctestop.LogoutToken) {
			lt.IssuedAt, lt.Expiry = lt.IssuedAt.Add(time.Hour), lt.IssuedAt.Add(2*time.Hour)
		}, false},
		{"missing events", func(_ *env, lt *oidctestop.LogoutToken) { lt.Events = nil }, false},
		{"events without the back-channel member", func(_ *env, lt *oidctestop.LogoutToken) {
			lt.Events = map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}
		}, false},
		{"back-channel member not an object", func(_ *env, lt *oidctestop.LogoutToken) {
			lt.Events = map[string]any{oidctestop.BackchannelLogoutEvent: "yes"}
		}, false},
		{"neither sid nor sub", func(_ *env, lt *oidctestop.LogoutToken) { lt.SID, lt.Subject = "", "" }, false},
		{"no jti", func(_ *env, lt *oidctestop.LogoutToken) { lt.JTI = "" }, false},
		// Random, so that PostgreSQL cannot compress it under its index
		// entry limit: the replay insert failed with a 5xx, and the
		// provider retried the token.
		{"jti over 255 bytes", func(_ *env, lt *oidctestop.LogoutToken) { lt.JTI = random(3000) }, false},
		{"jti with a control character", func(_ *env, lt *oidctestop.LogoutToken) { lt.JTI = "j\x00ti" }, false},
		{"sid over 255 bytes", func(_ *env, lt *oidctestop.LogoutToken) { lt.SID = random(3000) }, false},
		{"sub over 255 bytes", func(_ *env, lt *oidctestop.LogoutToken) { lt.Subject, lt.SID = random(3000), "" }, false},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			e := newEnvOn(t, be.open(t), withBackchannel)
			id := e.loginAs()
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					lt := e.op.NewLogoutToken(alice.Subject)
					if tc.edit != nil {
						tc.edit(e, &lt)
					}
					signer := e.op
					if tc.other {
						signer = other
					}
					raw, err := signer.Sign(lt)
					if err != nil {
						t.Fatal(err)
					}
					assertInvalidRequest(t, e.postLogout("corp", url.Values{"logout_token": {raw}}))
					if !e.alive(id) {
						t.Fatal("a refused logout token ended the session")
					}
				})
			}
			t.Run("an ID token is not a logout token", func(t *testing.T) {
				lt := e.op.NewLogoutToken(alice.Subject)
				lt.Events, lt.Type = nil, "JWT" // what an ID token looks like, nonce aside
				lt.Nonce = "n"
				assertInvalidRequest(t, e.sendLogout(lt))
				if !e.alive(id) {
					t.Fatal("session ended")
				}
			})
			t.Run("no logout_token", func(t *testing.T) {
				assertInvalidRequest(t, e.postLogout("corp", url.Values{}))
			})
			t.Run("garbage", func(t *testing.T) {
				assertInvalidRequest(t, e.postLogout("corp", url.Values{"logout_token": {"a.b.c"}}))
			})
		})
	}
}

// TestBackchannelLogoutEndsSessions: a valid token ends the sessions of its
// provider session (sid) or subject, once; a replay is refused.
func TestBackchannelLogoutEndsSessions(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Run("sid ends that provider session's logins only", func(t *testing.T) {
				e := newEnvOn(t, be.open(t), withBackchannel)
				first, second := e.loginAs(), e.loginAs() // same provider session, two browsers
				e.op.NewSession()
				other := e.loginAs()
				e.op.SetUser(alice)
				lt := e.op.NewLogoutToken(alice.Subject)
				lt.SID = e.sidOf(first)
				resp := e.sendLogout(lt)
				if resp.status != http.StatusOK {
					t.Fatalf("status = %d, want 200 (%s)", resp.status, resp.body)
				}
				if got := resp.header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", got)
				}
				if e.alive(first) || e.alive(second) {
					t.Error("a session of the logged-out provider session still works")
				}
				if !e.alive(other) {
					t.Error("a session of another provider session ended")
				}

				// The same token again: refused, and nothing more ends.
				again := e.loginAs() // a new login in the same (renewed) provider session
				assertInvalidRequest(t, e.sendLogout(lt))
				if !e.alive(again) || !e.alive(other) {
					t.Error("a replayed logout token ended sessions")
				}
			})
			t.Run("sub alone ends every login of that subject", func(t *testing.T) {
				e := newEnvOn(t, be.open(t), withBackchannel)
				a1 := e.loginAs()
				e.op.NewSession()
				a2 := e.loginAs()
				bob := oidctestop.User{Subject: "b0b", PreferredUsername: "bob", Email: "bob@corp.example", EmailVerified: true}
				e.op.SetUser(bob)
				b := e.loginAs()
				lt := e.op.NewLogoutToken(alice.Subject)
				lt.SID = ""
				if resp := e.sendLogout(lt); resp.status != http.StatusOK {
					t.Fatalf("status = %d, want 200 (%s)", resp.status, resp.body)
				}
				if e.alive(a1) || e.alive(a2) {
					t.Error("a session of the subject still works")
				}
				if !e.alive(b) {
					t.Error("another subject's session ended")
				}
			})
			t.Run("unknown sid: 200, nothing ends", func(t *testing.T) {
				e := newEnvOn(t, be.open(t), withBackchannel)
				id := e.loginAs()
				lt := e.op.NewLogoutToken(alice.Subject)
				lt.SID = "not-a-session-of-ours"
				if resp := e.sendLogout(lt); resp.status != http.StatusOK {
					t.Fatalf("status = %d, want 200 (%s)", resp.status, resp.body)
				}
				if !e.alive(id) {
					t.Error("a logout token for an unknown sid ended a session")
				}
			})
			t.Run("sid of another subject ends nothing", func(t *testing.T) {
				e := newEnvOn(t, be.open(t), withBackchannel)
				id := e.loginAs()
				lt := e.op.NewLogoutToken("someone-else")
				if resp := e.sendLogout(lt); resp.status != http.StatusOK {
					t.Fatalf("status = %d, want 200 (%s)", resp.status, resp.body)
				}
				if !e.alive(id) {
					t.Error("a logout token naming another subject ended the session")
				}
			})
		})
	}
}

// sidOf is the provider's sid at the login that made gatehouse session id.
func (e *env) sidOf(id string) string {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sids[id]
}

func TestBackchannelLogoutNotEnabled(t *testing.T) {
	tests := []struct {
		name, provider string
		edit           func(*oidc.Provider)
	}{
		{"provider without backchannel_logout", "corp", nil},
		{"unknown provider", "nope", withBackchannel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.edit)
			id := e.loginAs()
			raw, err := e.op.Sign(e.op.NewLogoutToken(alice.Subject))
			if err != nil {
				t.Fatal(err)
			}
			resp := e.postLogout(tc.provider, url.Values{"logout_token": {raw}})
			if resp.status != http.StatusNotFound {
				t.Errorf("status = %d, want 404", resp.status)
			}
			if !e.alive(id) {
				t.Error("session ended")
			}
		})
	}
}

func TestBackchannelLogoutStoreDownFailsClosed(t *testing.T) {
	e := newEnv(t, withBackchannel)
	e.loginAs()
	raw, err := e.op.Sign(e.op.NewLogoutToken(alice.Subject))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	resp := e.postLogout("corp", url.Values{"logout_token": {raw}})
	if resp.status != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503 (%s)", resp.status, resp.body)
	}
	if !strings.Contains(resp.body, "error") {
		t.Errorf("body %q is not a JSON error", resp.body)
	}
}

// failingKeys fails every request for the provider's JWKS while down is
// set: a provider whose keys endpoint cannot be reached.
type failingKeys struct {
	jwks string
	down atomic.Bool
}

func (f *failingKeys) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.down.Load() && r.URL.String() == f.jwks {
		return nil, errors.New("dial tcp: connection refused")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// linkDown is a store whose provider-session links fail, as during an
// outage.
type linkDown struct{ oidc.LogoutStore }

func (linkDown) LinkProviderSession(context.Context, string, string, string, string, string, time.Time, time.Time) error {
	return fmt.Errorf("link provider session: %w", auth.ErrUnavailable)
}

// A login whose provider session cannot be recorded fails closed (503),
// and the browser gets no session cookie, even when ending the session it
// started fails too: that session would be alive, in the browser, and out
// of the provider's logout's reach.
func TestLoginFailingToLinkSetsNoSessionCookie(t *testing.T) {
	e := newEnv(t, withBackchannel)
	h, err := oidc.New(context.Background(), oidc.Deps{
		Providers: []oidc.Provider{func() oidc.Provider { p := e.providerConfig(); withBackchannel(&p); return p }()},
		PublicURL: e.srv.URL, Users: e.userService, StateKey: e.key, Now: e.clock.Now,
		StartSession: func(w http.ResponseWriter, r *http.Request, u auth.User, method string) (oidc.StartedSession, error) {
			rec, err := e.sessionMgr.StartSession(w, r, u.ID, method)
			return oidc.StartedSession{ID: rec.ID, ExpiresAt: rec.ExpiresAt}, err
		},
		Logouts:    linkDown{e.store},
		EndSession: func(context.Context, string) error { return fmt.Errorf("revoke session: %w", auth.ErrUnavailable) },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.h = h
	e.mu.Unlock()
	resp, err := e.browser.Get(e.begin("corp", "/").String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == e.sessionMgr.CookieName() && c.MaxAge >= 0 && c.Value != "" {
			t.Errorf("the failed login set the session cookie %s", c.Name)
		}
	}
}

// jwksURI reads the provider's jwks_uri from its discovery document.
func jwksURI(t *testing.T, issuer string) string {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil || meta.JWKS == "" {
		t.Fatalf("discovery: jwks_uri %q, %v", meta.JWKS, err)
	}
	return meta.JWKS
}

// A token checked against keys that could not be fetched is not known to
// be invalid. A back-channel logout then gets 503, so the provider retries
// it (a 400 tells it the token is bad, and the logout is lost), and the
// retry ends the session once the keys are back. A login gets the
// provider-unavailable page, not "invalid ID token".
func TestProviderKeysUnreachable(t *testing.T) {
	e := newEnv(t, withBackchannel)
	keys := &failingKeys{jwks: jwksURI(t, e.op.Issuer())}
	id := e.loginAs()
	e.client = &http.Client{Transport: keys}
	e.configure(e.providerConfig(), withBackchannel) // a fresh handler: no keys fetched yet
	keys.down.Store(true)

	raw, err := e.op.Sign(e.op.NewLogoutToken(alice.Subject))
	if err != nil {
		t.Fatal(err)
	}
	if resp := e.postLogout("corp", url.Values{"logout_token": {raw}}); resp.status != http.StatusServiceUnavailable {
		t.Errorf("logout with the keys unreachable = %d %s, want 503", resp.status, resp.body)
	}
	if !e.alive(id) {
		t.Fatal("the session ended although the logout token was not verified")
	}
	e.newBrowser()
	if resp := e.login("/"); resp.status != http.StatusBadGateway || !strings.Contains(resp.body, "cannot be reached") {
		t.Errorf("login with the keys unreachable = %d, want 502 provider unavailable:\n%s", resp.status, resp.body)
	}

	// The keys are asked for again once the floor of the failed fetch
	// has passed (TestProviderKeysDownWithinTheFloor).
	keys.down.Store(false)
	e.clock.Advance(oidc.KeyRefetchFloor + 1)
	if resp := e.postLogout("corp", url.Values{"logout_token": {raw}}); resp.status != http.StatusOK {
		t.Errorf("the provider's retry = %d %s, want 200", resp.status, resp.body)
	}
	if e.alive(id) {
		t.Error("the session is still alive after the retried logout")
	}
}

// TestBackchannelLogoutPurge: a session's link to its provider session goes
// when the session's absolute end has passed, with the logout token IDs
// kept for replay checks; live ones stay.
func TestBackchannelLogoutPurge(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			e := newEnvOn(t, be.open(t), withBackchannel)
			e.loginAs()
			lt := e.op.NewLogoutToken("nobody")
			if resp := e.sendLogout(lt); resp.status != http.StatusOK {
				t.Fatalf("logout = %d %s", resp.status, resp.body)
			}
			if n, err := e.handler().PurgeExpired(context.Background()); err != nil || n != 0 {
				t.Fatalf("PurgeExpired while everything is live = %d, %v; want 0", n, err)
			}
			e.clock.Advance(25 * time.Hour) // past the session's absolute end (24h) and the jti's keep time
			if n, err := e.handler().PurgeExpired(context.Background()); err != nil || n != 2 {
				t.Fatalf("PurgeExpired after the end = %d, %v; want 2 (one link, one jti)", n, err)
			}
		})
	}
}
