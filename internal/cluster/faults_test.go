package cluster_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/demo"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/tcpproxy"
)

// credentials logs alice in and returns her session cookie and an access token.
func credentials(t *testing.T, base string) (cookie, access string) {
	t.Helper()
	login, _ := json.Marshal(map[string]string{"username": "alice", "password": password})
	req, _ := http.NewRequest("POST", base+"/auth/login", bytes.NewReader(login))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse" {
			cookie = "gatehouse=" + c.Value
		}
	}
	_, m := tokens(t, base, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}})
	access, _ = m["access_token"].(string)
	if cookie == "" || access == "" {
		t.Fatalf("no credentials: login %d, token %v", resp.StatusCode, m)
	}
	return cookie, access
}

// probesFor are the requests that need the stores: a session route, a
// token route and the session endpoint.
func probesFor(cookie, access string) []probe {
	return []probe{
		{"session route", "GET", "/app/x", []string{"Cookie", cookie}},
		{"token route", "GET", "/api/x", []string{"Authorization", "Bearer " + access}},
		{"session endpoint", "GET", "/auth/session", []string{"Cookie", cookie}},
	}
}

type probe struct {
	name   string
	method string
	path   string
	header []string
}

// failsClosed waits (bounded) until every probe answers 503, then checks
// that they keep answering 503 — never 200 — and that /readyz names part.
func failsClosed(t *testing.T, base, part string, probes []probe) {
	t.Helper()
	for _, p := range probes {
		ok := clocktest.Within(10*time.Second, func() bool {
			status, _ := request(t, p.method, base+p.path, "", p.header...)
			return status == http.StatusServiceUnavailable
		})
		if !ok {
			status, body := request(t, p.method, base+p.path, "", p.header...)
			t.Fatalf("%s with %s down = %d %s, want 503", p.name, part, status, body)
		}
	}
	for i := 0; i < 5; i++ {
		for _, p := range probes {
			if status, _ := request(t, p.method, base+p.path, "", p.header...); status != http.StatusServiceUnavailable {
				t.Fatalf("%s with %s down answered %d, want 503 every time", p.name, part, status)
			}
		}
	}
	status, body := request(t, "GET", base+"/readyz", "")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"`+part+`"`) {
		t.Errorf("/readyz with %s down = %d %s, want 503 naming %s", part, status, body, part)
	}
	if status, _ := request(t, "GET", base+"/healthz", ""); status != http.StatusOK {
		t.Errorf("/healthz = %d, want 200 while the process runs", status)
	}
}

// recovers waits (bounded) until every probe answers 200 again.
func recovers(t *testing.T, base string, probes []probe) {
	t.Helper()
	for _, p := range append(probes, probe{"readyz", "GET", "/readyz", nil}) {
		ok := clocktest.Within(20*time.Second, func() bool {
			status, _ := request(t, p.method, base+p.path, "", p.header...)
			return status == http.StatusOK
		})
		if !ok {
			status, body := request(t, p.method, base+p.path, "", p.header...)
			t.Fatalf("%s did not recover: %d %s", p.name, status, body)
		}
	}
}

func withEcho(t *testing.T, c *config.Config) {
	up := httptest.NewServer(demo.Echo())
	t.Cleanup(up.Close)
	c.Routes = []config.Route{
		{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: up.URL, Auth: "session", Forward: "headers"},
		{Name: "api", Match: config.RouteMatch{PathPrefix: "/api/"}, Upstream: up.URL, Auth: "token", Forward: "headers"},
	}
}

func TestRedisDownFailsClosedAndRecovers(t *testing.T) {
	_, prefix := redistest.New(t)
	proxy := tcpproxy.New(t, "127.0.0.1:6379")
	redisURL := "redis://" + proxy.Addr() + "/0"
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Sessions.Store = redisURL
		c.Redis = config.Redis{URL: redisURL, KeyPrefix: prefix}
		withEcho(t, c)
	}))
	g.CreateUser(t, "alice", password)
	cookie, access := credentials(t, g.URL)
	probes := probesFor(cookie, access)
	for _, p := range probes {
		if status, _ := request(t, p.method, g.URL+p.path, "", p.header...); status != http.StatusOK {
			t.Fatalf("%s before the outage = %d", p.name, status)
		}
	}
	proxy.Stop()
	failsClosed(t, g.URL, "redis", probes)
	body, h := form(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}})
	if status, _ := request(t, "POST", g.URL+"/auth/token", body, h...); status != http.StatusServiceUnavailable {
		t.Errorf("password grant with Redis (rate limits) down = %d, want 503", status)
	}
	proxy.Start()
	recovers(t, g.URL, probes)
}

func TestPostgresDownFailsClosedAndRecovers(t *testing.T) {
	dsn := pgtest.DSN(t)
	proxy := tcpproxy.New(t, "127.0.0.1:5432")
	u, _ := url.Parse(dsn)
	u.Host = proxy.Addr()
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Store = u.String()
		withEcho(t, c)
	}))
	g.CreateUser(t, "alice", password)
	cookie, access := credentials(t, g.URL)
	probes := probesFor(cookie, access)
	proxy.Stop()
	failsClosed(t, g.URL, "store", probes)
	proxy.Start()
	recovers(t, g.URL, probes)
}

// TestReuseDetectedDuringRedisOutageReachesThePeers: a used refresh token
// replayed on B while Redis is down revokes its family in PostgreSQL, but
// the denial of the family's sid cannot be published then. The access
// token issued from the family must not verify again on A once Redis is
// back: the next refresh with the family's current token (the holder the
// theft was taken from, refused with invalid_grant) denies the sid again.
func TestReuseDetectedDuringRedisOutageReachesThePeers(t *testing.T) {
	dsn := pgtest.DSN(t)
	_, prefix := redistest.New(t)
	proxy := tcpproxy.New(t, "127.0.0.1:6379")
	redisURL := "redis://" + proxy.Addr() + "/0"
	start := func() *testutil.Instance {
		return testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
			c.Store = dsn
			c.PublicURL = "http://gatehouse.test"
			c.Sessions.Store = "redis"
			c.Redis = config.Redis{URL: redisURL, KeyPrefix: prefix}
		}))
	}
	a, b := start(), start()
	a.CreateUser(t, "alice", password)
	refresh := func(node, rt string) (int, map[string]any) {
		return tokens(t, node, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	userinfo := func(node, at string) int {
		status, _ := request(t, "GET", node+"/auth/userinfo", "", "Authorization", "Bearer "+at)
		return status
	}
	_, first := tokens(t, a.URL, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}})
	rt1, _ := first["refresh_token"].(string)
	status, second := refresh(a.URL, rt1)
	at2, _ := second["access_token"].(string)
	rt2, _ := second["refresh_token"].(string)
	if status != http.StatusOK || at2 == "" || rt2 == "" {
		t.Fatalf("refresh = %d %v", status, second)
	}
	if got := userinfo(a.URL, at2); got != http.StatusOK {
		t.Fatalf("userinfo on A before the outage = %d, want 200", got)
	}

	proxy.Stop()
	if status, body := refresh(b.URL, rt1); status != http.StatusServiceUnavailable {
		t.Fatalf("replayed refresh token with Redis down = %d %v, want 503", status, body)
	}
	proxy.Start()
	testutil.WaitReady(t, a.URL)
	testutil.WaitReady(t, b.URL)

	if status, body := refresh(b.URL, rt2); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("refresh with the family's current token after the reuse = %d %v, want 400 invalid_grant", status, body)
	}
	if !clocktest.Within(2*time.Second, func() bool { return userinfo(a.URL, at2) == http.StatusUnauthorized }) {
		t.Fatalf("access token of the family revoked by reuse detection still verifies on A after Redis returned (%d)", userinfo(a.URL, at2))
	}
}
