package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// passkeyOrigin is the public_url of the WebAuthn tests: WebAuthn needs a
// domain (RP ID "localhost"), not the listener's IP address.
const passkeyOrigin = "http://localhost:8099"

// stores are the main stores every WebAuthn test runs on.
var stores = []string{"sqlite", "postgres"}

// passkeyInstance starts gatehouse with public_url on localhost and the
// main store named by store, then changed by more.
func passkeyInstance(t *testing.T, store string, more ...func(*config.Config)) *testutil.Instance {
	t.Helper()
	dsn := ""
	if store == "postgres" {
		dsn = pgtest.DSN(t)
	}
	return mfaInstance(t, func(c *config.Config) {
		c.PublicURL = passkeyOrigin
		if dsn != "" {
			c.Store = dsn
		}
		for _, fn := range more {
			fn(c)
		}
	})
}

// eachStore runs fn on a fresh instance per store.
func eachStore(t *testing.T, fn func(t *testing.T, g *testutil.Instance)) {
	t.Helper()
	for _, st := range stores {
		t.Run(st, func(t *testing.T) { fn(t, passkeyInstance(t, st)) })
	}
}

// securityKey is a roaming authenticator without backup: its credentials
// earn "hwk".
func securityKey() *mfatest.Authenticator {
	return &mfatest.Authenticator{Origin: passkeyOrigin, Attachment: "cross-platform"}
}

// signedIn returns a client with a fresh password session of name.
func signedIn(t *testing.T, g *testutil.Instance, name string) *http.Client {
	t.Helper()
	c := testutil.Client(t)
	if resp, body := loginJSON(t, c, g.URL, name, strongPassword); resp.StatusCode != 200 {
		t.Fatalf("login %s = %d %s", name, resp.StatusCode, body)
	}
	return c
}

// registerPasskey runs both registration steps with a and returns the key.
func registerPasskey(t *testing.T, g *testutil.Instance, c *http.Client, a *mfatest.Authenticator, name string) *mfatest.Key {
	t.Helper()
	resp, body := postJSON(t, c, g.URL+"/auth/webauthn/register/begin", map[string]any{})
	if resp.StatusCode != 200 {
		t.Fatalf("register/begin = %d %s", resp.StatusCode, body)
	}
	cred, key := a.Create(t, []byte(body))
	resp, body = postJSON(t, c, g.URL+"/auth/webauthn/register/finish", map[string]any{"name": name, "credential": cred})
	if resp.StatusCode != 201 {
		t.Fatalf("register/finish = %d %s", resp.StatusCode, body)
	}
	if m := decode(t, body); m["id"] != key.ID64() || m["name"] != name {
		t.Fatalf("register/finish = %s, want id %s name %s", body, key.ID64(), name)
	}
	return key
}

// passkeyBegin starts a login ceremony and returns the options.
func passkeyBegin(t *testing.T, g *testutil.Instance, c *http.Client, in map[string]any) []byte {
	t.Helper()
	if in == nil {
		in = map[string]any{}
	}
	resp, body := postJSON(t, c, g.URL+"/auth/webauthn/login/begin", in)
	if resp.StatusCode != 200 {
		t.Fatalf("login/begin = %d %s", resp.StatusCode, body)
	}
	return []byte(body)
}

// passkeyFinish sends an assertion.
func passkeyFinish(t *testing.T, g *testutil.Instance, c *http.Client, assertion json.RawMessage) (*http.Response, string) {
	t.Helper()
	return postJSON(t, c, g.URL+"/auth/webauthn/login/finish", map[string]any{"credential": assertion})
}

func sessionAMR(t *testing.T, g *testutil.Instance, c *http.Client) []string {
	t.Helper()
	_, amr := sessionInfo(t, g, c)
	return amr
}

// sessionInfo returns the ID and amr of c's session.
func sessionInfo(t *testing.T, g *testutil.Instance, c *http.Client) (string, []string) {
	t.Helper()
	resp, body := do(t, c, "GET", g.URL+"/auth/session", "")
	if resp.StatusCode != 200 {
		t.Fatalf("/auth/session = %d %s", resp.StatusCode, body)
	}
	sess := decode(t, body)["session"].(map[string]any)
	id, _ := sess["id"].(string)
	return id, anyStrings(sess["amr"])
}

func auditTypes(t *testing.T, g *testutil.Instance, typ string) []audit.Event {
	t.Helper()
	evs, err := g.App.Store.ListAudit(t.Context(), audit.Filter{Type: typ})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	return evs
}

func TestPasskeyRegisterThenPasswordlessLogin(t *testing.T) {
	tests := []struct {
		name string
		auth *mfatest.Authenticator
		amr  []string
	}{
		{"security key earns hwk", securityKey(), []string{"hwk", "user"}},
		{"platform authenticator earns swk", &mfatest.Authenticator{Origin: passkeyOrigin, Attachment: "platform"}, []string{"swk", "user"}},
		{"synced roaming passkey earns swk", &mfatest.Authenticator{Origin: passkeyOrigin, Attachment: "cross-platform", BackupEligible: true}, []string{"swk", "user"}},
	}
	eachStore(t, func(t *testing.T, g *testutil.Instance) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				name := "user" + string(rune('a'+i))
				g.CreateUser(t, name, strongPassword)
				key := registerPasskey(t, g, signedIn(t, g, name), tt.auth, "My key")

				c := testutil.Client(t) // another browser, no username given
				opts := passkeyBegin(t, g, c, nil)
				if strings.Contains(string(opts), "allowCredentials") {
					t.Fatalf("passwordless options name credentials: %s", opts)
				}
				resp, body := passkeyFinish(t, g, c, tt.auth.Get(t, opts, key))
				if resp.StatusCode != 200 {
					t.Fatalf("login/finish = %d %s", resp.StatusCode, body)
				}
				if got := sessionAMR(t, g, c); !slices.Equal(got, tt.amr) {
					t.Fatalf("session amr = %v, want %v", got, tt.amr)
				}
				if m := decode(t, body); m["user"].(map[string]any)["username"] != name {
					t.Fatalf("login/finish user = %v, want %s", m["user"], name)
				}
				// The list shows the use.
				resp, body = do(t, c, "GET", g.URL+"/auth/webauthn", "")
				if resp.StatusCode != 200 || !strings.Contains(body, `"last_used_at":"20`) || !strings.Contains(body, `"kind":"`+tt.amr[0]+`"`) {
					t.Fatalf("GET /auth/webauthn = %d %s, want the credential used, kind %s", resp.StatusCode, body, tt.amr[0])
				}
			})
		}
	})
}

func TestPasskeyAsSecondFactor(t *testing.T) {
	eachStore(t, func(t *testing.T, g *testutil.Instance) {
		g.CreateUser(t, "alice", strongPassword)
		a := securityKey()
		key := registerPasskey(t, g, signedIn(t, g, "alice"), a, "YubiKey")

		c, m := pendingLogin(t, g, "alice")
		if !slices.Contains(anyStrings(m["methods"]), "webauthn") {
			t.Fatalf("password step = %v, want methods with webauthn", m)
		}
		opts := passkeyBegin(t, g, c, nil)
		if !strings.Contains(string(opts), key.ID64()) {
			t.Fatalf("second-factor options %s do not allow the user's key", opts)
		}
		resp, body := passkeyFinish(t, g, c, a.Get(t, opts, key))
		if resp.StatusCode != 200 {
			t.Fatalf("login/finish = %d %s", resp.StatusCode, body)
		}
		if ck := sessionCookie(t, resp, "gatehouse_mfa"); ck.MaxAge >= 0 {
			t.Fatalf("pending cookie not cleared: %+v", ck)
		}
		if got := sessionAMR(t, g, c); !slices.Equal(got, []string{"pwd", "hwk", "mfa"}) {
			t.Fatalf("session amr = %v, want [pwd hwk mfa]", got)
		}
	})
}

// A password session steps up with the passkey: new session ID, amr with
// the key and mfa.
func TestPasskeyStepUpOfASession(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	a := securityKey()
	c := signedIn(t, g, "alice") // amr [pwd]; the key is added after
	key := registerPasskey(t, g, c, a, "YubiKey")
	before, _ := sessionInfo(t, g, c)

	opts := passkeyBegin(t, g, c, map[string]any{"step_up": true})
	resp, body := passkeyFinish(t, g, c, a.Get(t, opts, key))
	if resp.StatusCode != 200 {
		t.Fatalf("step-up finish = %d %s", resp.StatusCode, body)
	}
	after, amr := sessionInfo(t, g, c)
	if !slices.Equal(amr, []string{"pwd", "hwk", "mfa"}) {
		t.Fatalf("session amr after step-up = %v, want [pwd hwk mfa]", amr)
	}
	if after == before {
		t.Fatalf("step-up kept session ID %s, want a new one", before)
	}
}

// Changing factors needs a login at most five minutes old (or a second
// factor), as TOTP enrolment does.
func TestPasskeyRegisterNeedsFreshLogin(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	c := signedIn(t, g, "alice")
	g.Clock.Advance(6 * time.Minute)
	for _, path := range []string{"/auth/webauthn/register/begin", "/auth/webauthn/register/finish"} {
		resp, body := postJSON(t, c, g.URL+path, map[string]any{"name": "k", "credential": map[string]any{}})
		if resp.StatusCode != 403 {
			t.Fatalf("POST %s with a 6-minute-old login = %d %s, want 403", path, resp.StatusCode, body)
		}
	}
	if resp, body := postJSON(t, testutil.Client(t), g.URL+"/auth/webauthn/register/begin", map[string]any{}); resp.StatusCode != 401 {
		t.Fatalf("register/begin without a session = %d %s, want 401", resp.StatusCode, body)
	}
}

// Assertions that must fail: each is refused with 401 and no session.
func TestPasskeyForgedAssertionsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, g *testutil.Instance) {
		g.CreateUser(t, "alice", strongPassword)
		g.CreateUser(t, "bob", strongPassword)
		a := securityKey()
		aliceKey := registerPasskey(t, g, signedIn(t, g, "alice"), a, "alice's key")
		bobKey := registerPasskey(t, g, signedIn(t, g, "bob"), a, "bob's key")

		tests := []struct {
			name   string
			client func(t *testing.T) *http.Client
			forge  func() *mfatest.Authenticator
			key    *mfatest.Key
		}{
			{"bob's key for alice's pending login", func(t *testing.T) *http.Client { c, _ := pendingLogin(t, g, "alice"); return c },
				securityKey, bobKey},
			{"wrong origin", func(t *testing.T) *http.Client { return testutil.Client(t) },
				func() *mfatest.Authenticator { f := securityKey(); f.Origin = "http://evil.localhost:8099"; return f }, aliceKey},
			{"wrong RP ID hash", func(t *testing.T) *http.Client { return testutil.Client(t) },
				func() *mfatest.Authenticator { f := securityKey(); f.RPID = "evil.example"; return f }, aliceKey},
			{"no user verification for passwordless", func(t *testing.T) *http.Client { return testutil.Client(t) },
				func() *mfatest.Authenticator { f := securityKey(); f.NoUserVerification = true; return f }, aliceKey},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := tt.client(t)
				opts := passkeyBegin(t, g, c, nil)
				resp, body := passkeyFinish(t, g, c, tt.forge().Get(t, opts, tt.key))
				if resp.StatusCode != 401 || decode(t, body)["error"] != "invalid_credentials" {
					t.Fatalf("login/finish = %d %s, want 401 invalid_credentials", resp.StatusCode, body)
				}
				if resp, _ := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 401 {
					t.Fatalf("/auth/session after a refused assertion = %d, want 401", resp.StatusCode)
				}
			})
		}
		if n := len(auditTypes(t, g, audit.MFAFailed)); n < len(tests) {
			t.Fatalf("mfa.failed audit events = %d, want at least %d", n, len(tests))
		}
	})
}

// A pending login of alice cannot be finished by a ceremony bob began:
// the ceremony belongs to the login it began for.
func TestPasskeyPendingCookieOfAnotherUser(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	a := securityKey()
	registerPasskey(t, g, signedIn(t, g, "alice"), a, "alice's key")
	bobKey := registerPasskey(t, g, signedIn(t, g, "bob"), a, "bob's key")

	// Bob begins his second factor, then the browser's pending login
	// becomes alice's (password step of alice); bob's assertion must not
	// finish alice's login, nor his own.
	c, _ := pendingLogin(t, g, "bob")
	opts := passkeyBegin(t, g, c, nil)
	if resp, body := loginJSON(t, c, g.URL, "alice", strongPassword); resp.StatusCode != 200 {
		t.Fatalf("alice's password step = %d %s", resp.StatusCode, body)
	}
	resp, body := passkeyFinish(t, g, c, a.Get(t, opts, bobKey))
	if resp.StatusCode != 401 {
		t.Fatalf("bob's ceremony with alice's pending cookie = %d %s, want 401", resp.StatusCode, body)
	}
	if resp, _ := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 401 {
		t.Fatalf("/auth/session = %d, want 401", resp.StatusCode)
	}
}

// Each ceremony finishes once: a replayed finish (same cookie, same
// assertion), a finish without begin and an expired ceremony are refused.
func TestPasskeyCeremonyIsSingleUse(t *testing.T) {
	eachStore(t, func(t *testing.T, g *testutil.Instance) {
		g.CreateUser(t, "alice", strongPassword)
		a := securityKey()
		key := registerPasskey(t, g, signedIn(t, g, "alice"), a, "key")

		c := testutil.Client(t)
		resp, body := postJSON(t, c, g.URL+"/auth/webauthn/login/begin", map[string]any{})
		if resp.StatusCode != 200 {
			t.Fatalf("begin = %d %s", resp.StatusCode, body)
		}
		ceremony := sessionCookie(t, resp, "gatehouse_webauthn")
		if !ceremony.HttpOnly || ceremony.MaxAge != 300 || ceremony.SameSite != http.SameSiteStrictMode {
			t.Fatalf("ceremony cookie = %+v, want HttpOnly, Max-Age 300, SameSite=Strict", ceremony)
		}
		assertion := a.Get(t, []byte(body), key)
		if resp, body := passkeyFinish(t, g, c, assertion); resp.StatusCode != 200 {
			t.Fatalf("first finish = %d %s", resp.StatusCode, body)
		}
		// Replay from another browser holding a copy of the cookie.
		replay := testutil.Client(t)
		replay.Jar.SetCookies(mustURL(t, g.URL+"/auth/webauthn/"), []*http.Cookie{{Name: ceremony.Name, Value: ceremony.Value, Path: "/auth/webauthn/"}})
		if resp, body := passkeyFinish(t, g, replay, assertion); resp.StatusCode != 400 {
			t.Fatalf("replayed ceremony = %d %s, want 400", resp.StatusCode, body)
		}
		if resp, body := passkeyFinish(t, g, testutil.Client(t), assertion); resp.StatusCode != 400 {
			t.Fatalf("finish without begin = %d %s, want 400", resp.StatusCode, body)
		}
		c2 := testutil.Client(t)
		opts := passkeyBegin(t, g, c2, nil)
		g.Clock.Advance(5*time.Minute + time.Second)
		if resp, body := passkeyFinish(t, g, c2, a.Get(t, opts, key)); resp.StatusCode != 400 {
			t.Fatalf("expired ceremony = %d %s, want 400", resp.StatusCode, body)
		}
	})
}

// A signature counter that does not move forward means a copied key: the
// assertion is refused and audited as webauthn.clone_warning.
func TestPasskeySignCountRegressionRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, g *testutil.Instance) {
		g.CreateUser(t, "alice", strongPassword)
		a := securityKey()
		key := registerPasskey(t, g, signedIn(t, g, "alice"), a, "key")
		c := testutil.Client(t)
		if resp, body := passkeyFinish(t, g, c, a.Get(t, passkeyBegin(t, g, c, nil), key)); resp.StatusCode != 200 {
			t.Fatalf("first login = %d %s", resp.StatusCode, body)
		}
		key.Count = 0 // the clone signs with an older counter (next: 1)
		c = testutil.Client(t)
		resp, body := passkeyFinish(t, g, c, a.Get(t, passkeyBegin(t, g, c, nil), key))
		if resp.StatusCode != 401 {
			t.Fatalf("login with a regressed counter = %d %s, want 401", resp.StatusCode, body)
		}
		evs := auditTypes(t, g, "webauthn.clone_warning")
		if len(evs) != 1 || evs[0].Username != "alice" || evs[0].Details["credential"] != key.ID64() {
			t.Fatalf("clone audit = %+v, want one event for alice's key", evs)
		}
	})
}

// Only one's own credentials can be removed; another user's ID is 404.
func TestPasskeyDelete(t *testing.T) {
	eachStore(t, func(t *testing.T, g *testutil.Instance) {
		g.CreateUser(t, "alice", strongPassword)
		g.CreateUser(t, "bob", strongPassword)
		a := securityKey()
		alice := signedIn(t, g, "alice")
		aliceKey := registerPasskey(t, g, alice, a, "key")
		bob := signedIn(t, g, "bob")
		tests := []struct {
			name   string
			client *http.Client
			id     string
			status int
		}{
			{"another user's credential", bob, aliceKey.ID64(), 404},
			{"unknown ID", alice, "bm9wZQ", 404},
			{"malformed ID", alice, "%21%21", 404},
			{"NUL", alice, "%00", 404},
			{"not UTF-8", alice, "%FF", 404},
			{"own credential", alice, aliceKey.ID64(), 204},
			{"own credential again", alice, aliceKey.ID64(), 404},
		}
		for _, tt := range tests {
			resp, body := do(t, tt.client, "DELETE", g.URL+"/auth/webauthn/"+tt.id, "")
			if resp.StatusCode != tt.status {
				t.Fatalf("%s: DELETE = %d %s, want %d", tt.name, resp.StatusCode, body, tt.status)
			}
		}
		// Without passkeys alice's password login needs no second factor.
		if resp, body := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword); resp.StatusCode != 200 || strings.Contains(body, "mfa_required") {
			t.Fatalf("login after removing the key = %d %s, want a session", resp.StatusCode, body)
		}
	})
}

// The pages load the one static script by nonce, by a URL that names its
// version; the script is served with its type and cache headers: for good
// by that URL, briefly (and revalidated) by its bare path, so a page after
// an upgrade never runs a cached old script.
func TestPasskeyPagesAndScript(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	c := signedIn(t, g, "alice")
	src := regexp.MustCompile(`<script src="(/static/webauthn\.js\?v=[0-9a-f]{16})" nonce="`)
	var scriptURL string
	for _, path := range []string{"/login", "/account"} {
		resp, body := do(t, c, "GET", g.URL+path, "", "Accept", "text/html")
		csp := resp.Header.Get("Content-Security-Policy")
		m := src.FindStringSubmatch(body)
		if resp.StatusCode != 200 || m == nil || !strings.Contains(csp, "script-src 'nonce-") ||
			strings.Contains(csp, "unsafe-inline") || strings.Count(body, "<script") != 1 || strings.Contains(body, "<script>") {
			t.Fatalf("GET %s = %d, CSP %q, want one nonce'd external script by its versioned URL", path, resp.StatusCode, csp)
		}
		if scriptURL != "" && m[1] != scriptURL {
			t.Fatalf("the pages name two versions of the script: %s and %s", scriptURL, m[1])
		}
		scriptURL = m[1]
	}
	if _, body := do(t, c, "GET", g.URL+"/login", "", "Accept", "text/html"); !strings.Contains(body, `autocomplete="username webauthn"`) || !strings.Contains(body, "Sign in with a passkey") {
		t.Fatalf("login page lacks the passkey button or autofill")
	}
	resp, body := do(t, c, "GET", g.URL+"/static/webauthn.js", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") != "public, max-age=300" || !strings.Contains(body, "navigator.credentials") {
		t.Fatalf("GET /static/webauthn.js = %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := do(t, c, "GET", g.URL+"/static/webauthn.js", "", "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != 304 {
		t.Fatalf("revalidation = %d, want 304", resp.StatusCode)
	}
	sum := sha256.Sum256([]byte(body))
	if want := "/static/webauthn.js?v=" + hex.EncodeToString(sum[:8]); scriptURL != want {
		t.Errorf("the pages load %s, want the version of the script served (%s)", scriptURL, want)
	}
	versioned, vbody := do(t, c, "GET", g.URL+scriptURL, "")
	if versioned.StatusCode != 200 || vbody != body || versioned.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("GET %s = %d, Cache-Control %q, same body %v; want the script, cacheable for good", scriptURL, versioned.StatusCode, versioned.Header.Get("Cache-Control"), vbody == body)
	}
	other, _ := do(t, c, "GET", g.URL+"/static/webauthn.js?v=0000000000000000", "")
	if other.StatusCode != 200 || other.Header.Get("Cache-Control") != "public, max-age=300" {
		t.Errorf("an old version's URL = %d, Cache-Control %q; want the current script, cached briefly", other.StatusCode, other.Header.Get("Cache-Control"))
	}
}

// With public_url on an IP address WebAuthn cannot work: its endpoints are
// absent and the pages carry no script.
func TestPasskeysOffForIPPublicURL(t *testing.T) {
	g := mfaInstance(t)
	if resp, _ := postJSON(t, testutil.Client(t), g.URL+"/auth/webauthn/login/begin", map[string]any{}); resp.StatusCode != 404 {
		t.Fatalf("login/begin with an IP public_url = %d, want 404", resp.StatusCode)
	}
	if _, body := do(t, testutil.Client(t), "GET", g.URL+"/login", ""); strings.Contains(body, "<script") {
		t.Fatal("login page has a script without WebAuthn")
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Refused assertions count in the login throttle (second factor: the
// user's account; passwordless: the client) and in the MFA metrics.
func TestPasskeyFailuresThrottledAndCounted(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	a := securityKey()
	key := registerPasskey(t, g, signedIn(t, g, "alice"), a, "key")
	evil := securityKey()
	evil.Origin = "http://evil.localhost:8099"

	tests := []struct {
		name   string
		client func(t *testing.T) *http.Client
	}{
		{"second factor", func(t *testing.T) *http.Client { c, _ := pendingLogin(t, g, "alice"); return c }},
		{"passwordless", func(t *testing.T) *http.Client { return testutil.Client(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.client(t)
			before := len(auditTypes(t, g, audit.LoginThrottled))
			last, refused := 0, 0
			for range 8 {
				resp, opts := postJSON(t, c, g.URL+"/auth/webauthn/login/begin", map[string]any{})
				if last = resp.StatusCode; last == 429 {
					break
				}
				resp, _ = passkeyFinish(t, g, c, evil.Get(t, []byte(opts), key))
				if last = resp.StatusCode; last == 429 {
					break
				}
				if last != 401 {
					t.Fatalf("forged assertion #%d = %d, want 401", refused+1, last)
				}
				refused++
			}
			if last != 429 || refused < 3 {
				t.Fatalf("after %d refused assertions = %d, want 429 after at least 3", refused, last)
			}
			if resp, _ := postJSON(t, c, g.URL+"/auth/webauthn/login/begin", map[string]any{}); resp.StatusCode != 429 {
				t.Fatalf("begin while throttled = %d, want 429", resp.StatusCode)
			}
			// A refused login step is on the audit trail (contract §6):
			// the first refusal of the lock; the next one, a moment
			// later, is counted with it (audit.RecordCoalesced).
			if evs := auditTypes(t, g, audit.LoginThrottled); len(evs) != before+1 {
				t.Errorf("login.throttled events %d after two throttled steps, want %d", len(evs), before+1)
			} else if tt.name == "second factor" && evs[0].Username != "alice" {
				t.Errorf("login.throttled event of a second factor names %q, want alice", evs[0].Username)
			}
			g.Clock.Advance(time.Hour) // the next case starts unthrottled
		})
	}
	c := testutil.Client(t)
	if resp, body := passkeyFinish(t, g, c, a.Get(t, passkeyBegin(t, g, c, nil), key)); resp.StatusCode != 200 {
		t.Fatalf("passwordless login after the lock = %d %s", resp.StatusCode, body)
	}
	admin := httptest.NewServer(g.App.AdminHandler())
	t.Cleanup(admin.Close)
	_, body := do(t, testutil.Client(t), "GET", admin.URL+"/metrics", "")
	for _, want := range []string{`gatehouse_mfa_total{method="webauthn",outcome="failure"}`, `gatehouse_mfa_total{method="webauthn",outcome="success"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// Registration answers that must not store a credential: 400 and nothing
// listed.
func TestPasskeyForgedRegistrationsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, g *testutil.Instance) {
		g.CreateUser(t, "alice", strongPassword)
		c := signedIn(t, g, "alice")
		tests := []struct {
			name  string
			auth  *mfatest.Authenticator
			begin string // endpoint whose ceremony the finish uses
			key   string
		}{
			{"wrong origin", &mfatest.Authenticator{Origin: "http://evil.localhost:8099", Attachment: "cross-platform"}, "/auth/webauthn/register/begin", "k"},
			{"wrong RP ID hash", &mfatest.Authenticator{Origin: passkeyOrigin, RPID: "evil.example", Attachment: "cross-platform"}, "/auth/webauthn/register/begin", "k"},
			{"a login ceremony", securityKey(), "/auth/webauthn/login/begin", "k"},
			{"empty name", securityKey(), "/auth/webauthn/register/begin", " "},
			{"name too long", securityKey(), "/auth/webauthn/register/begin", strings.Repeat("n", 65)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := postJSON(t, c, g.URL+tt.begin, map[string]any{"passwordless": true})
				if resp.StatusCode != 200 {
					t.Fatalf("begin = %d %s", resp.StatusCode, body)
				}
				opts := body
				if tt.begin != "/auth/webauthn/register/begin" {
					// Answer the login ceremony's challenge as if it were a
					// registration: the purposes must not mix.
					opts = `{"publicKey":{"challenge":"` + decode(t, body)["publicKey"].(map[string]any)["challenge"].(string) + `","rp":{"id":"localhost"},"user":{"id":"dTE"}}}`
				}
				cred, _ := tt.auth.Create(t, []byte(opts))
				resp, body = postJSON(t, c, g.URL+"/auth/webauthn/register/finish", map[string]any{"name": tt.key, "credential": cred})
				if resp.StatusCode != 400 {
					t.Fatalf("register/finish = %d %s, want 400", resp.StatusCode, body)
				}
			})
		}
		if _, body := do(t, c, "GET", g.URL+"/auth/webauthn", ""); !strings.Contains(body, `"credentials":[]`) {
			t.Fatalf("credentials after refused registrations: %s", body)
		}
	})
}

// A disabled user's passkey signs nobody in.
func TestPasskeyOfDisabledUserRefused(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	a := securityKey()
	key := registerPasskey(t, g, signedIn(t, g, "alice"), a, "key")
	if _, err := g.App.Users.SetDisabled(t.Context(), "alice", true); err != nil {
		t.Fatal(err)
	}
	c := testutil.Client(t)
	if resp, body := passkeyFinish(t, g, c, a.Get(t, passkeyBegin(t, g, c, nil), key)); resp.StatusCode != 401 {
		t.Fatalf("passwordless login of a disabled user = %d %s, want 401", resp.StatusCode, body)
	}
}

// Under login.require_mfa_roles a pending login that must enrol may
// register a passkey instead of a TOTP, and gets its session with it; a
// pending login that need not enrol may not register.
func TestPasskeyEnrolmentDuringLogin(t *testing.T) {
	dsn := pgtest.DSN(t)
	g := mfaInstance(t, func(c *config.Config) {
		c.PublicURL, c.Store = passkeyOrigin, dsn
		c.Login.RequireMFARoles = []string{"admin"}
	})
	g.CreateUser(t, "root", strongPassword, "admin")
	c, m := pendingLogin(t, g, "root")
	if m["enrolment_required"] != true {
		t.Fatalf("password step = %v, want enrolment_required", m)
	}
	if _, body := do(t, c, "GET", g.URL+"/login/mfa", "", "Accept", "text/html"); !strings.Contains(body, "Add a passkey") {
		t.Fatal("the enrolment page offers no passkey")
	}
	registerPasskey(t, g, c, securityKey(), "YubiKey")
	if got := sessionAMR(t, g, c); !slices.Equal(got, []string{"pwd", "hwk", "mfa"}) {
		t.Fatalf("session amr after enrolling a passkey = %v, want [pwd hwk mfa]", got)
	}

	// alice has a factor (root's rule does not apply to her): her pending
	// login is a second step, not an enrolment.
	g.CreateUser(t, "alice", strongPassword)
	registerPasskey(t, g, signedIn(t, g, "alice"), securityKey(), "key")
	p, _ := pendingLogin(t, g, "alice")
	if resp, body := postJSON(t, p, g.URL+"/auth/webauthn/register/begin", map[string]any{}); resp.StatusCode != 401 {
		t.Fatalf("register/begin with a second-step pending cookie = %d %s, want 401", resp.StatusCode, body)
	}
}

// A pending login that had to enrol (login.require_mfa_roles) says so in
// its cookie from the password step on; once the user has a factor —
// enrolled meanwhile in another browser — that cookie enrols nothing more:
// the first enrolment is the trusted one, and a second password holder
// with an older cookie must pass the factor instead of adding their own
// and getting a multi-factor session.
func TestPasskeyStaleEnrolmentCookieRefused(t *testing.T) {
	tests := []struct {
		name  string
		enrol func(t *testing.T, g *testutil.Instance, c *http.Client) *http.Response
	}{
		{"passkey", func(t *testing.T, g *testutil.Instance, c *http.Client) *http.Response {
			resp, body := postJSON(t, c, g.URL+"/auth/webauthn/register/begin", map[string]any{})
			if resp.StatusCode != 200 {
				return resp
			}
			cred, _ := securityKey().Create(t, []byte(body))
			resp, _ = postJSON(t, c, g.URL+"/auth/webauthn/register/finish", map[string]any{"name": "second", "credential": cred})
			return resp
		}},
		{"authenticator app", func(t *testing.T, g *testutil.Instance, c *http.Client) *http.Response {
			resp, _ := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json")
			return resp
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mfaInstance(t, func(c *config.Config) {
				c.PublicURL = passkeyOrigin
				c.Login.RequireMFARoles = []string{"admin"}
			})
			root := g.CreateUser(t, "root", strongPassword, "admin")
			stale, m := pendingLogin(t, g, "root")
			if m["enrolment_required"] != true {
				t.Fatalf("password step = %v, want enrolment_required", m)
			}
			owner, _ := pendingLogin(t, g, "root")
			registerPasskey(t, g, owner, securityKey(), "first")

			if resp := tt.enrol(t, g, stale); resp.StatusCode != 401 {
				t.Fatalf("enrolment with a pending cookie from before the first enrolment = %d, want 401", resp.StatusCode)
			}
			if resp, _ := do(t, stale, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 401 {
				t.Fatalf("/auth/session of the stale cookie's browser = %d, want 401", resp.StatusCode)
			}
			f, err := g.App.MFA.Factors(t.Context(), root.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Passkeys) != 1 || f.TOTP || f.TOTPPending {
				t.Fatalf("root's factors = %d passkeys, totp %v (pending %v); want only the first passkey", len(f.Passkeys), f.TOTP, f.TOTPPending)
			}
		})
	}
}

// A passwordless assertion names its user only through the user handle,
// which the client chooses: a refused one is attributed to that user
// (audit, mfa.failed) only when the handle's user owns the credential,
// so that anyone can not write failures into another user's audit trail
// by naming their ID.
func TestPasskeyForeignUserHandleNotAttributed(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	alice := g.CreateUser(t, "alice", strongPassword)
	a := securityKey()
	aliceKey := registerPasskey(t, g, signedIn(t, g, "alice"), a, "key")

	// A key alice never registered, whose user handle is her ID.
	forged := `{"publicKey":{"challenge":"AA","rp":{"id":"localhost"},"user":{"id":"` + base64.RawURLEncoding.EncodeToString([]byte(alice.ID)) + `"}}}`
	_, stranger := a.Create(t, []byte(forged))
	c := testutil.Client(t)
	if resp, body := passkeyFinish(t, g, c, a.Get(t, passkeyBegin(t, g, c, nil), stranger)); resp.StatusCode != 401 {
		t.Fatalf("assertion by an unregistered key = %d %s, want 401", resp.StatusCode, body)
	}
	for _, ev := range auditTypes(t, g, audit.MFAFailed) {
		if ev.UserID == alice.ID || ev.Username == "alice" {
			t.Fatalf("mfa.failed %+v names alice for a key she does not own", ev)
		}
	}

	// Her own key, refused (wrong origin): that failure is hers.
	evil := securityKey()
	evil.Origin = "http://evil.localhost:8099"
	c = testutil.Client(t)
	if resp, body := passkeyFinish(t, g, c, evil.Get(t, passkeyBegin(t, g, c, nil), aliceKey)); resp.StatusCode != 401 {
		t.Fatalf("assertion from another origin = %d %s, want 401", resp.StatusCode, body)
	}
	evs := auditTypes(t, g, audit.MFAFailed)
	if !slices.ContainsFunc(evs, func(ev audit.Event) bool { return ev.UserID == alice.ID && ev.Username == "alice" }) {
		t.Fatalf("mfa.failed events %+v, want one for alice's own key", evs)
	}
}

// A browser drops a cookie over 4,096 bytes. The ceremony cookie of a
// login must not grow with the number of the user's passkeys: a list of
// every credential ID in it outgrew that at a few dozen keys, and the
// user's passkey logins then failed at finish for want of the cookie.
// Registration stops at mfa.MaxPasskeys; a user from before that cap may
// have more (60 stored directly here).
func TestPasskeyLoginCookieFitsWithManyPasskeys(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	alice := g.CreateUser(t, "alice", strongPassword)
	c := signedIn(t, g, "alice")
	a := securityKey()
	var last *mfatest.Key
	for i := range mfa.MaxPasskeys {
		last = registerPasskey(t, g, c, a, fmt.Sprintf("key %d", i))
	}
	cs, err := g.App.Store.Credentials(t.Context(), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	db := g.App.Store.(interface{ DB() *sql.DB }).DB()
	for i := range 60 {
		var data map[string]any
		if err := json.Unmarshal(cs[0].Data, &data); err != nil {
			t.Fatal(err)
		}
		id := bytes.Repeat([]byte{byte(i)}, 32)
		data["id"] = base64.StdEncoding.EncodeToString(id)
		raw, _ := json.Marshal(data)
		if _, err := db.ExecContext(t.Context(), `INSERT INTO webauthn_credentials (credential_id, user_id, name, kind, data, sign_count, created_at)
			VALUES (?, ?, ?, ?, ?, 0, 0)`, id, alice.ID, fmt.Sprintf("old key %d", i), cs[0].Kind, raw); err != nil {
			t.Fatalf("store a passkey from before the cap: %v", err)
		}
	}
	pc, _ := pendingLogin(t, g, "alice")
	resp, body := postJSON(t, pc, g.URL+"/auth/webauthn/login/begin", map[string]any{})
	if resp.StatusCode != 200 {
		t.Fatalf("login/begin = %d %s", resp.StatusCode, body)
	}
	ck := sessionCookie(t, resp, mfa.CeremonyCookie)
	if n := len(ck.Name) + len(ck.Value); n > 4096 {
		t.Fatalf("ceremony cookie of a user with 80 passkeys is %d bytes, more than a browser keeps", n)
	}
	if resp, body := passkeyFinish(t, g, pc, a.Get(t, []byte(body), last)); resp.StatusCode != 200 {
		t.Fatalf("login/finish with the 80th key = %d %s", resp.StatusCode, body)
	}
}

// Passwordless failures count per client as every per-client limit does:
// an IPv6 client per /64 (auth.ClientKey), so rotating addresses inside
// one /64 does not reset the throttle; another /64 is another client.
func TestPasskeyPasswordlessThrottlePerIPv6Prefix(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	key := registerPasskey(t, g, signedIn(t, g, "alice"), securityKey(), "key")
	evil := securityKey()
	evil.Origin = "http://evil.localhost:8099"
	begin := func(c *http.Client, ip string) (*http.Response, string) {
		b, _ := json.Marshal(map[string]any{"passwordless": true})
		return do(t, c, "POST", g.URL+"/auth/webauthn/login/begin", string(b), "Content-Type", "application/json", "X-Forwarded-For", ip)
	}

	c, refused := testutil.Client(t), 0
	for ; refused < 20; refused++ {
		resp, opts := begin(c, "2001:db8::1")
		if resp.StatusCode == 429 {
			break
		}
		b, _ := json.Marshal(map[string]any{"credential": evil.Get(t, []byte(opts), key)})
		resp, _ = do(t, c, "POST", g.URL+"/auth/webauthn/login/finish", string(b), "Content-Type", "application/json", "X-Forwarded-For", "2001:db8::1")
		if resp.StatusCode == 429 {
			break
		}
		if resp.StatusCode != 401 {
			t.Fatalf("forged assertion #%d = %d, want 401", refused+1, resp.StatusCode)
		}
	}
	if refused == 20 {
		t.Fatal("20 forged assertions from one address, none throttled")
	}
	tests := []struct {
		name, ip string
		want     int
	}{
		{"another address in the same /64", "2001:db8::2", 429},
		{"another address in the same /64, long form", "2001:db8:0:0:ffff:ffff:ffff:ffff", 429},
		{"another /64", "2001:db8:0:1::1", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp, body := begin(testutil.Client(t), tt.ip); resp.StatusCode != tt.want {
				t.Fatalf("begin from %s after %d refused from 2001:db8::1 = %d %s, want %d", tt.ip, refused, resp.StatusCode, body, tt.want)
			}
		})
	}
}

// Wrong passwords for a name that looks like a client's passwordless key
// ("webauthn@<ip>", a valid name that anyone may try, account or not),
// sent from other addresses up to the account-wide limit, do not lock
// passwordless logins out of that client: a passwordless attempt counts
// per client only (docs/mfa.md), and strangers elsewhere are not it.
func TestPasswordFailuresDoNotLockPasswordlessOfAnotherClient(t *testing.T) {
	const max, victim = 3, "203.0.113.9"
	g := mfaInstance(t, func(c *config.Config) {
		c.PublicURL = passkeyOrigin
		c.Login.MaxFailures = max
	})
	for i := range 4 * max { // the account-wide limit, max from each of 4 addresses
		from := fmt.Sprintf("198.51.100.%d", 1+i/max)
		resp, body := loginJSON(t, testutil.Client(t), g.URL, "webauthn@"+victim, "wrong password !!", "X-Forwarded-For", from)
		if resp.StatusCode != 401 {
			t.Fatalf("wrong password #%d from %s = %d %s, want 401", i+1, from, resp.StatusCode, body)
		}
	}
	b, _ := json.Marshal(map[string]any{"passwordless": true})
	resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/webauthn/login/begin", string(b), "Content-Type", "application/json", "X-Forwarded-For", victim)
	if resp.StatusCode != 200 {
		t.Fatalf("passwordless begin from %s after %d wrong passwords for webauthn@%s elsewhere = %d %s, want 200",
			victim, 4*max, victim, resp.StatusCode, body)
	}
}

// A passkey's name is shown on /account, in the admin console and by
// `gatehouse user mfa`: control characters (NUL, ESC, a line break) and
// invisible ones (a zero-width space, a bidi override) are refused with
// 400 on every store, before the ceremony is spent, so the browser can
// finish the same ceremony with a better name. NUL was stored by SQLite
// and refused by PostgreSQL only after the ceremony had been spent, which
// left the new key on the authenticator and none in gatehouse.
func TestPasskeyNameWithControlOrInvisibleCharactersRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, g *testutil.Instance) {
		g.CreateUser(t, "alice", strongPassword)
		c := signedIn(t, g, "alice")
		for _, name := range []string{"a\x00b", "a\x1b[31mred", "line\nbreak", "tab\there", "\u200b", "a\u202eb", "del\x7f", "c1\u0085x"} {
			t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
				resp, body := postJSON(t, c, g.URL+"/auth/webauthn/register/begin", map[string]any{})
				if resp.StatusCode != 200 {
					t.Fatalf("register/begin = %d %s", resp.StatusCode, body)
				}
				cred, key := securityKey().Create(t, []byte(body))
				resp, body = postJSON(t, c, g.URL+"/auth/webauthn/register/finish", map[string]any{"name": name, "credential": cred})
				if resp.StatusCode != 400 || decode(t, body)["error"] != "invalid_request" {
					t.Fatalf("register/finish named %q = %d %s, want 400 invalid_request", name, resp.StatusCode, body)
				}
				resp, body = postJSON(t, c, g.URL+"/auth/webauthn/register/finish", map[string]any{"name": "My key", "credential": cred})
				if resp.StatusCode != 201 || decode(t, body)["id"] != key.ID64() {
					t.Fatalf("the same ceremony with a good name = %d %s, want 201 for %s", resp.StatusCode, body, key.ID64())
				}
			})
		}
		_, body := do(t, c, "GET", g.URL+"/auth/webauthn", "")
		for _, cr := range decode(t, body)["credentials"].([]any) {
			if n := cr.(map[string]any)["name"]; n != "My key" {
				t.Fatalf("stored credential name %q, want only good names: %s", n, body)
			}
		}
	})
}

// totpUserWithCodes starts an mfa instance on the main store named
// (stores) with alice enrolled in TOTP, and returns its TOTP secret and her
// recovery codes. Wrong codes up to 50 do not lock her: the tests using it
// refuse steps on purpose.
func totpUserWithCodes(t *testing.T, store string) (g *testutil.Instance, secret string, codes []string) {
	t.Helper()
	dsn := ""
	if store == "postgres" {
		dsn = pgtest.DSN(t)
	}
	g = mfaInstance(t, func(c *config.Config) {
		c.Login.MaxFailures = 50
		if dsn != "" {
			c.Store = dsn
		}
	})
	g.CreateUser(t, "alice", strongPassword)
	secret = enrolTOTP(t, g, "alice")
	c, _ := pendingLogin(t, g, "alice")
	if resp, body := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != 200 {
		t.Fatalf("second step = %d %s", resp.StatusCode, body)
	}
	resp, body := do(t, c, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("recovery codes = %d %s", resp.StatusCode, body)
	}
	return g, secret, anyStrings(decode(t, body)["codes"])
}

// Second steps of one user racing with one code, on every main store: of
// pending logins sending the same TOTP code, or the same recovery code, at
// once, exactly one gets a session (each code works once, contract §9).
func TestSecondStepsRacingWithOneCodeExactlyOneWins(t *testing.T) {
	for _, st := range stores {
		t.Run(st, func(t *testing.T) { secondStepRace(t, st) })
	}
}

func secondStepRace(t *testing.T, store string) {
	g, secret, codes := totpUserWithCodes(t, store)
	recovery := codes[3]
	g.Clock.Advance(30 * time.Second) // the race's TOTP code is a new step's
	tests := []struct {
		name string
		in   map[string]string
	}{
		{"one TOTP code", map[string]string{"method": "totp", "code": mfatest.TOTPCode(t, secret, g.Clock.Now())}},
		{"one recovery code", map[string]string{"method": "recovery", "code": recovery}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 4
			clients := make([]*http.Client, n)
			for i := range clients {
				clients[i], _ = pendingLogin(t, g, "alice")
			}
			statuses := make([]int, n)
			var wg sync.WaitGroup
			for i, cl := range clients {
				wg.Go(func() {
					resp, _ := postJSON(t, cl, g.URL+"/auth/login/mfa", tt.in)
					statuses[i] = resp.StatusCode
				})
			}
			wg.Wait()
			if ok, wrong := count(statuses, 200), count(statuses, 401); ok != 1 || wrong != n-1 {
				t.Fatalf("%d second steps with %s at once = %v, want one 200 and the rest 401", n, tt.name, statuses)
			}
		})
	}
}

func count(xs []int, v int) int {
	n := 0
	for _, x := range xs {
		if x == v {
			n++
		}
	}
	return n
}
