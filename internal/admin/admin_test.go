package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/openapitest"
)

const pw = "correct horse battery staple"

// env is a running gatehouse with an administrator "root" and a plain user
// "alice", each signed in with a session and holding an access token.
type env struct {
	*testutil.Instance
	rootCookie, aliceCookie string
	rootToken, aliceToken   string
	cookieName              string
}

func start(t *testing.T, opts ...testutil.Option) *env {
	t.Helper()
	i := testutil.Start(t, opts...)
	i.CreateUser(t, "root", pw, "admin")
	i.CreateUser(t, "alice", pw, "user")
	e := &env{Instance: i, cookieName: i.Config.CookieName()}
	e.rootCookie, e.aliceCookie = e.login(t, "root"), e.login(t, "alice")
	e.rootToken, e.aliceToken = e.token(t, "root"), e.token(t, "alice")
	return e
}

func (e *env) login(t *testing.T, name string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": name, "password": pw})
	resp, body := e.do(t, "POST", "/auth/login", string(b), "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("login %s: %d %s", name, resp.StatusCode, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == e.cookieName {
			return c.Value
		}
	}
	t.Fatalf("login %s: no session cookie", name)
	return ""
}

func (e *env) token(t *testing.T, name string) string {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {name}, "password": {pw}}
	resp, body := e.do(t, "POST", "/auth/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 200 {
		t.Fatalf("token %s: %d %s", name, resp.StatusCode, body)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal([]byte(body), &out)
	return out.AccessToken
}

func (e *env) do(t *testing.T, method, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	c := testutil.Client(t)
	c.Transport = openapitest.Transport(t, nil) // the document must describe every exchange
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, testutil.ReadBody(t, resp)
}

func (e *env) cookie(v string) []string { return []string{"Cookie", e.cookieName + "=" + v} }
func bearer(v string) []string          { return []string{"Authorization", "Bearer " + v} }

// TestAccess runs every endpoint with no credential, a non-admin session and
// token, and an admin session and token.
func TestAccess(t *testing.T) {
	e := start(t)
	endpoints := []struct {
		method, path, body string
		ok                 int
	}{
		{"GET", "/admin/api/v1/users", "", 200},
		{"GET", "/admin/api/v1/users/alice", "", 200},
		{"GET", "/admin/api/v1/users/alice/sessions", "", 200},
		{"GET", "/admin/api/v1/users/alice/families", "", 200},
		{"PUT", "/admin/api/v1/users/alice/roles", `{"roles":["user"]}`, 200},
		{"POST", "/admin/api/v1/users/alice/enable", "", 200},
		{"GET", "/admin/api/v1/keys", "", 200},
		{"GET", "/admin/api/v1/audit", "", 200},
		{"GET", "/admin/api/v1/config", "", 200},
		{"POST", "/admin/api/v1/explain", `{"method":"GET","url":"/nowhere"}`, 200},
		{"GET", "/admin/api/v1/users/nobody", "", 404},
		{"GET", "/admin/api/v1/nothing-here", "", 404},
	}
	creds := []struct {
		name   string
		header []string
		status int // 0 = the endpoint's own status
		code   string
	}{
		{"no credential", nil, 401, "unauthorized"},
		{"garbage token", bearer("x.y.z"), 401, "unauthorized"},
		{"unknown session", e.cookie("AAAA"), 401, "unauthorized"},
		{"non-admin session", e.cookie(e.aliceCookie), 403, "forbidden"},
		{"non-admin token", bearer(e.aliceToken), 403, "forbidden"},
		{"admin session", e.cookie(e.rootCookie), 0, ""},
		{"admin token", bearer(e.rootToken), 0, ""},
	}
	for _, ep := range endpoints {
		for _, c := range creds {
			t.Run(ep.method+" "+ep.path+"/"+c.name, func(t *testing.T) {
				resp, body := e.do(t, ep.method, ep.path, ep.body, append([]string{"Content-Type", "application/json"}, c.header...)...)
				want := c.status
				if want == 0 {
					want = ep.ok
				}
				if resp.StatusCode != want {
					t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, want, body)
				}
				if c.code != "" && !strings.Contains(body, `"error":"`+c.code+`"`) {
					t.Errorf("body = %s, want error %q", body, c.code)
				}
				if want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			})
		}
	}
}

func TestRequireMFARefusesAdminsWithoutSecondFactor(t *testing.T) {
	e := start(t, testutil.WithConfig(func(c *config.Config) { c.Admin.RequireMFA = true }))
	for name, h := range map[string][]string{"session": e.cookie(e.rootCookie), "token": bearer(e.rootToken)} {
		t.Run(name, func(t *testing.T) {
			if resp, body := e.do(t, "GET", "/admin/api/v1/users", "", h...); resp.StatusCode != 403 {
				t.Fatalf("status = %d, want 403 (%s)", resp.StatusCode, body)
			}
		})
	}
}

func TestCrossOriginCookieChangesAreRefused(t *testing.T) {
	e := start(t)
	tests := []struct {
		name   string
		header []string
		status int
	}{
		{"cross-site with the admin cookie", append([]string{"Sec-Fetch-Site", "cross-site"}, e.cookie(e.rootCookie)...), 403},
		{"foreign Origin with the admin cookie", append([]string{"Origin", "https://evil.example"}, e.cookie(e.rootCookie)...), 403},
		{"same-origin with the admin cookie", append([]string{"Sec-Fetch-Site", "same-origin"}, e.cookie(e.rootCookie)...), 200},
		{"cross-site with a bearer token", append([]string{"Sec-Fetch-Site", "cross-site"}, bearer(e.rootToken)...), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, "POST", "/admin/api/v1/users/alice/disable", "", tt.header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
			e.do(t, "POST", "/admin/api/v1/users/alice/enable", "", bearer(e.rootToken)...)
		})
	}
}

// TestChangesAreAuditedWithTheActingAdmin makes every change the API offers
// and checks its audit row names root as the actor.
func TestChangesAreAuditedWithTheActingAdmin(t *testing.T) {
	e := start(t)
	admin := bearer(e.rootToken)
	aliceUser, _ := e.App.Users.Get(context.Background(), "alice")
	sessID := e.sessionsOf(t, "alice")[0]
	famID := e.familiesOf(t, "alice")[0]
	steps := []struct {
		method, path, body string
		status             int
		event              string
	}{
		{"POST", "/admin/api/v1/users", `{"username":"bob","password":"` + pw + `","roles":["user"]}`, 201, audit.UserCreated},
		{"PUT", "/admin/api/v1/users/bob/roles", `{"roles":["user","ops"]}`, 200, audit.UserChanged},
		{"POST", "/admin/api/v1/users/bob/disable", "", 200, audit.UserDisabled},
		{"POST", "/admin/api/v1/users/bob/enable", "", 200, audit.UserEnabled},
		{"DELETE", "/admin/api/v1/users/alice/sessions/" + sessID, "", 204, audit.SessionRevoked},
		{"DELETE", "/admin/api/v1/users/alice/families/" + famID, "", 204, audit.TokenRevoked},
		{"POST", "/admin/api/v1/users/alice/logout", "", 204, audit.SessionRevoked},
		{"POST", "/admin/api/v1/keys/rotate", "", 200, audit.KeyRotated},
		{"DELETE", "/admin/api/v1/users/bob", "", 204, audit.UserDeleted},
	}
	for _, s := range steps {
		resp, body := e.do(t, s.method, s.path, s.body, append([]string{"Content-Type", "application/json"}, admin...)...)
		if resp.StatusCode != s.status {
			t.Fatalf("%s %s = %d, want %d (%s)", s.method, s.path, resp.StatusCode, s.status, body)
		}
		evs, err := e.App.Store.ListAudit(context.Background(), audit.Filter{Type: s.event, Limit: 1})
		if err != nil || len(evs) == 0 {
			t.Fatalf("%s %s: no %s audit event (%v)", s.method, s.path, s.event, err)
		}
		if got := evs[0].Details["actor"]; got != "root" {
			t.Errorf("%s %s: %s event actor = %q, want root (details %v)", s.method, s.path, s.event, got, evs[0].Details)
		}
	}
	_ = aliceUser
}

func (e *env) sessionsOf(t *testing.T, name string) []string { return e.idsOf(t, name, "sessions") }
func (e *env) familiesOf(t *testing.T, name string) []string { return e.idsOf(t, name, "families") }

// idsOf lists the IDs of a user's sessions or refresh families through the
// API; the test fails when there are none.
func (e *env) idsOf(t *testing.T, name, kind string) []string {
	t.Helper()
	_, body := e.do(t, "GET", "/admin/api/v1/users/"+name+"/"+kind, "", bearer(e.rootToken)...)
	var out map[string][]struct{ ID string }
	_ = json.Unmarshal([]byte(body), &out)
	ids := []string{}
	for _, x := range out[kind] {
		ids = append(ids, x.ID)
	}
	if len(ids) == 0 {
		t.Fatalf("%s has no %s: %s", name, kind, body)
	}
	return ids
}

func TestRevokedCredentialsStopWorking(t *testing.T) {
	e := start(t)
	sess := e.sessionsOf(t, "alice")[0]
	if resp, _ := e.do(t, "DELETE", "/admin/api/v1/users/alice/sessions/"+sess, "", bearer(e.rootToken)...); resp.StatusCode != 204 {
		t.Fatalf("revoke session = %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "GET", "/auth/session", "", e.cookie(e.aliceCookie)...); resp.StatusCode != 401 {
		t.Errorf("alice's revoked session still answers %d", resp.StatusCode)
	}
	fam := e.familiesOf(t, "alice")[0]
	if resp, _ := e.do(t, "DELETE", "/admin/api/v1/users/alice/families/"+fam, "", bearer(e.rootToken)...); resp.StatusCode != 204 {
		t.Fatalf("revoke family = %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "GET", "/auth/userinfo", "", bearer(e.aliceToken)...); resp.StatusCode != 401 {
		t.Errorf("alice's token of a revoked family still answers %d", resp.StatusCode)
	}
	// Another user's session or family through alice's path is not found.
	rootSess := e.sessionsOf(t, "root")[0]
	if resp, _ := e.do(t, "DELETE", "/admin/api/v1/users/alice/sessions/"+rootSess, "", bearer(e.rootToken)...); resp.StatusCode != 404 {
		t.Errorf("revoking root's session under alice = %d, want 404", resp.StatusCode)
	}
	rootFam := e.familiesOf(t, "root")[0]
	if resp, _ := e.do(t, "DELETE", "/admin/api/v1/users/alice/families/"+rootFam, "", bearer(e.rootToken)...); resp.StatusCode != 404 {
		t.Errorf("revoking root's family under alice = %d, want 404", resp.StatusCode)
	}
}

func TestSignOutEverywhereAndDisable(t *testing.T) {
	e := start(t)
	if resp, _ := e.do(t, "POST", "/admin/api/v1/users/alice/logout", "", bearer(e.rootToken)...); resp.StatusCode != 204 {
		t.Fatalf("logout = %d", resp.StatusCode)
	}
	for name, h := range map[string][]string{"session": e.cookie(e.aliceCookie), "token": bearer(e.aliceToken)} {
		if resp, _ := e.do(t, "GET", "/auth/userinfo", "", h...); resp.StatusCode != 401 {
			t.Errorf("alice's %s after sign-out-everywhere = %d, want 401", name, resp.StatusCode)
		}
	}
}

func TestConfigIsMasked(t *testing.T) {
	e := start(t, testutil.WithConfig(func(c *config.Config) {
		c.Keys.EncryptionKey = "a-very-secret-encryption-key-of-32+bytes"
	}))
	_, body := e.do(t, "GET", "/admin/api/v1/config", "", bearer(e.rootToken)...)
	if strings.Contains(body, "a-very-secret") {
		t.Fatalf("config shows the secret: %s", body)
	}
	if !strings.Contains(body, "encryption_key") {
		t.Errorf("config misses the masked key: %s", body)
	}
}

func TestBadInput(t *testing.T) {
	e := start(t)
	tests := []struct{ method, path, body string }{
		{"POST", "/admin/api/v1/users", `{"username":"x y","password":"` + pw + `"}`},
		{"POST", "/admin/api/v1/users", `{"username":"bob","pasword":"typo"}`},
		{"PUT", "/admin/api/v1/users/alice/roles", `{"roles":["a,b"]}`},
		{"GET", "/admin/api/v1/users?limit=-1", ""},
		{"GET", "/admin/api/v1/audit?since=yesterday", ""},
		{"GET", "/admin/api/v1/audit?before=zzz", ""},
		{"POST", "/admin/api/v1/explain", `{"method":"GET","url":"ftp://x/"}`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.body, func(t *testing.T) {
			resp, body := e.do(t, tt.method, tt.path, tt.body, append([]string{"Content-Type", "application/json"}, bearer(e.rootToken)...)...)
			if resp.StatusCode != 400 || !strings.Contains(body, `"invalid_request"`) {
				t.Errorf("= %d %s, want 400 invalid_request", resp.StatusCode, body)
			}
		})
	}
	if resp, _ := e.do(t, "POST", "/admin/api/v1/users", `{"username":"alice","password":"`+pw+`"}`, append([]string{"Content-Type", "application/json"}, bearer(e.rootToken)...)...); resp.StatusCode != 409 {
		t.Errorf("creating an existing user = %d, want 409", resp.StatusCode)
	}
}

// With admin.require_mfa an administrator whose session carries a second
// factor (TOTP, the contract's two-step login) is let in; the same
// administrator's password-only session is not.
func TestRequireMFAAdmitsAnAdminWithSecondFactor(t *testing.T) {
	clock := testutil.NewClock()
	e := start(t, testutil.WithClock(clock), testutil.WithConfig(func(c *config.Config) {
		c.Admin.RequireMFA = true
		c.Keys.EncryptionKey = "0123456789abcdef0123456789abcdef-test"
	}))
	post := func(path, body string, header ...string) (*http.Response, string) {
		t.Helper()
		return e.do(t, "POST", path, body, append([]string{"Content-Type", "application/json"}, header...)...)
	}
	code := func(secret string) string {
		t.Helper()
		c, err := totp.GenerateCodeCustom(secret, clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Enrol TOTP with the fresh password session.
	resp, body := post("/auth/mfa/totp", "", e.cookie(e.rootCookie)...)
	if resp.StatusCode != 200 {
		t.Fatalf("enrol = %d %s", resp.StatusCode, body)
	}
	var enrol struct{ Secret string }
	_ = json.Unmarshal([]byte(body), &enrol)
	if resp, body := post("/auth/mfa/totp/confirm", `{"code":"`+code(enrol.Secret)+`"}`, e.cookie(e.rootCookie)...); resp.StatusCode != 204 {
		t.Fatalf("confirm = %d %s", resp.StatusCode, body)
	}
	clock.Advance(time.Minute)
	if resp, _ := e.do(t, "GET", "/admin/api/v1/users", "", e.cookie(e.rootCookie)...); resp.StatusCode != 403 {
		t.Fatalf("password-only session: status = %d, want 403", resp.StatusCode)
	}
	// Two-step login: password, then the TOTP code with the pending cookie.
	resp, body = post("/auth/login", `{"username":"root","password":"`+pw+`"}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"mfa_required":true`) {
		t.Fatalf("password step = %d %s", resp.StatusCode, body)
	}
	var pending string
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse_mfa" {
			pending = c.Value
		}
	}
	resp, body = post("/auth/login/mfa", `{"method":"totp","code":"`+code(enrol.Secret)+`"}`, "Cookie", "gatehouse_mfa="+pending)
	if resp.StatusCode != 200 {
		t.Fatalf("second step = %d %s", resp.StatusCode, body)
	}
	var mfaSession string
	for _, c := range resp.Cookies() {
		if c.Name == e.cookieName {
			mfaSession = c.Value
		}
	}
	if resp, body := e.do(t, "GET", "/admin/api/v1/users", "", e.cookie(mfaSession)...); resp.StatusCode != 200 {
		t.Fatalf("session with a second factor: status = %d, want 200 (%s)", resp.StatusCode, body)
	}
}
