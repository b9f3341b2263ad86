package cluster_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// pairOrigin is the one public_url of both instances, as behind a load
// balancer: a localhost name, because WebAuthn needs a domain.
const pairOrigin = "http://localhost:8099"

const (
	webCB     = "https://rp.example.com/cb"
	webSecret = "web-secret-0123456789abcdefghijklmnopqrstuv"
)

// pair is two in-process instances on one PostgreSQL schema (and one
// Redis prefix, when redis), the way a load balancer without stickiness
// sees them: any request may go to either.
type pair struct {
	a, b *testutil.Instance
	// bound is how long a revocation made on one instance may still be
	// ignored by the other: the contract's 1 s with Redis, the 500 ms
	// poll of the SQL feed (docs/sessions.md) plus a margin without.
	bound time.Duration
}

// startPair starts the instances with a long session cache (refusals
// can only come from the revocation feed), admin without a second factor
// (the tests call the admin API with a password-grant token) and a
// third-party web client that needs consent.
func startPair(t *testing.T, withRedis bool) pair {
	t.Helper()
	dsn := pgtest.DSN(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	t.Cleanup(up.Close)
	redisURL, prefix := "", ""
	if withRedis {
		redisURL, prefix = redistest.New(t)
	}
	shared := func(c *config.Config) {
		c.Store = dsn
		c.PublicURL = pairOrigin
		c.Keys.EncryptionKey = "cluster-test-encryption-key-0123456789"
		c.Sessions.CacheTTL = config.Duration(30 * time.Second)
		c.Admin.RequireMFA = false
		c.Login.MaxFailures = 50
		if withRedis {
			c.Sessions.Store = "redis"
			c.Redis = config.Redis{URL: redisURL, KeyPrefix: prefix}
		}
		c.Clients = []config.Client{{ID: "web", Name: "Orders web", Type: "confidential", Secret: webSecret,
			RedirectURIs: []string{webCB}, GrantTypes: []string{"authorization_code", "refresh_token"},
			Scopes: []string{"openid", "profile", "offline_access"}}}
		c.Routes = []config.Route{{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: up.URL,
			Auth: "session", Roles: []string{"user"}, Forward: "headers"}}
	}
	p := pair{a: testutil.Start(t, testutil.WithConfig(shared)), b: testutil.Start(t, testutil.WithConfig(shared)), bound: time.Second}
	p.a.CreateUser(t, "alice", password, "user")
	p.a.CreateUser(t, "root", password, "admin")
	return p
}

// pairBackends are the shared stores the tests run on.
var pairBackends = map[string]bool{"PostgresRedis": true, "PostgresOnly": false}

// call sends a request with c (nil: no cookies) and returns the status
// and body.
func call(t *testing.T, c *http.Client, method, u, body string, header ...string) (int, string) {
	t.Helper()
	if c == nil {
		c = testutil.Client(t)
	}
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, testutil.ReadBody(t, resp)
}

// passwordGrant returns the password grant's answer for name on base.
func passwordGrant(t *testing.T, base, name string) map[string]any {
	t.Helper()
	status, m := tokens(t, base, url.Values{"grant_type": {"password"}, "username": {name}, "password": {password}})
	if status != http.StatusOK {
		t.Fatalf("password grant for %s on %s = %d %v", name, base, status, m)
	}
	return m
}

// admin calls the admin API on base with root's bearer token.
func (p pair) admin(t *testing.T, base, method, path string, body any) (int, string) {
	t.Helper()
	at := passwordGrant(t, base, "root")["access_token"].(string)
	b := ""
	if body != nil {
		raw, _ := json.Marshal(body)
		b = string(raw)
	}
	return call(t, nil, method, base+"/admin/api/v1"+path, b, "Authorization", "Bearer "+at, "Content-Type", "application/json")
}

// browserOn returns a cookie-carrying client signed in as alice on base.
// Its jar does not tell the instances' ports apart: the cookie goes to
// both, as to one public_url behind a load balancer.
func browserOn(t *testing.T, base string) *http.Client {
	t.Helper()
	c := testutil.Client(t)
	login, _ := json.Marshal(map[string]string{"username": "alice", "password": password})
	if status, body := call(t, c, "POST", base+"/auth/login", string(login), "Content-Type", "application/json"); status != http.StatusOK {
		t.Fatalf("login on %s = %d %s", base, status, body)
	}
	return c
}

// refusedWithin reports whether probe answers 401 within d.
func refusedWithin(t *testing.T, d time.Duration, probe func() int) bool {
	t.Helper()
	return clocktest.Within(d, func() bool { return probe() == http.StatusUnauthorized })
}

func sessionStatus(t *testing.T, c *http.Client, base string) int {
	status, _ := call(t, c, "GET", base+"/auth/session", "")
	return status
}

func userinfoStatus(t *testing.T, base, access string) int {
	status, _ := call(t, nil, "GET", base+"/auth/userinfo", "", "Authorization", "Bearer "+access)
	return status
}

// An administrator's disable and "log out everywhere" on A end alice's
// session and access token on B within the documented bound, although B
// holds both in its caches.
func TestAdminRevocationsReachThePeer(t *testing.T) {
	for name, withRedis := range pairBackends {
		t.Run(name, func(t *testing.T) {
			p := startPair(t, withRedis)
			for _, action := range []string{"logout", "disable"} {
				c := browserOn(t, p.a.URL)
				access := passwordGrant(t, p.a.URL, "alice")["access_token"].(string)
				if sessionStatus(t, c, p.b.URL) != http.StatusOK || userinfoStatus(t, p.b.URL, access) != http.StatusOK {
					t.Fatalf("alice's credentials on B before %s are refused", action)
				}
				if status, body := p.admin(t, p.a.URL, "POST", "/users/alice/"+action, nil); status/100 != 2 {
					t.Fatalf("admin %s on A = %d %s", action, status, body)
				}
				if !refusedWithin(t, p.bound, func() int { return sessionStatus(t, c, p.b.URL) }) {
					t.Errorf("B accepts alice's session %s after the admin's %s on A", p.bound, action)
				}
				if !refusedWithin(t, p.bound, func() int { return userinfoStatus(t, p.b.URL, access) }) {
					t.Errorf("B accepts alice's access token %s after the admin's %s on A", p.bound, action)
				}
			}
			if status, body := p.admin(t, p.b.URL, "POST", "/users/alice/enable", nil); status != http.StatusOK {
				t.Fatalf("enable on B = %d %s", status, body)
			}
			c := browserOn(t, p.a.URL)
			if got := sessionStatus(t, c, p.b.URL); got != http.StatusOK {
				t.Errorf("a new session after enable on B = %d, want 200", got)
			}
		})
	}
}

// jwks is an instance's JWKS document.
func jwks(t *testing.T, base string) string {
	t.Helper()
	status, body := call(t, nil, "GET", base+"/.well-known/jwks.json", "")
	if status != http.StatusOK {
		t.Fatalf("jwks on %s = %d", base, status)
	}
	return body
}

// A key rotated through the admin API on A: B signs with it within the
// bound, both instances serve the same JWKS, and tokens signed before by
// either instance keep verifying on both.
func TestAdminKeyRotationReachesThePeer(t *testing.T) {
	for name, withRedis := range pairBackends {
		t.Run(name, func(t *testing.T) {
			p := startPair(t, withRedis)
			if a, b := jwks(t, p.a.URL), jwks(t, p.b.URL); a != b {
				t.Fatalf("JWKS differ before rotation:\nA %s\nB %s", a, b)
			}
			oldA := passwordGrant(t, p.a.URL, "alice")["access_token"].(string)
			oldB := passwordGrant(t, p.b.URL, "alice")["access_token"].(string)
			status, body := p.admin(t, p.a.URL, "POST", "/keys/rotate", nil)
			if status/100 != 2 {
				t.Fatalf("rotate on A = %d %s", status, body)
			}
			var rotated struct {
				KID string `json:"kid"`
			}
			_ = json.Unmarshal([]byte(body), &rotated)
			if rotated.KID == "" {
				t.Fatalf("rotate answered no kid: %s", body)
			}
			signsNew := clocktest.Within(p.bound, func() bool {
				return kidOf(t, passwordGrant(t, p.b.URL, "alice")["access_token"].(string)) == rotated.KID
			})
			if !signsNew {
				t.Fatalf("B does not sign with the key rotated on A (%s) within %s", rotated.KID, p.bound)
			}
			if a, b := jwks(t, p.a.URL), jwks(t, p.b.URL); a != b || !strings.Contains(a, rotated.KID) {
				t.Errorf("JWKS after rotation:\nA %s\nB %s\nwant both equal, with %s", a, b, rotated.KID)
			}
			for _, base := range []string{p.a.URL, p.b.URL} {
				for what, tok := range map[string]string{"A's old": oldA, "B's old": oldB} {
					if got := userinfoStatus(t, base, tok); got != http.StatusOK {
						t.Errorf("%s token on %s after rotation = %d, want 200 (grace)", what, base, got)
					}
				}
			}
		})
	}
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// authorize sends web's authorization request to base with browser c and
// returns the answer.
func authorize(t *testing.T, c *http.Client, base, verifier string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/auth/authorize?"+url.Values{
		"response_type": {"code"}, "client_id": {"web"}, "redirect_uri": {webCB}, "scope": {"openid profile offline_access"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}, "state": {"s"},
	}.Encode(), nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := testutil.ReadBody(t, resp)
	return resp.StatusCode, resp.Header.Get("Location"), body
}

// consentOn answers the consent page with "allow" on base and returns the
// code from the redirect.
func consentOn(t *testing.T, c *http.Client, base, page string) string {
	t.Helper()
	form := url.Values{"decision": {"allow"}}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	req, _ := http.NewRequest("POST", base+"/auth/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", pairOrigin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := testutil.ReadBody(t, resp)
	return codeOf(t, resp.StatusCode, resp.Header.Get("Location"), body)
}

func codeOf(t *testing.T, status int, loc, body string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if (status != http.StatusFound && status != http.StatusSeeOther) || err != nil || !strings.HasPrefix(loc, webCB) || u.Query().Get("code") == "" {
		t.Fatalf("= %d Location %q, want a redirect to %s with a code\n%.500s", status, loc, webCB, body)
	}
	return u.Query().Get("code")
}

// exchange redeems code on base as web.
func exchange(t *testing.T, base, code, verifier string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB}, "code_verifier": {verifier}}
	req, _ := http.NewRequest("POST", base+"/auth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("web", webSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(testutil.ReadBody(t, resp)), &m)
	return resp.StatusCode, m
}

// An app's authorization flow with every step on the other instance than
// the step before: the authorization request on A, consent given on B,
// the code redeemed on A; a second redemption on B is invalid_grant and
// ends what the code gave on both instances. The consent given on B
// spares the consent page on A; withdrawn on A, B asks again.
func TestAuthorizationFlowAcrossInstances(t *testing.T) {
	for name, withRedis := range pairBackends {
		t.Run(name, func(t *testing.T) {
			p := startPair(t, withRedis)
			c := browserOn(t, p.b.URL)
			const verifier = "verifier-0123456789-0123456789-0123456789-0123456789"
			status, loc, page := authorize(t, c, p.a.URL, verifier)
			if status != http.StatusOK || !strings.Contains(page, "consent_token") {
				t.Fatalf("authorize on A = %d %q, want the consent page\n%.300s", status, loc, page)
			}
			code := consentOn(t, c, p.b.URL, page)
			status, got := exchange(t, p.a.URL, code, verifier)
			access, _ := got["access_token"].(string)
			refresh, _ := got["refresh_token"].(string)
			if status != http.StatusOK || access == "" || refresh == "" {
				t.Fatalf("code from B redeemed on A = %d %v", status, got)
			}
			for _, base := range []string{p.a.URL, p.b.URL} {
				if s := userinfoStatus(t, base, access); s != http.StatusOK {
					t.Fatalf("userinfo on %s = %d", base, s)
				}
			}
			if status, m := exchange(t, p.b.URL, code, verifier); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
				t.Fatalf("second redemption on B = %d %v, want 400 invalid_grant", status, m)
			}
			for _, base := range []string{p.a.URL, p.b.URL} {
				if !refusedWithin(t, p.bound, func() int { return userinfoStatus(t, base, access) }) {
					t.Errorf("%s accepts the access token of a replayed code %s later", base, p.bound)
				}
			}
			if status, m := tokens(t, p.a.URL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
				"client_id": {"web"}, "client_secret": {webSecret}}); status != http.StatusBadRequest {
				t.Errorf("refresh token of a replayed code on A = %d %v, want 400", status, m)
			}

			// Consent remembered on B's answer: A asks no more.
			status, loc, page = authorize(t, c, p.a.URL, verifier)
			codeOf(t, status, loc, page)
			if status, body := call(t, c, "DELETE", p.a.URL+"/auth/consents/web", "", "Origin", pairOrigin, "Sec-Fetch-Site", "same-origin"); status != http.StatusNoContent {
				t.Fatalf("withdraw consent on A = %d %s", status, body)
			}
			if status, loc, page := authorize(t, c, p.b.URL, verifier); status != http.StatusOK || !strings.Contains(page, "consent_token") {
				t.Errorf("authorize on B after consent withdrawn on A = %d %q, want the consent page again", status, loc)
			}
		})
	}
}

// A client registered through the admin API on A is usable on B at once;
// deleted on A, B refuses its authorization requests and its tokens.
func TestClientChangesReachThePeer(t *testing.T) {
	for name, withRedis := range pairBackends {
		t.Run(name, func(t *testing.T) {
			p := startPair(t, withRedis)
			status, body := p.admin(t, p.a.URL, "POST", "/clients", map[string]any{
				"client_id": "svc", "type": "confidential", "grant_types": []string{"client_credentials"}, "roles": []string{"svc"},
			})
			var created struct {
				Secret string `json:"client_secret"`
			}
			_ = json.Unmarshal([]byte(body), &created)
			if status != http.StatusCreated || created.Secret == "" {
				t.Fatalf("create client on A = %d %s", status, body)
			}
			st, m := tokens(t, p.b.URL, url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {created.Secret}})
			access, _ := m["access_token"].(string)
			if st != http.StatusOK || access == "" {
				t.Fatalf("client_credentials on B for a client created on A = %d %v", st, m)
			}
			if status, body := p.admin(t, p.a.URL, "DELETE", "/clients/svc", nil); status != http.StatusNoContent {
				t.Fatalf("delete client on A = %d %s", status, body)
			}
			if st, m := tokens(t, p.b.URL, url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {created.Secret}}); st != http.StatusUnauthorized {
				t.Errorf("client_credentials on B for a client deleted on A = %d %v, want 401 invalid_client", st, m)
			}
			if !refusedWithin(t, p.bound, func() int { return userinfoStatus(t, p.b.URL, access) }) {
				t.Errorf("B accepts the token of a client deleted on A %s later", p.bound)
			}
		})
	}
}

// A passkey registered on A; a passwordless ceremony begun on B finishes
// on A, and the same assertion sent again to B is refused (each ceremony
// works once, across instances).
func TestPasskeyCeremonyAcrossInstances(t *testing.T) {
	for name, withRedis := range pairBackends {
		t.Run(name, func(t *testing.T) {
			p := startPair(t, withRedis)
			key := &mfatest.Authenticator{Origin: pairOrigin, Attachment: "cross-platform"}
			c := browserOn(t, p.a.URL)
			status, opts := call(t, c, "POST", p.a.URL+"/auth/webauthn/register/begin", "{}", "Content-Type", "application/json")
			if status != http.StatusOK {
				t.Fatalf("register/begin on A = %d %s", status, opts)
			}
			cred, k := key.Create(t, []byte(opts))
			fin, _ := json.Marshal(map[string]any{"name": "key", "credential": cred})
			if status, body := call(t, c, "POST", p.b.URL+"/auth/webauthn/register/finish", string(fin), "Content-Type", "application/json"); status != http.StatusCreated {
				t.Fatalf("register/finish on B of a ceremony begun on A = %d %s", status, body)
			}

			other := testutil.Client(t)
			status, opts = call(t, other, "POST", p.b.URL+"/auth/webauthn/login/begin", "{}", "Content-Type", "application/json")
			if status != http.StatusOK {
				t.Fatalf("login/begin on B = %d %s", status, opts)
			}
			// The ceremony cookie, kept to send it again after the finish
			// cleared it.
			u, _ := url.Parse(p.b.URL + "/auth/webauthn/")
			ceremony := other.Jar.Cookies(u)
			assertion, _ := json.Marshal(map[string]any{"credential": key.Get(t, []byte(opts), k)})
			if status, body := call(t, other, "POST", p.a.URL+"/auth/webauthn/login/finish", string(assertion), "Content-Type", "application/json"); status != http.StatusOK {
				t.Fatalf("login/finish on A of a ceremony begun on B = %d %s", status, body)
			}
			if got := sessionStatus(t, other, p.b.URL); got != http.StatusOK {
				t.Errorf("the passkey session from A on B = %d, want 200", got)
			}
			replay := testutil.Client(t)
			replay.Jar.SetCookies(u, ceremony)
			if status, body := call(t, replay, "POST", p.b.URL+"/auth/webauthn/login/finish", string(assertion), "Content-Type", "application/json"); status == http.StatusOK {
				t.Errorf("the same ceremony finished again on B = %d %s, want refused", status, body)
			}
		})
	}
}

// The same refresh token sent to A and B at once: exactly one answer is
// a success, and then the loser's reuse revokes the family everywhere.
// (TestClusterBehavesAsOne checks the race on Redis Cluster; this is the
// same without Redis, where the deny-list is PostgreSQL's feed.)
func TestRefreshRaceAcrossInstances(t *testing.T) {
	for name, withRedis := range pairBackends {
		t.Run(name, func(t *testing.T) {
			p := startPair(t, withRedis)
			for round := range 5 {
				rt := passwordGrant(t, p.a.URL, "alice")["refresh_token"].(string)
				var wg sync.WaitGroup
				statuses := make([]int, 2)
				answers := make([]map[string]any, 2)
				start := make(chan struct{})
				for i, base := range []string{p.a.URL, p.b.URL} {
					wg.Go(func() {
						<-start
						statuses[i], answers[i] = tokens(t, base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
					})
				}
				close(start)
				wg.Wait()
				if btoi(statuses[0] == http.StatusOK)+btoi(statuses[1] == http.StatusOK) != 1 {
					t.Fatalf("round %d: statuses %v, want exactly one 200", round, statuses)
				}
				win := answers[0]
				if statuses[1] == http.StatusOK {
					win = answers[1]
				}
				access := win["access_token"].(string)
				// The loser was a reuse: the winner's family is revoked,
				// its access token refused on both instances.
				for _, base := range []string{p.a.URL, p.b.URL} {
					if !refusedWithin(t, p.bound, func() int { return userinfoStatus(t, base, access) }) {
						t.Errorf("round %d: %s accepts the winner's access token %s after the reuse", round, base, p.bound)
					}
				}
			}
		})
	}
}

// A role taken away through the admin API on A is no longer granted to
// the user's session at a gateway route on either instance within the
// revocation feed's bound, although both hold the session in their
// caches (cache_ttl 30 s): a session is server-side state, and the roles
// judged are the account's (a token carries its roles until refreshed,
// docs/tokens.md).
func TestRoleChangeReachesCachedSessions(t *testing.T) {
	for name, withRedis := range pairBackends {
		t.Run(name, func(t *testing.T) {
			p := startPair(t, withRedis)
			c := browserOn(t, p.a.URL)
			route := func(base string) int {
				status, _ := call(t, c, "GET", base+"/app/x", "")
				return status
			}
			for _, base := range []string{p.a.URL, p.b.URL} {
				if got := route(base); got != http.StatusOK {
					t.Fatalf("route with role user on %s = %d, want 200", base, got)
				}
			}
			if status, body := p.admin(t, p.a.URL, "PUT", "/users/alice/roles", map[string]any{"roles": []string{}}); status != http.StatusOK {
				t.Fatalf("set roles on A = %d %s", status, body)
			}
			for _, base := range []string{p.a.URL, p.b.URL} {
				if !clocktest.Within(p.bound, func() bool { return route(base) == http.StatusForbidden }) {
					t.Errorf("%s still grants the role taken away on A %s later (%d)", base, p.bound, route(base))
				}
			}
		})
	}
}

// A user's own "sign out my other sessions" and password change on A end
// the other sessions on B (cached there) within the bound, and keep the
// caller's.
func TestUserSignOutsReachThePeer(t *testing.T) {
	for name, withRedis := range pairBackends {
		t.Run(name, func(t *testing.T) {
			p := startPair(t, withRedis)
			pw := password
			for _, action := range []string{"sign out others", "password change"} {
				other, self := testutil.Client(t), testutil.Client(t)
				login, _ := json.Marshal(map[string]string{"username": "alice", "password": pw})
				for _, c := range []*http.Client{other, self} {
					if status, body := call(t, c, "POST", p.b.URL+"/auth/login", string(login), "Content-Type", "application/json"); status != http.StatusOK {
						t.Fatalf("login on B = %d %s", status, body)
					}
				}
				if got := sessionStatus(t, other, p.b.URL); got != http.StatusOK {
					t.Fatalf("other session on B = %d", got)
				}
				var status int
				var body string
				switch action {
				case "sign out others":
					status, body = call(t, self, "DELETE", p.a.URL+"/auth/sessions", "", "Origin", pairOrigin, "Sec-Fetch-Site", "same-origin")
				default:
					next := pw + " changed"
					change, _ := json.Marshal(map[string]string{"current_password": pw, "new_password": next})
					status, body = call(t, self, "POST", p.a.URL+"/auth/password", string(change), "Content-Type", "application/json",
						"Origin", pairOrigin, "Sec-Fetch-Site", "same-origin")
					pw = next
				}
				if status != http.StatusNoContent {
					t.Fatalf("%s on A = %d %s", action, status, body)
				}
				if !refusedWithin(t, p.bound, func() int { return sessionStatus(t, other, p.b.URL) }) {
					t.Errorf("%s on A: B accepts the other session %s later", action, p.bound)
				}
				if got := sessionStatus(t, self, p.b.URL); got != http.StatusOK {
					t.Errorf("%s on A: the caller's own session on B = %d, want 200", action, got)
				}
			}
		})
	}
}
