package cluster_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/demo"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/tcpproxy"
)

// outageClientTimeout is what counts as a hung request: far above every
// documented bound (5 s per SQL call, 2 s per Redis dial, read or write, a
// few calls per request), so that only a request no timeout ends reaches it.
const outageClientTimeout = 45 * time.Second

// outcome is one answer seen during an outage.
type outcome struct {
	status  int
	body    string
	header  http.Header
	elapsed time.Duration
	err     error
}

// timedCall sends one request with its own short-lived client (no cookie jar,
// redirects not followed) and times it.
func timedCall(method, u, body string, header ...string) outcome {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return outcome{err: err}
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	c := &http.Client{
		Timeout:       outageClientTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return outcome{err: err, elapsed: time.Since(start)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body) // what arrived before an error is kept
	return outcome{status: resp.StatusCode, body: string(b), header: resp.Header, elapsed: time.Since(start)}
}

// outageCreds are the credentials made before a store goes away.
type outageCreds struct {
	cookie        string // alice's session, checked once (cached)
	logoutCookie  string // alice's session, for a logout
	adminCookie   string // root's session
	access        string // alice's access token, verified once (cached)
	fresh         string // alice's access token never shown to gatehouse yet
	revoked       string // alice's access token revoked before the outage
	refresh       string // alice's refresh token, for a refresh
	refreshRevoke string // alice's refresh token, for /auth/revoke
	adminToken    string // root's access token
	mfaPending    string // bob's gatehouse_mfa cookie (password step done)
	totpSecret    string
	clientSecret  string
	codeChallenge string
}

const outageEncryptionKey = "outage-test-encryption-key-0123456789abcdef"

// outageSetup is one instance's stores: which proxy each part goes through.
type outageSetup struct {
	name string
	// sqlSessions keeps sessions in PostgreSQL (sessions.store ""), else
	// in Redis.
	sqlSessions bool
	// noRedis runs on PostgreSQL alone (revocation feed in a table).
	noRedis bool
}

type outageEnv struct {
	g     *testutil.Instance
	pg    *tcpproxy.Proxy
	redis *tcpproxy.Proxy // nil without Redis
}

func startOutageEnv(t *testing.T, s outageSetup) *outageEnv {
	t.Helper()
	dsn := pgtest.DSN(t)
	pg := tcpproxy.New(t, "127.0.0.1:5432")
	u, _ := url.Parse(dsn)
	u.Host = pg.Addr()
	env := &outageEnv{pg: pg}
	var redisURL, prefix string
	if !s.noRedis {
		_, prefix = redistest.New(t)
		env.redis = tcpproxy.New(t, "127.0.0.1:6379")
		redisURL = "redis://" + env.redis.Addr() + "/0"
	}
	up := httptest.NewServer(demo.Echo())
	t.Cleanup(up.Close)
	env.g = testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Store = u.String()
		if !s.noRedis {
			c.Redis = config.Redis{URL: redisURL, KeyPrefix: prefix}
			if !s.sqlSessions {
				c.Sessions.Store = "redis"
			}
		}
		c.Keys.EncryptionKey = outageEncryptionKey
		c.Admin.RequireMFA = false
		c.Routes = []config.Route{
			{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: up.URL, Auth: "session", Forward: "headers"},
			{Name: "api", Match: config.RouteMatch{PathPrefix: "/api/"}, Upstream: up.URL, Auth: "token", Forward: "headers"},
			{Name: "open", Match: config.RouteMatch{PathPrefix: "/open/"}, Upstream: up.URL, Auth: "none", Forward: "headers",
				RateLimit: &gateway.RateLimitConfig{Per: "ip", Rate: 1000, Burst: 1000, Window: config.Duration(time.Minute)}},
		}
		c.Clients = []config.Client{
			{ID: "web", Name: "Web", Type: "public", RedirectURIs: []string{"http://127.0.0.1/cb"},
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile"}, FirstParty: true},
			{ID: "svc", Name: "Service", Type: "confidential", Secret: "svc-secret-0123456789-0123456789-abcdef",
				GrantTypes: []string{"client_credentials"}, Roles: []string{"service"}},
		}
	}))
	env.g.CreateUser(t, "alice", password, "user")
	env.g.CreateUser(t, "root", password, "admin")
	env.g.CreateUser(t, "bob", password, "user")
	return env
}

func cookieOf(t *testing.T, o outcome, name string) string {
	t.Helper()
	resp := http.Response{Header: o.header}
	for _, c := range resp.Cookies() {
		if c.Name == name && c.Value != "" {
			return name + "=" + c.Value
		}
	}
	t.Fatalf("no %s cookie: %d %s", name, o.status, o.body)
	return ""
}

func jsonLogin(base, name string) outcome {
	b, _ := json.Marshal(map[string]string{"username": name, "password": password})
	return timedCall("POST", base+"/auth/login", string(b), "Content-Type", "application/json")
}

// credentialsBefore makes every credential the probes use while the stores
// still answer, and warms the caches with those meant to be cached.
func (e *outageEnv) credentialsBefore(t *testing.T) outageCreds {
	t.Helper()
	base := e.g.URL
	var c outageCreds
	o := jsonLogin(base, "alice")
	if o.status != http.StatusOK {
		t.Fatalf("alice login = %d %s", o.status, o.body)
	}
	c.cookie = cookieOf(t, o, "gatehouse")
	c.logoutCookie = cookieOf(t, jsonLogin(base, "alice"), "gatehouse")
	o = jsonLogin(base, "root")
	c.adminCookie = cookieOf(t, o, "gatehouse")
	m := passwordGrant(t, base, "alice")
	c.access, _ = m["access_token"].(string)
	c.refresh, _ = m["refresh_token"].(string)
	m = passwordGrant(t, base, "alice")
	c.fresh, _ = m["access_token"].(string)
	m = passwordGrant(t, base, "alice")
	c.refreshRevoke, _ = m["refresh_token"].(string)
	m = passwordGrant(t, base, "alice")
	c.revoked, _ = m["access_token"].(string)
	m = passwordGrant(t, base, "root")
	c.adminToken, _ = m["access_token"].(string)
	// The revoked token is verified (cached) first, then revoked: the
	// deny-list must beat the cache during the outage.
	for _, tok := range []string{c.access, c.revoked} {
		if o := timedCall("GET", base+"/api/x", "", "Authorization", "Bearer "+tok); o.status != http.StatusOK {
			t.Fatalf("token route before the outage = %d %s", o.status, o.body)
		}
	}
	if o := timedCall("POST", base+"/auth/revoke", url.Values{"token": {c.revoked}}.Encode(), "Content-Type", "application/x-www-form-urlencoded"); o.status != http.StatusOK {
		t.Fatalf("revoke before the outage = %d %s", o.status, o.body)
	}
	if o := timedCall("GET", base+"/api/x", "", "Authorization", "Bearer "+c.revoked); o.status != http.StatusUnauthorized {
		t.Fatalf("revoked token before the outage = %d %s", o.status, o.body)
	}
	if o := timedCall("GET", base+"/auth/session", "", "Cookie", c.cookie); o.status != http.StatusOK {
		t.Fatalf("session before the outage = %d %s", o.status, o.body)
	}
	// bob enrols TOTP, then does the password step of a new login.
	o = jsonLogin(base, "bob")
	bobCookie := cookieOf(t, o, "gatehouse")
	o = timedCall("POST", base+"/auth/mfa/totp", "", "Cookie", bobCookie, "Content-Type", "application/json")
	var en map[string]any
	_ = json.Unmarshal([]byte(o.body), &en)
	c.totpSecret, _ = en["secret"].(string)
	if c.totpSecret == "" {
		t.Fatalf("TOTP enrolment = %d %s", o.status, o.body)
	}
	b, _ := json.Marshal(map[string]string{"code": mfatest.TOTPCode(t, c.totpSecret, time.Now())})
	if o := timedCall("POST", base+"/auth/mfa/totp/confirm", string(b), "Cookie", bobCookie, "Content-Type", "application/json"); o.status != http.StatusNoContent {
		t.Fatalf("TOTP confirm = %d %s", o.status, o.body)
	}
	o = jsonLogin(base, "bob")
	c.mfaPending = cookieOf(t, o, "gatehouse_mfa")
	c.clientSecret = "svc-secret-0123456789-0123456789-abcdef"
	sum := sha256.Sum256([]byte("outage-test-verifier-0123456789-0123456789-0123456789"))
	c.codeChallenge = base64.RawURLEncoding.EncodeToString(sum[:])
	return c
}

// outageProbe is one request that may need a store.
type outageProbe struct {
	name string
	// needs are the parts whose outage must make it 503: "store" (the
	// main store), "sessions" (the session store), "feed" (the revocation
	// feed and deny-lists) and "limits" (login throttle, rate limits, TOTP
	// replay); the setup says which of Redis and PostgreSQL holds each.
	needs []string
	// cached: a credential checked before the outage may still be
	// accepted from the cache while the revocation feed answers (nothing
	// can have revoked it unseen; docs/deploy.md).
	cached bool
	// html: a browser posting a form or following a redirect; a 503 is
	// a page, not JSON. (GET /account and the admin console answer the
	// JSON body: openapi.json documents their 503 as application/json.)
	html bool
	// denied: the request carries a dead credential; it must never be
	// let through, whatever is down.
	denied bool
	// okStatus is its answer while nothing it needs is down.
	okStatus []int
	send     func(base string, c outageCreds) outcome
}

func formHeader() []string { return []string{"Content-Type", "application/x-www-form-urlencoded"} }

func outageProbes(t *testing.T) []outageProbe {
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	return []outageProbe{
		{name: "login JSON", needs: []string{"store", "sessions", "limits"}, okStatus: []int{200},
			send: func(base string, _ outageCreds) outcome { return jsonLogin(base, "alice") }},
		{name: "login form", needs: []string{"store", "sessions", "limits"}, okStatus: []int{303}, html: true,
			send: func(base string, _ outageCreds) outcome {
				return timedCall("POST", base+"/auth/login", url.Values{"username": {"alice"}, "password": {password}, "next": {"/app/"}}.Encode(),
					append(formHeader(), "Accept", "text/html")...)
			}},
		{name: "logout", needs: []string{"sessions", "feed", "store"}, okStatus: []int{204},
			send: func(base string, c outageCreds) outcome {
				return timedCall("POST", base+"/auth/logout", "", "Cookie", c.logoutCookie, "Content-Type", "application/json")
			}},
		{name: "account page", needs: []string{"sessions", "store"}, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("GET", base+"/account", "", "Cookie", c.cookie, "Accept", "text/html")
			}},
		{name: "session check", needs: []string{"sessions"}, cached: true, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("GET", base+"/auth/session", "", "Cookie", c.cookie)
			}},
		{name: "gateway session route", needs: []string{"sessions"}, cached: true, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("GET", base+"/app/x", "", "Cookie", c.cookie)
			}},
		{name: "gateway token route, cached token", needs: []string{"feed"}, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("GET", base+"/api/x", "", bearer(c.access)...)
			}},
		{name: "gateway token route, uncached token", needs: []string{"feed"}, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("GET", base+"/api/x", "", bearer(c.fresh)...)
			}},
		{name: "gateway token route, revoked token", needs: []string{"feed"}, denied: true, okStatus: []int{401},
			send: func(base string, c outageCreds) outcome {
				return timedCall("GET", base+"/api/x", "", bearer(c.revoked)...)
			}},
		{name: "userinfo, revoked token", needs: []string{"feed"}, denied: true, okStatus: []int{401},
			send: func(base string, c outageCreds) outcome {
				return timedCall("GET", base+"/auth/userinfo", "", bearer(c.revoked)...)
			}},
		{name: "forward-auth nginx, cookie", needs: []string{"sessions"}, cached: true, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("GET", base+"/auth/verify/nginx", "", "Cookie", c.cookie, "X-Original-Method", "GET", "X-Original-URI", "/app/x")
			}},
		{name: "forward-auth forward, token", needs: []string{"feed"}, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("GET", base+"/auth/verify/forward", "", "Authorization", "Bearer "+c.fresh,
					"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/api/x", "X-Forwarded-Host", "127.0.0.1", "X-Forwarded-Proto", "http")
			}},
		{name: "forward-auth envoy, revoked token", needs: []string{"feed"}, denied: true, okStatus: []int{401},
			send: func(base string, c outageCreds) outcome {
				return timedCall("GET", base+"/auth/verify/envoy/api/x", "", bearer(c.revoked)...)
			}},
		{name: "rate-limited open route", needs: []string{"limits"}, okStatus: []int{200},
			send: func(base string, _ outageCreds) outcome { return timedCall("GET", base+"/open/x", "") }},
		{name: "password grant", needs: []string{"store", "limits"}, okStatus: []int{200},
			send: func(base string, _ outageCreds) outcome {
				return timedCall("POST", base+"/auth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}}.Encode(), formHeader()...)
			}},
		{name: "client credentials grant", needs: []string{"limits"}, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("POST", base+"/auth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {c.clientSecret}}.Encode(), formHeader()...)
			}},
		{name: "refresh", needs: []string{"store"}, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("POST", base+"/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.refresh}}.Encode(), formHeader()...)
			}},
		{name: "revoke access token", needs: []string{"feed"}, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("POST", base+"/auth/revoke", url.Values{"token": {c.revoked}}.Encode(), formHeader()...)
			}},
		{name: "revoke refresh token", needs: []string{"store", "feed"}, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("POST", base+"/auth/revoke", url.Values{"token": {c.refreshRevoke}, "token_type_hint": {"refresh_token"}}.Encode(), formHeader()...)
			}},
		{name: "authorize with a session", needs: []string{"sessions", "store"}, okStatus: []int{302, 303}, html: true,
			send: func(base string, c outageCreds) outcome {
				q := url.Values{"response_type": {"code"}, "client_id": {"web"}, "redirect_uri": {"http://127.0.0.1/cb"},
					"scope": {"openid"}, "state": {"s1"}, "code_challenge": {c.codeChallenge}, "code_challenge_method": {"S256"}}
				// A browser's navigation: it asks for HTML, and gets an error page.
				return timedCall("GET", base+"/auth/authorize?"+q.Encode(), "", "Cookie", c.cookie, "Accept", "text/html")
			}},
		{name: "MFA verification", needs: []string{"store", "limits", "sessions"}, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				b, _ := json.Marshal(map[string]string{"method": "totp", "code": mfatest.TOTPCode(t, c.totpSecret, time.Now().Add(30*time.Second))})
				return timedCall("POST", base+"/auth/login/mfa", string(b), "Cookie", c.mfaPending, "Content-Type", "application/json")
			}},
		{name: "admin API, session", needs: []string{"store", "sessions"}, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("GET", base+"/admin/api/v1/users", "", "Cookie", c.adminCookie)
			}},
		{name: "admin API, token", needs: []string{"store", "feed"}, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("GET", base+"/admin/api/v1/users", "", bearer(c.adminToken)...)
			}},
		{name: "admin console, session", needs: []string{"store", "sessions"}, okStatus: []int{200},
			send: func(base string, c outageCreds) outcome {
				return timedCall("GET", base+"/admin/users", "", "Cookie", c.adminCookie, "Accept", "text/html")
			}},
	}
}

// TestEveryEndpointFailsClosedWhileAStoreIsDown takes each store away in
// turn, refused (the port closed) and black-holed (connections accepted,
// nothing answered, so only gatehouse's own timeouts end a call), and
// sends every kind of request that may need it. A request that needs the
// store answers 503 {"error":"unavailable"}, never a 2xx or a 500, and
// never hangs; a revoked token is never let through; /readyz names the
// part and /healthz stays 200. When the store returns, everything answers
// as before without a restart.
func TestEveryEndpointFailsClosedWhileAStoreIsDown(t *testing.T) {
	setups := []outageSetup{
		{name: "sessions in Redis"},
		{name: "sessions in PostgreSQL", sqlSessions: true},
		{name: "PostgreSQL alone", noRedis: true},
	}
	for _, s := range setups {
		parts := []string{"store", "redis"}
		if s.noRedis {
			parts = []string{"store"}
		}
		for _, part := range parts {
			for _, mode := range []string{"refused", "black-holed"} {
				t.Run(fmt.Sprintf("%s/%s %s", s.name, part, mode), func(t *testing.T) {
					runOutage(t, s, part, mode)
				})
			}
		}
	}
}

func runOutage(t *testing.T, s outageSetup, part, mode string) {
	env := startOutageEnv(t, s)
	base := env.g.URL
	creds := env.credentialsBefore(t)
	probes := outageProbes(t)
	down := map[string]bool{}
	switch {
	case s.noRedis:
		down["store"], down["sessions"], down["feed"] = true, true, true
	case part == "store":
		down["store"], down["sessions"] = true, s.sqlSessions
	case part == "redis":
		down["feed"], down["limits"], down["sessions"] = true, true, !s.sqlSessions
	}
	// What /readyz must name once the outage is seen.
	failing := []string{part}
	if down["feed"] {
		failing = append(failing, "revocations")
	}
	needsDown := func(p outageProbe) bool {
		for _, n := range p.needs {
			if down[n] {
				return true
			}
		}
		return false
	}
	proxy := env.pg
	if part == "redis" {
		proxy = env.redis
	}
	if mode == "refused" {
		proxy.Stop()
	} else {
		proxy.Blackhole()
	}
	// A black-holed feed counts as lost 3 s after its last answer
	// (revocation.DefaultStaleAfter); judge once /readyz names every part.
	readyNames := func(o outcome) bool {
		var m struct{ Failing []string }
		_ = json.Unmarshal([]byte(o.body), &m)
		return o.status == http.StatusServiceUnavailable && fmt.Sprint(m.Failing) == fmt.Sprint(failing)
	}
	if !clocktest.Within(30*time.Second, func() bool { return readyNames(timedCall("GET", base+"/readyz", "")) }) {
		o := timedCall("GET", base+"/readyz", "")
		t.Fatalf("/readyz with %s %s = %d %s, want 503 naming %v", part, mode, o.status, o.body, failing)
	}
	results := make([]outcome, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() { results[i] = p.send(base, creds) })
	}
	wg.Wait()
	for i, p := range probes {
		o := results[i]
		t.Logf("%-40s %d %-48.48q %v", p.name, o.status, o.body, o.elapsed.Round(10*time.Millisecond))
		switch {
		case o.err != nil:
			t.Errorf("%s with %s %s: %v after %v (hung)", p.name, part, mode, o.err, o.elapsed)
		case o.status >= 500 && o.status != http.StatusServiceUnavailable:
			t.Errorf("%s with %s %s = %d %s, want never a 5xx other than 503", p.name, part, mode, o.status, o.body)
		case p.denied && o.status < 300:
			t.Errorf("%s with %s %s = %d: a dead credential was let through", p.name, part, mode, o.status)
		case p.denied && needsDown(p) && o.status != http.StatusServiceUnavailable && !contains(p.okStatus, o.status):
			t.Errorf("%s with %s %s = %d %s, want 503 or the refusal %v", p.name, part, mode, o.status, o.body, p.okStatus)
		case p.cached && !down["feed"] && contains(p.okStatus, o.status):
			// answered from the cache while the feed vouches for it
		case !p.denied && needsDown(p) && o.status != http.StatusServiceUnavailable:
			t.Errorf("%s with %s %s = %d %s, want 503", p.name, part, mode, o.status, o.body)
		case !needsDown(p) && !contains(p.okStatus, o.status):
			t.Errorf("%s with %s %s = %d %s, want %v: it needs nothing that is down", p.name, part, mode, o.status, o.body, p.okStatus)
		case o.status == http.StatusServiceUnavailable && p.html && !strings.HasPrefix(o.header.Get("Content-Type"), "text/html"):
			t.Errorf("%s with %s %s = 503 %s %.60q, want an HTML page for the browser", p.name, part, mode, o.header.Get("Content-Type"), o.body)
		case o.status == http.StatusServiceUnavailable && strings.HasPrefix(o.header.Get("Content-Type"), "application/json") && !strings.Contains(o.body, `"unavailable"`) && !strings.Contains(o.body, `"temporarily_unavailable"`):
			t.Errorf("%s with %s %s = 503 %s, want the contract's body", p.name, part, mode, o.body)
		}
	}
	if o := timedCall("GET", base+"/readyz", ""); !readyNames(o) {
		t.Errorf("/readyz with %s %s = %d %s, want 503 naming %v", part, mode, o.status, o.body, failing)
	}
	if o := timedCall("GET", base+"/healthz", ""); o.status != http.StatusOK {
		t.Errorf("/healthz with %s %s = %d, want 200", part, mode, o.status)
	}

	proxy.Start()
	testutil.WaitReady(t, base)
	for i, p := range probes {
		if results[i].err == nil && contains(p.okStatus, results[i].status) {
			continue // done during the outage: a refresh token is single use
		}
		if !clocktest.Within(20*time.Second, func() bool {
			o := p.send(base, creds)
			return o.err == nil && contains(p.okStatus, o.status)
		}) {
			o := p.send(base, creds)
			t.Errorf("%s after %s returned = %d %s, want %v", p.name, part, o.status, o.body, p.okStatus)
		}
	}
	env.g.AssertLogsDoNotContain(t, password, creds.access, creds.fresh, creds.revoked, creds.refresh, creds.adminToken,
		strings.TrimPrefix(creds.cookie, "gatehouse="), strings.TrimPrefix(creds.adminCookie, "gatehouse="), creds.totpSecret, creds.clientSecret)
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// TestRevocationsMissedInABlackHoleApplyWhenRedisReturns: instance A's
// link to Redis goes silent (connections accepted, nothing answered) while
// instance B, still connected, logs alice's session out and revokes her
// access token, both of which A had cached. A fails closed meanwhile, and
// when the link returns it refuses both at once: it catches up on the feed
// before trusting its caches again, without a restart.
func TestRevocationsMissedInABlackHoleApplyWhenRedisReturns(t *testing.T) {
	dsn := pgtest.DSN(t)
	redisDirect, prefix := redistest.New(t)
	link := tcpproxy.New(t, "127.0.0.1:6379")
	up := httptest.NewServer(demo.Echo())
	t.Cleanup(up.Close)
	start := func(redisURL string) *testutil.Instance {
		return testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
			c.Store = dsn
			c.PublicURL = "http://gatehouse.test"
			c.Sessions.Store = "redis"
			c.Sessions.CacheTTL = config.Duration(time.Hour) // only the feed can drop A's entries
			c.Redis = config.Redis{URL: redisURL, KeyPrefix: prefix}
			c.Routes = []config.Route{
				{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: up.URL, Auth: "session", Forward: "headers"},
				{Name: "api", Match: config.RouteMatch{PathPrefix: "/api/"}, Upstream: up.URL, Auth: "token", Forward: "headers"},
			}
		}))
	}
	a, b := start("redis://"+link.Addr()+"/0"), start(redisDirect)
	a.CreateUser(t, "alice", password, "user")
	o := jsonLogin(a.URL, "alice")
	cookie := cookieOf(t, o, "gatehouse")
	access, _ := passwordGrant(t, a.URL, "alice")["access_token"].(string)
	onA := func() (session, token int) {
		return timedCall("GET", a.URL+"/app/x", "", "Cookie", cookie).status,
			timedCall("GET", a.URL+"/api/x", "", "Authorization", "Bearer "+access).status
	}
	if s, tk := onA(); s != http.StatusOK || tk != http.StatusOK {
		t.Fatalf("on A before the outage: session %d, token %d; want 200, 200", s, tk)
	}

	link.Blackhole()
	if o := timedCall("POST", b.URL+"/auth/logout", "", "Cookie", cookie); o.status != http.StatusNoContent {
		t.Fatalf("logout on B = %d %s", o.status, o.body)
	}
	if o := timedCall("POST", b.URL+"/auth/revoke", url.Values{"token": {access}}.Encode(), formHeader()...); o.status != http.StatusOK {
		t.Fatalf("revoke on B = %d %s", o.status, o.body)
	}
	// A cannot hear of it: once its feed is stale it must not answer from
	// its caches (bounded: the check below waits at most 30 s).
	if !clocktest.Within(30*time.Second, func() bool {
		s, tk := onA()
		return s == http.StatusServiceUnavailable && tk == http.StatusServiceUnavailable
	}) {
		s, tk := onA()
		t.Fatalf("on A with its Redis link black-holed: session %d, token %d; want 503, 503", s, tk)
	}

	link.Start()
	testutil.WaitReady(t, a.URL)
	if s, tk := onA(); s == http.StatusOK || tk == http.StatusOK {
		t.Errorf("on A once ready again: session %d, token %d; want both refused (revoked on B during the outage)", s, tk)
	}
	if s, tk := onA(); s != http.StatusUnauthorized && s != http.StatusFound || tk != http.StatusUnauthorized {
		t.Errorf("on A after the outage: session %d, token %d; want 401, 401", s, tk)
	}
}
