package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/openapitest"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

const pw = "correct horse battery staple"

// encryptionKey lets TOTP be enrolled (secrets are sealed with it).
const encryptionKey = "0123456789abcdef0123456789abcdef-admin-test"

// env is a running gatehouse (admin.require_mfa at its default, true)
// with an administrator "root" and plain users "alice" and "carol". root
// has TOTP: rootCookie and rootToken carry the second factor,
// rootPwdCookie and rootPwdToken (from before the enrolment) do not.
type env struct {
	*testutil.Instance
	clock                       *testutil.Clock
	rootCookie, aliceCookie     string
	rootToken, aliceToken       string
	rootPwdCookie, rootPwdToken string
	rootSecret                  string
	cookieName                  string
}

func start(t *testing.T, opts ...testutil.Option) *env {
	t.Helper()
	clock := testutil.NewClock()
	base := []testutil.Option{testutil.WithClock(clock), testutil.WithConfig(func(c *config.Config) {
		c.Keys.EncryptionKey = encryptionKey
	})}
	i := testutil.Start(t, append(base, opts...)...)
	i.CreateUser(t, "root", pw, "admin")
	i.CreateUser(t, "alice", pw, "user")
	i.CreateUser(t, "carol", pw, "user")
	e := &env{Instance: i, clock: clock, cookieName: i.Config.CookieName()}
	e.aliceCookie, e.aliceToken = e.login(t, "alice"), e.token(t, "alice")
	e.rootPwdCookie, e.rootPwdToken = e.login(t, "root"), e.token(t, "root")
	e.rootSecret = e.enrolTOTP(t, e.rootPwdCookie)
	clock.Advance(time.Minute) // the next TOTP step: a code is accepted once
	e.rootCookie = e.loginMFA(t, "root", e.rootSecret)
	e.rootToken = e.mfaToken(t, "root")
	return e
}

func (e *env) login(t *testing.T, name string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": name, "password": pw})
	resp, body := e.do(t, "POST", "/auth/login", string(b), "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("login %s: %d %s", name, resp.StatusCode, body)
	}
	return e.cookieOf(t, resp, e.cookieName)
}

func (e *env) cookieOf(t *testing.T, resp *http.Response, name string) string {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	t.Fatalf("%s: no %s cookie", resp.Request.URL.Path, name)
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

// totp is the code of secret at the instance's clock.
func (e *env) totp(t *testing.T, secret string) string {
	t.Helper()
	return mfatest.TOTPCode(t, secret, e.clock.Now())
}

// enrolTOTP enrols and confirms TOTP with a fresh session and returns the
// secret.
func (e *env) enrolTOTP(t *testing.T, cookie string) string {
	t.Helper()
	resp, body := e.do(t, "POST", "/auth/mfa/totp", "", append([]string{"Content-Type", "application/json"}, e.cookie(cookie)...)...)
	if resp.StatusCode != 200 {
		t.Fatalf("enrol = %d %s", resp.StatusCode, body)
	}
	var enrol struct{ Secret string }
	_ = json.Unmarshal([]byte(body), &enrol)
	if resp, body := e.do(t, "POST", "/auth/mfa/totp/confirm", `{"code":"`+e.totp(t, enrol.Secret)+`"}`,
		append([]string{"Content-Type", "application/json"}, e.cookie(cookie)...)...); resp.StatusCode != 204 {
		t.Fatalf("confirm = %d %s", resp.StatusCode, body)
	}
	return enrol.Secret
}

// loginMFA signs in with password and TOTP (contract §9) and returns the
// session cookie, whose amr carries mfa.
func (e *env) loginMFA(t *testing.T, name, secret string) string {
	t.Helper()
	resp, body := e.do(t, "POST", "/auth/login", `{"username":"`+name+`","password":"`+pw+`"}`, "Content-Type", "application/json")
	if resp.StatusCode != 200 || !strings.Contains(body, `"mfa_required":true`) {
		t.Fatalf("password step = %d %s", resp.StatusCode, body)
	}
	pending := e.cookieOf(t, resp, "gatehouse_mfa")
	resp, body = e.do(t, "POST", "/auth/login/mfa", `{"method":"totp","code":"`+e.totp(t, secret)+`"}`,
		"Content-Type", "application/json", "Cookie", "gatehouse_mfa="+pending)
	if resp.StatusCode != 200 || !strings.Contains(body, `"mfa"`) {
		t.Fatalf("second step = %d %s", resp.StatusCode, body)
	}
	return e.cookieOf(t, resp, e.cookieName)
}

// mfaToken is an access token for the user with a second factor in amr,
// signed by the instance's issuer, as the authorization-code flow issues
// it from a session that used one (contract §9: amr is copied into access
// tokens; the password grant refuses users with a second factor).
func (e *env) mfaToken(t *testing.T, name string) string {
	t.Helper()
	u, err := e.App.Users.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := e.App.Issuer.Issue(token.Subject{UserID: u.ID, Username: u.Username, Roles: u.Roles, ClientID: "gatehouse",
		AMR: []string{"pwd", "otp", "mfa"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) do(t *testing.T, method, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	c := testutil.Client(t)
	c.Transport = openapitest.Transport(t, nil) // the document must describe every exchange
	return e.doWith(t, c, method, path, body, header...)
}

// doWith is do with client c: testutil.Client(t) for a request the
// OpenAPI document does not describe on purpose (an attacker's).
func (e *env) doWith(t *testing.T, c *http.Client, method, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	return testutil.Send(t, c, method, e.URL+path, body, header...)
}

func (e *env) cookie(v string) []string { return []string{"Cookie", e.cookieName + "=" + v} }
func bearer(v string) []string          { return []string{"Authorization", "Bearer " + v} }

// TestAccess runs every endpoint with no credential, a non-admin session
// and token, an admin session and token without a second factor
// (admin.require_mfa defaults to true), and an admin session and token
// with one. "{n}" in a path or body is the credential's index, so that
// creating endpoints make a fresh client per credential.
func TestAccess(t *testing.T) {
	e := start(t)
	const newClient = `{"client_id":"x-{n}","type":"confidential","grant_types":["client_credentials"],"scopes":["orders"]}`
	endpoints := []struct {
		method, path, body string
		ok                 int
	}{
		{"GET", "/admin/api/v1/users", "", 200},
		{"POST", "/admin/api/v1/users", `{"username":"new-{n}","password":"` + pw + `"}`, 201},
		{"GET", "/admin/api/v1/users/alice", "", 200},
		{"GET", "/admin/api/v1/users/alice/sessions", "", 200},
		{"GET", "/admin/api/v1/users/alice/families", "", 200},
		{"GET", "/admin/api/v1/users/alice/factors", "", 200},
		{"GET", "/admin/api/v1/users/alice/identities", "", 200},
		{"DELETE", "/admin/api/v1/users/alice/identities?issuer=https%3A%2F%2Fidp.example&subject=nobody", "", 404},
		{"POST", "/admin/api/v1/users/alice/identities", `{"provider":"corp","subject":"s-{n}"}`, 400}, // no provider configured
		{"PUT", "/admin/api/v1/users/alice/roles", `{"roles":["user"]}`, 200},
		{"POST", "/admin/api/v1/users/alice/enable", "", 200},
		{"POST", "/admin/api/v1/users/new-{n}/disable", "", 200},
		{"POST", "/admin/api/v1/users/carol/mfa-reset", "", 204},
		{"PUT", "/admin/api/v1/users/carol/password", `{"password":"` + pw + ` two"}`, 204},
		{"POST", "/admin/api/v1/users/carol/logout", "", 204},
		{"DELETE", "/admin/api/v1/users/new-{n}", "", 204},
		{"GET", "/admin/api/v1/keys", "", 200},
		{"POST", "/admin/api/v1/keys/rotate", "", 200},
		{"GET", "/admin/api/v1/audit", "", 200},
		{"GET", "/admin/api/v1/config", "", 200},
		{"POST", "/admin/api/v1/explain", `{"method":"GET","url":"/nowhere"}`, 200},
		{"GET", "/admin/api/v1/clients", "", 200},
		{"POST", "/admin/api/v1/clients", newClient, 201},
		{"GET", "/admin/api/v1/clients/x-{n}", "", 200},
		{"POST", "/admin/api/v1/clients/x-{n}/secret", "", 200},
		{"DELETE", "/admin/api/v1/clients/x-{n}", "", 204},
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
		{"admin session without second factor", e.cookie(e.rootPwdCookie), 403, "forbidden"},
		{"admin token without second factor", bearer(e.rootPwdToken), 403, "forbidden"},
		{"admin session with second factor", e.cookie(e.rootCookie), 0, ""},
		{"admin token with second factor", bearer(e.rootToken), 0, ""},
		// RFC 6750 §3.1: a malformed request, as at /auth/userinfo.
		{"two Authorization headers", append(bearer(e.rootToken), bearer(e.rootToken)...), 400, "invalid_request"},
	}
	for _, ep := range endpoints {
		for n, c := range creds {
			t.Run(ep.method+" "+ep.path+"/"+c.name, func(t *testing.T) {
				fill := strings.NewReplacer("{n}", strconv.Itoa(n)).Replace
				resp, body := e.do(t, ep.method, fill(ep.path), fill(ep.body), append([]string{"Content-Type", "application/json"}, c.header...)...)
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
				if strings.Contains(c.name, "without second factor") && !strings.Contains(body, "admin.require_mfa") {
					t.Errorf("body = %s, want an error_description naming admin.require_mfa", body)
				}
			})
		}
	}
}

// With admin.require_mfa switched off, a password-only administrator is
// let in.
func TestRequireMFAFalseAdmitsPasswordOnlyAdmins(t *testing.T) {
	e := start(t, testutil.WithConfig(func(c *config.Config) { c.Admin.RequireMFA = false }))
	for name, h := range map[string][]string{"session": e.cookie(e.rootPwdCookie), "token": bearer(e.rootPwdToken)} {
		t.Run(name, func(t *testing.T) {
			if resp, body := e.do(t, "GET", "/admin/api/v1/users", "", h...); resp.StatusCode != 200 {
				t.Fatalf("status = %d, want 200 (%s)", resp.StatusCode, body)
			}
		})
	}
}

// A wrong method on an admin endpoint answers 405 with the methods the
// endpoint serves in Allow (RFC 9110 section 15.5.6), as gatehouse's own
// endpoints do; only after authentication, like an unknown path's 404.
func TestWrongMethodOnAdminEndpoint(t *testing.T) {
	e := start(t)
	tests := []struct {
		method, path string
		header       []string
		status       int
		allow        string
	}{
		{"DELETE", "/admin/api/v1/keys", bearer(e.rootToken), 405, "GET, HEAD"},
		{"PATCH", "/admin/api/v1/users/alice", bearer(e.rootToken), 405, "DELETE, GET, HEAD"},
		{"GET", "/admin/api/v1/keys/rotate", bearer(e.rootToken), 405, "POST"},
		{"POST", "/admin/api/v1/users/alice/roles", e.cookie(e.rootCookie), 405, "PUT"},
		{"PUT", "/admin/api/v1/users/alice/identities", bearer(e.rootToken), 405, "DELETE, GET, HEAD, POST"},
		{"DELETE", "/admin/api/v1/config", nil, 401, ""},
		{"DELETE", "/admin/api/v1/config", bearer(e.aliceToken), 403, ""},
		{"GET", "/admin/api/v1/nothing-here", bearer(e.rootToken), 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := e.do(t, tt.method, tt.path, "", append([]string{"Sec-Fetch-Site", "same-origin"}, tt.header...)...)
			if resp.StatusCode != tt.status || resp.Header.Get("Allow") != tt.allow {
				t.Fatalf("%s %s = %d Allow %q %s, want %d Allow %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Allow"), body, tt.status, tt.allow)
			}
			if tt.status == 405 && !strings.Contains(body, `"error":"method_not_allowed"`) {
				t.Errorf("body = %s, want error method_not_allowed", body)
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
	e := start(t, testutil.WithConfig(withLinkProviders))
	admin := bearer(e.rootToken)
	aliceUser, _ := e.App.Users.Get(context.Background(), "alice")
	sessID := e.sessionsOf(t, "alice")[0]
	famID := e.familiesOf(t, "alice")[0]
	e.link(t, "alice", "s-alice")
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
		{"DELETE", "/admin/api/v1/users/alice/identities?issuer=https%3A%2F%2Fidp.example&subject=s-alice", "", 204, audit.IdentityUnlinked},
		{"POST", "/admin/api/v1/users/alice/identities", `{"provider":"corp","subject":"s-alice-2"}`, 201, audit.IdentityLinked},
		{"POST", "/admin/api/v1/keys/rotate", "", 200, audit.KeyRotated},
		{"PUT", "/admin/api/v1/users/bob/password", `{"password":"` + pw + ` again"}`, 204, audit.UserChanged},
		{"POST", "/admin/api/v1/users/bob/mfa-reset", "", 204, audit.MFAReset},
		{"DELETE", "/admin/api/v1/users/bob", "", 204, audit.UserDeleted},
		{"POST", "/admin/api/v1/clients", `{"client_id":"svc","type":"confidential","grant_types":["client_credentials"]}`, 201, audit.ClientCreated},
		{"POST", "/admin/api/v1/clients/svc/secret", "", 200, audit.ClientSecret},
		{"DELETE", "/admin/api/v1/clients/svc", "", 204, audit.ClientDeleted},
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
		{"PUT", "/admin/api/v1/users/alice/roles", `{"roles":["a\u0001b"]}`},
		{"PUT", "/admin/api/v1/users/alice/roles", `{"roles":["ad\u200bmin"]}`},
		{"POST", "/admin/api/v1/clients", `{"client_id":"svc4","type":"confidential","grant_types":["client_credentials"],"roles":["svc\u007f"]}`},
		{"GET", "/admin/api/v1/users?limit=-1", ""},
		{"GET", "/admin/api/v1/audit?since=yesterday", ""},
		{"GET", "/admin/api/v1/audit?before=zzz", ""},
		{"GET", "/admin/api/v1/audit?type=login.okk", ""}, // a typo would match nothing
		{"POST", "/admin/api/v1/explain", `{"method":"GET","url":"ftp://x/"}`},
		// A client's roles travel in X-Auth-Roles like a user's: "svc,admin"
		// would reach the upstream as two roles, one of them admin.
		{"POST", "/admin/api/v1/clients", `{"client_id":"svc","type":"confidential","grant_types":["client_credentials"],"roles":["svc,admin"]}`},
		{"POST", "/admin/api/v1/clients", `{"client_id":"svc2","type":"confidential","grant_types":["client_credentials"],"roles":["svc admin"]}`},
		{"POST", "/admin/api/v1/clients", `{"client_id":"svc3","type":"confidential","grant_types":["client_credentials"],"roles":[""]}`},
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

// An RFC 3339 offset typed into a URL as it is written ("+01:00") reaches
// the server as a space, since a query string's '+' is one; the 400 says
// to send %2B instead of claiming the time is not RFC 3339.
func TestAuditTimeOffsetPlusIsExplained(t *testing.T) {
	e := start(t)
	for _, q := range []string{"since=2026-01-02T15:04:05+01:00", "until=2026-01-02T15:04:05+01:00"} {
		t.Run(q, func(t *testing.T) {
			resp, body := e.do(t, "GET", "/admin/api/v1/audit?"+q, "", bearer(e.rootToken)...)
			if resp.StatusCode != 400 || !strings.Contains(body, "%2B") {
				t.Errorf("= %d %s, want 400 saying to send + as %%2B", resp.StatusCode, body)
			}
		})
	}
	if resp, body := e.do(t, "GET", "/admin/api/v1/audit?since=2026-01-02T15:04:05%2B01:00", "", bearer(e.rootToken)...); resp.StatusCode != 200 {
		t.Errorf("since with %%2B = %d %s, want 200", resp.StatusCode, body)
	}
}

// The admin API's reset is the CLI's: every factor goes, the user is
// signed out everywhere (a compromised account), and mfa.reset names the
// acting administrator.
func TestMFAResetRemovesFactorsAndSignsOut(t *testing.T) {
	e := start(t)
	admin := bearer(e.rootToken)
	ctx := context.Background()
	alice, _ := e.App.Users.Get(ctx, "alice")
	if _, err := e.App.MFA.NewRecoveryCodes(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	aliceSecret := e.enrolTOTP(t, e.aliceCookie)
	var f struct {
		TOTP              string   `json:"totp"`
		RecoveryCodesLeft int      `json:"recovery_codes_left"`
		Methods           []string `json:"methods"`
	}
	_, body := e.do(t, "GET", "/admin/api/v1/users/alice/factors", "", admin...)
	if err := json.Unmarshal([]byte(body), &f); err != nil || f.TOTP != "on" || f.RecoveryCodesLeft != 10 || len(f.Methods) != 2 {
		t.Fatalf("factors before reset = %s, want totp on, 10 codes, 2 methods", body)
	}
	if strings.Contains(body, aliceSecret) {
		t.Fatal("the factor list shows the TOTP secret")
	}
	if resp, body := e.do(t, "POST", "/admin/api/v1/users/alice/mfa-reset", "", admin...); resp.StatusCode != 204 {
		t.Fatalf("mfa-reset = %d %s", resp.StatusCode, body)
	}
	_, body = e.do(t, "GET", "/admin/api/v1/users/alice/factors", "", admin...)
	if err := json.Unmarshal([]byte(body), &f); err != nil || f.TOTP != "off" || f.RecoveryCodesLeft != 0 || len(f.Methods) != 0 {
		t.Errorf("factors after reset = %s, want none", body)
	}
	for name, h := range map[string][]string{"session": e.cookie(e.aliceCookie), "token": bearer(e.aliceToken)} {
		if resp, _ := e.do(t, "GET", "/auth/userinfo", "", h...); resp.StatusCode != 401 {
			t.Errorf("alice's %s after mfa-reset = %d, want 401", name, resp.StatusCode)
		}
	}
	// She signs in with her password alone again (no second step).
	if resp, body := e.do(t, "POST", "/auth/login", `{"username":"alice","password":"`+pw+`"}`, "Content-Type", "application/json"); resp.StatusCode != 200 || strings.Contains(body, "mfa_required") {
		t.Errorf("password login after reset = %d %s, want a session", resp.StatusCode, body)
	}
	evs, err := e.App.Store.ListAudit(ctx, audit.Filter{Type: audit.MFAReset, UserID: alice.ID})
	if err != nil || len(evs) != 1 || evs[0].Details["actor"] != "root" || evs[0].Details["via"] != "admin" {
		t.Errorf("mfa.reset events = %+v, %v; want one with actor root via admin", evs, err)
	}
	if resp, _ := e.do(t, "POST", "/admin/api/v1/users/nobody/mfa-reset", "", admin...); resp.StatusCode != 404 {
		t.Errorf("reset of an unknown user = %d, want 404", resp.StatusCode)
	}
}

// Clients through the API: created with the registry's validation, the
// secret shown once and working at the token endpoint, rotated (the old
// one stops), deleted (the new one stops); config clients are read-only.
func TestClientsLifecycle(t *testing.T) {
	e := start(t, testutil.WithConfig(func(c *config.Config) {
		c.Clients = append(c.Clients, config.Client{ID: "from-config", Type: "public", RedirectURIs: []string{"https://app.example.com/cb"},
			GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}})
	}))
	admin := append([]string{"Content-Type", "application/json"}, bearer(e.rootToken)...)
	clientCredentials := func(secret string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", e.URL+"/auth/token", strings.NewReader("grant_type=client_credentials&scope=orders"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc", secret)
		c := testutil.Client(t)
		c.Transport = openapitest.Transport(t, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		testutil.ReadBody(t, resp)
		return resp.StatusCode
	}

	resp, body := e.do(t, "POST", "/admin/api/v1/clients", `{"client_id":"svc","name":"Orders service","type":"confidential","grant_types":["client_credentials"],"scopes":["orders"],"roles":["svc"]}`, admin...)
	var created struct {
		Client struct {
			ID, Source string
			HasSecret  bool `json:"has_secret"`
		}
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil || resp.StatusCode != 201 || created.ClientSecret == "" || created.Client.Source != "store" || !created.Client.HasSecret {
		t.Fatalf("create = %d %s", resp.StatusCode, body)
	}
	if got := clientCredentials(created.ClientSecret); got != 200 {
		t.Fatalf("client_credentials with the shown secret = %d", got)
	}
	if _, body := e.do(t, "GET", "/admin/api/v1/clients/svc", "", admin...); strings.Contains(body, created.ClientSecret) || !strings.Contains(body, `"name":"Orders service"`) {
		t.Errorf("show = %s: want the client, never its secret", body)
	}
	_, body = e.do(t, "GET", "/admin/api/v1/clients", "", admin...)
	if !strings.Contains(body, `"client_id":"from-config"`) || !strings.Contains(body, `"source":"config"`) || strings.Contains(body, created.ClientSecret) {
		t.Errorf("list = %s", body)
	}

	resp, body = e.do(t, "POST", "/admin/api/v1/clients/svc/secret", "", admin...)
	var rotated struct {
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(body), &rotated); err != nil || resp.StatusCode != 200 || rotated.ClientSecret == "" || rotated.ClientSecret == created.ClientSecret {
		t.Fatalf("rotate = %d %s", resp.StatusCode, body)
	}
	if got := clientCredentials(created.ClientSecret); got != 401 {
		t.Errorf("old secret after rotation = %d, want 401", got)
	}
	if got := clientCredentials(rotated.ClientSecret); got != 200 {
		t.Errorf("new secret = %d, want 200", got)
	}
	if resp, _ := e.do(t, "DELETE", "/admin/api/v1/clients/svc", "", admin...); resp.StatusCode != 204 {
		t.Fatalf("delete = %d", resp.StatusCode)
	}
	if got := clientCredentials(rotated.ClientSecret); got != 401 {
		t.Errorf("secret of a deleted client = %d, want 401", got)
	}
	e.AssertLogsDoNotContain(t, created.ClientSecret, rotated.ClientSecret)

	refusals := []struct {
		name, method, path, body string
		status                   int
		description              string
	}{
		{"delete a config client", "DELETE", "/admin/api/v1/clients/from-config", "", 409, "declared in the config file"},
		{"rotate a config client", "POST", "/admin/api/v1/clients/from-config/secret", "", 409, "declared in the config file"},
		{"add over a config client", "POST", "/admin/api/v1/clients", `{"client_id":"from-config","type":"public","redirect_uris":["https://x.example/cb"],"grant_types":["authorization_code"]}`, 409, "taken"},
		{"unregistered kind of redirect", "POST", "/admin/api/v1/clients", `{"client_id":"web","type":"public","redirect_uris":["http://evil.example/cb#frag"],"grant_types":["authorization_code"]}`, 400, "redirect_uris[0]"},
		{"bad client_id", "POST", "/admin/api/v1/clients", `{"client_id":"a b","type":"public","grant_types":["authorization_code"]}`, 400, "client_id"},
		{"a secret cannot be chosen", "POST", "/admin/api/v1/clients", `{"client_id":"svc2","type":"confidential","secret":"0123456789abcdef0123456789abcdef"}`, 400, `unknown member \"secret\"`},
		// The whole description: it once ended in the sentinel's ": invalid input".
		{"rotate a public client", "POST", "/admin/api/v1/clients/pub/secret", "", 400, `"error_description":"a public client has no secret"}`},
		{"unknown client", "GET", "/admin/api/v1/clients/ghost", "", 404, ""},
	}
	if resp, body := e.do(t, "POST", "/admin/api/v1/clients", `{"client_id":"pub","type":"public","redirect_uris":["https://pub.example/cb"],"grant_types":["authorization_code"]}`, admin...); resp.StatusCode != 201 || strings.Contains(body, "client_secret") {
		t.Fatalf("create public = %d %s, want 201 without a secret", resp.StatusCode, body)
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, tt.method, tt.path, tt.body, admin...)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.description) {
				t.Errorf("= %d %s, want %d with %q", resp.StatusCode, body, tt.status, tt.description)
			}
		})
	}
}

// An OIDC account linked to a user is listed, as `gatehouse user list`
// shows it, on the API and the console page.
func TestLinkedIdentitiesAreListed(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	alice, _ := e.App.Users.Get(ctx, "alice")
	if err := e.App.Users.Link(ctx, user.Identity{Issuer: "https://idp.example", Subject: "s-123", Provider: "corp", Email: "alice@example.com"}, alice); err != nil {
		t.Fatal(err)
	}
	if _, body := e.do(t, "GET", "/admin/api/v1/users/alice/identities", "", bearer(e.rootToken)...); !strings.Contains(body, `"provider":"corp"`) || !strings.Contains(body, `"email":"alice@example.com"`) {
		t.Errorf("identities = %s", body)
	}
	if _, body := e.do(t, "GET", "/admin/api/v1/users/carol/identities", "", bearer(e.rootToken)...); body != "{\"identities\":[]}\n" {
		t.Errorf("carol's identities = %q, want none", body)
	}
	if _, page := e.do(t, "GET", "/admin/users/alice", "", append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)...); !strings.Contains(page, "<td>corp</td><td>alice@example.com</td>") {
		t.Errorf("user page lacks the linked account:\n%s", page)
	}
}

// A client's own token (client_credentials: sub = client_id, roles of the
// client) is no user's: admin.roles names the users who may administer
// (contract §11), so a service client that holds a role called "admin"
// for a gateway route is not let into the admin API, even with
// admin.require_mfa off.
func TestClientCredentialsTokenIsNoAdministrator(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-jobs"
	e := start(t, testutil.WithConfig(func(c *config.Config) {
		c.Admin.RequireMFA = false
		c.Clients = append(c.Clients, config.Client{ID: "jobs", Type: "confidential", Secret: secret,
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders"}, Roles: []string{"admin"}})
	}))
	req, _ := http.NewRequest("POST", e.URL+"/auth/token", strings.NewReader("grant_type=client_credentials&scope=orders"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("jobs", secret)
	resp, err := testutil.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := testutil.ReadBody(t, resp)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || resp.StatusCode != 200 || out.AccessToken == "" {
		t.Fatalf("client_credentials = %d %s", resp.StatusCode, body)
	}
	for _, ep := range []struct{ method, path, body string }{
		{"GET", "/admin/api/v1/users", ""},
		{"GET", "/admin/api/v1/config", ""},
		{"POST", "/admin/api/v1/users", `{"username":"planted","password":"` + pw + `","roles":["admin"]}`},
	} {
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			resp, body := e.do(t, ep.method, ep.path, ep.body, append([]string{"Content-Type", "application/json"}, bearer(out.AccessToken)...)...)
			if resp.StatusCode != 403 || !strings.Contains(body, `"error":"forbidden"`) {
				t.Fatalf("status = %d %s, want 403 forbidden", resp.StatusCode, body)
			}
		})
	}
	// A user's token is still let in.
	if resp, body := e.do(t, "GET", "/admin/api/v1/users", "", bearer(e.rootPwdToken)...); resp.StatusCode != 200 {
		t.Fatalf("admin user's token = %d %s", resp.StatusCode, body)
	}
}

// Deleting a client ends what it was given: a client registered again
// under the same client_id cannot redeem the old registration's refresh
// tokens, and the access tokens issued to the old one stop at once.
func TestDeletedClientsTokensEnd(t *testing.T) {
	e := start(t)
	admin := append([]string{"Content-Type", "application/json"}, bearer(e.rootToken)...)
	const body = `{"client_id":"mobile","type":"confidential","first_party":true,"grant_types":["password","refresh_token"],"scopes":["orders"]}`
	register := func() string {
		t.Helper()
		resp, out := e.do(t, "POST", "/admin/api/v1/clients", body, admin...)
		var created struct {
			ClientSecret string `json:"client_secret"`
		}
		if err := json.Unmarshal([]byte(out), &created); err != nil || resp.StatusCode != 201 {
			t.Fatalf("register = %d %s", resp.StatusCode, out)
		}
		return created.ClientSecret
	}
	tokenCall := func(secret string, form url.Values) (int, string) {
		t.Helper()
		form.Set("client_id", "mobile")
		form.Set("client_secret", secret)
		resp, out := e.do(t, "POST", "/auth/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
		return resp.StatusCode, out
	}
	oldSecret := register()
	status, out := tokenCall(oldSecret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}, "scope": {"orders"}})
	var pair struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal([]byte(out), &pair); err != nil || status != 200 || pair.RefreshToken == "" {
		t.Fatalf("password grant = %d %s", status, out)
	}
	if resp, _ := e.do(t, "GET", "/auth/userinfo", "", bearer(pair.AccessToken)...); resp.StatusCode != 200 {
		t.Fatalf("userinfo before the delete = %d, want 200", resp.StatusCode)
	}

	if resp, _ := e.do(t, "DELETE", "/admin/api/v1/clients/mobile", "", admin...); resp.StatusCode != 204 {
		t.Fatalf("delete = %d", resp.StatusCode)
	}
	newSecret := register()
	if status, out := tokenCall(newSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pair.RefreshToken}}); status != 400 || !strings.Contains(out, "invalid_grant") {
		t.Errorf("old refresh token under the new registration = %d %s, want 400 invalid_grant", status, out)
	}
	if resp, _ := e.do(t, "GET", "/auth/userinfo", "", bearer(pair.AccessToken)...); resp.StatusCode != 401 {
		t.Errorf("old access token after the delete = %d, want 401", resp.StatusCode)
	}
}

// An app registered at run time cannot be given, as its audience, the
// name of a forward: jwt route: its access tokens would carry the aud,
// issuer and keys of the internal JWTs that route's upstream trusts.
func TestClientAudienceCannotNameAJWTRoute(t *testing.T) {
	e := start(t, testutil.WithConfig(func(c *config.Config) {
		c.Routes = append(c.Routes, config.Route{Name: "orders", Match: gateway.RouteMatch{PathPrefix: "/orders/"},
			Upstream: "http://127.0.0.1:1", Auth: "token", Forward: "jwt"})
	}))
	admin := append([]string{"Content-Type", "application/json"}, bearer(e.rootToken)...)
	resp, body := e.do(t, "POST", "/admin/api/v1/clients",
		`{"client_id":"svc","type":"confidential","grant_types":["client_credentials"],"audience":["orders"]}`, admin...)
	if resp.StatusCode != 400 || !strings.Contains(body, "audience[0]") {
		t.Errorf("register with aud = a jwt route's name = %d %s, want 400 naming audience[0]", resp.StatusCode, body)
	}
	if resp, body := e.do(t, "POST", "/admin/api/v1/clients",
		`{"client_id":"svc","type":"confidential","grant_types":["client_credentials"],"audience":["billing"]}`, admin...); resp.StatusCode != 201 {
		t.Errorf("register with another audience = %d %s, want 201", resp.StatusCode, body)
	}
}

// A client stored before its audience became the name of a forward: jwt
// route (a reload, or a version without the check) gets no token with that
// aud: issuing one fails closed.
func TestNoAccessTokenCarriesAJWTRoutesAudience(t *testing.T) {
	e := start(t)
	admin := append([]string{"Content-Type", "application/json"}, bearer(e.rootToken)...)
	resp, body := e.do(t, "POST", "/admin/api/v1/clients",
		`{"client_id":"svc","type":"confidential","grant_types":["client_credentials"],"audience":["orders"]}`, admin...)
	var created struct {
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil || resp.StatusCode != 201 {
		t.Fatalf("register = %d %s", resp.StatusCode, body)
	}
	routes := append(slices.Clone(e.Config.Routes), config.Route{Name: "orders", Match: gateway.RouteMatch{PathPrefix: "/orders/"},
		Upstream: "http://127.0.0.1:1", Auth: "token", Forward: "jwt"})
	if err := e.App.ReloadRoutes(routes); err != nil {
		t.Fatalf("ReloadRoutes: %v", err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {created.ClientSecret}}
	resp, body = e.do(t, "POST", "/auth/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 400 || !strings.Contains(body, "invalid_request") || strings.Contains(body, "access_token") {
		t.Errorf("client_credentials with aud = a jwt route's name = %d %s, want 400 invalid_request, no token", resp.StatusCode, body)
	}
}
