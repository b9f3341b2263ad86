package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// upstream records what the services behind the gateway receive.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	last *http.Request
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.last = r.Clone(r.Context())
		u.mu.Unlock()
		fmt.Fprint(w, "upstream ok")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) seen() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.last
	u.last = nil
	return r
}

func gatewayInstance(t *testing.T, clock *testutil.Clock, up *upstream) *testutil.Instance {
	t.Helper()
	route := func(name, prefix, auth, forward string, roles ...string) config.Route {
		return config.Route{Name: name, Match: config.RouteMatch{PathPrefix: prefix}, Upstream: up.URL,
			Auth: auth, Roles: roles, Forward: forward, Timeout: config.Duration(5 * time.Second)}
	}
	g := testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(func(c *config.Config) {
		c.Routes = []config.Route{
			route("public", "/", "none", ""),
			route("admin", "/admin/", "session", "", "admin"),
			route("orders", "/api/", "token", "", "user"),
			route("either", "/either/", "any", "jwt"),
		}
	}))
	g.CreateUser(t, "root", strongPassword, "admin", "user")
	g.CreateUser(t, "alice", strongPassword, "user")
	return g
}

func TestGatewayPolicyMatrix(t *testing.T) {
	clock := testutil.NewClock()
	up := newUpstream(t)
	g := gatewayInstance(t, clock, up)

	cookieOf := func(user string) string {
		resp, _ := loginJSON(t, testutil.Client(t), g.URL, user, strongPassword)
		return "gatehouse=" + sessionCookie(t, resp, "gatehouse").Value
	}
	tokenOf := func(user string) string {
		return passwordGrant(t, g, user, strongPassword)["access_token"].(string)
	}
	rootCookie, aliceCookie := cookieOf("root"), cookieOf("alice")
	aliceToken, rootToken := tokenOf("alice"), tokenOf("root")
	revokedCookie := cookieOf("root")
	do(t, testutil.Client(t), "POST", g.URL+"/auth/logout", "", "Cookie", revokedCookie)
	revokedToken := tokenOf("alice")
	do(t, testutil.Client(t), "POST", g.URL+"/auth/revoke", url.Values{"token": {revokedToken}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")

	type cred struct{ name, header, value string }
	creds := map[string]cred{
		"none":          {"none", "", ""},
		"admin session": {"admin session", "Cookie", rootCookie},
		"user session":  {"user session", "Cookie", aliceCookie},
		"user token":    {"user token", "Authorization", "Bearer " + aliceToken},
		"admin token":   {"admin token", "Authorization", "Bearer " + rootToken},
		"revoked sess":  {"revoked session", "Cookie", revokedCookie},
		"revoked token": {"revoked token", "Authorization", "Bearer " + revokedToken},
		"garbage token": {"garbage token", "Authorization", "Bearer abc.def.ghi"},
	}
	tests := []struct {
		path, cred string
		want       int
	}{
		{"/public", "none", 200},
		{"/admin/x", "none", 401},
		{"/admin/x", "admin session", 200},
		{"/admin/x", "user session", 403},
		{"/admin/x", "admin token", 401}, // session route: a bearer token is not a session
		{"/admin/x", "revoked sess", 401},
		{"/api/x", "none", 401},
		{"/api/x", "user token", 200},
		{"/api/x", "user session", 401},
		{"/api/x", "revoked token", 401},
		{"/api/x", "garbage token", 401},
		{"/either/x", "user session", 200},
		{"/either/x", "user token", 200},
		{"/either/x", "none", 401},
	}
	for _, tt := range tests {
		c := creds[tt.cred]
		t.Run(tt.path+" with "+c.name, func(t *testing.T) {
			var h []string
			if c.header != "" {
				h = []string{c.header, c.value}
			}
			resp, body := do(t, testutil.Client(t), "GET", g.URL+tt.path, "", h...)
			seen := up.seen()
			if resp.StatusCode != tt.want {
				t.Fatalf("= %d %s, want %d", resp.StatusCode, body, tt.want)
			}
			if (seen != nil) != (tt.want == 200) {
				t.Fatalf("upstream reached = %v for status %d", seen != nil, resp.StatusCode)
			}
			if tt.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tt.want == 200 && tt.path != "/public" {
				if seen.Header.Get("X-Auth-User") == "" || seen.Header.Get("Cookie") != "" {
					t.Errorf("upstream headers: X-Auth-User %q Cookie %q", seen.Header.Get("X-Auth-User"), seen.Header.Get("Cookie"))
				}
			}
		})
	}

	t.Run("expired token", func(t *testing.T) {
		clock.Advance(11 * time.Minute) // access_ttl 10m + leeway 30s
		resp, _ := do(t, testutil.Client(t), "GET", g.URL+"/api/x", "", "Authorization", "Bearer "+aliceToken)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("expired token = %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("browser is sent to login", func(t *testing.T) {
		resp, _ := do(t, testutil.Client(t), "GET", g.URL+"/admin/page?x=1", "", "Accept", "text/html")
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login?next="+url.QueryEscape("/admin/page?x=1") {
			t.Errorf("= %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	g.AssertLogsDoNotContain(t, strongPassword, aliceToken, rootToken, strings.TrimPrefix(rootCookie, "gatehouse="))
}

// rawGET sends exactly path on the wire, bypassing Go's client cleaning.
func rawGET(t *testing.T, base, path string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: gatehouse.test\r\nConnection: close\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestGatewayPathBypassThroughServer(t *testing.T) {
	up := newUpstream(t)
	g := gatewayInstance(t, testutil.NewClock(), up)
	for _, p := range []string{"//admin/x", "/admin/../admin/x", "/public/../admin/x", "/%61dmin/x", "/admin%2fx",
		"/admin/./x", "/..;/admin/x", "/%2e%2e/admin/x", "/admin%00", `/admin\x`, "/./admin/x", "///admin//x"} {
		t.Run(p, func(t *testing.T) {
			status := rawGET(t, g.URL, p)
			seen := up.seen()
			if status != http.StatusUnauthorized && status != http.StatusBadRequest {
				t.Errorf("GET %s = %d, want 401 (admin policy) or 400", p, status)
			}
			if seen != nil {
				t.Errorf("GET %s reached the upstream as %q", p, seen.URL.Path)
			}
		})
	}
	if status := rawGET(t, g.URL, "/ADMIN/x"); status != http.StatusOK {
		t.Errorf("/ADMIN/x (a different, public path: matching is case-sensitive) = %d", status)
	} else if seen := up.seen(); seen.URL.Path != "/ADMIN/x" {
		t.Errorf("upstream saw %q for /ADMIN/x", seen.URL.Path)
	}
}

func TestForwardAuthThroughServer(t *testing.T) {
	up := newUpstream(t)
	g := gatewayInstance(t, testutil.NewClock(), up)
	resp, _ := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword)
	cookie := "gatehouse=" + sessionCookie(t, resp, "gatehouse").Value
	tests := []struct {
		name   string
		header []string
		want   int
	}{
		{"nginx style, allowed", []string{"X-Original-Method", "GET", "X-Original-URI", "/either/x", "Cookie", cookie}, 200},
		{"nginx style, wrong role", []string{"X-Original-Method", "GET", "X-Original-URI", "/admin/x", "Cookie", cookie}, 403},
		{"traefik style, no credential", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/api/x", "X-Forwarded-Host", "app.example"}, 401},
		{"traefik style, bypass spelling", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/public/../admin/x", "Cookie", cookie}, 400},
		{"both styles", []string{"X-Original-Method", "GET", "X-Original-URI", "/either/x", "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/either/x", "Cookie", cookie}, 400},
		{"malformed", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/admin%2fx", "Cookie", cookie}, 400},
		{"missing uri", []string{"X-Forwarded-Method", "GET", "Cookie", cookie}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), "GET", g.URL+"/auth/verify", "", tt.header...)
			if resp.StatusCode != tt.want {
				t.Fatalf("= %d %s, want %d", resp.StatusCode, body, tt.want)
			}
			if tt.want == 200 && (resp.Header.Get("X-Auth-User") != "alice" || resp.Header.Get("X-Auth-Method") != "session") {
				t.Errorf("identity headers = %v", resp.Header)
			}
		})
	}
	// The per-family endpoints are served too, each reading only its own headers.
	for path, header := range map[string][]string{
		"/auth/verify/nginx":   {"X-Original-Method", "GET", "X-Original-URI", "/either/x", "X-Forwarded-Uri", "/admin/x", "Cookie", cookie},
		"/auth/verify/forward": {"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/either/x", "X-Original-URI", "/admin/x", "Cookie", cookie},
	} {
		resp, body := do(t, testutil.Client(t), "GET", g.URL+path, "", header...)
		if resp.StatusCode != 200 || resp.Header.Get("X-Auth-User") != "alice" {
			t.Errorf("%s = %d %s, want 200 for alice", path, resp.StatusCode, body)
		}
	}
}

func TestForwardJWTVerifiesAgainstJWKS(t *testing.T) {
	up := newUpstream(t)
	g := gatewayInstance(t, testutil.NewClock(), up)
	access := passwordGrant(t, g, "alice", strongPassword)["access_token"].(string)
	if resp, _ := do(t, testutil.Client(t), "GET", g.URL+"/either/x", "", "Authorization", "Bearer "+access); resp.StatusCode != 200 {
		t.Fatalf("= %d", resp.StatusCode)
	}
	internal := strings.TrimPrefix(up.seen().Header.Get("Authorization"), "Bearer ")
	if internal == "" || internal == access {
		t.Fatalf("upstream got Authorization %q, want a fresh internal JWT", internal)
	}
	_, body := do(t, testutil.Client(t), "GET", g.URL+"/.well-known/jwks.json", "")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatal(err)
	}
	sig, err := jose.ParseSigned(internal, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(sig.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in the JWKS", sig.Signatures[0].Header.KeyID)
	}
	payload, err := sig.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("internal JWT does not verify with the published key: %v", err)
	}
	var claims struct {
		Aud      any    `json:"aud"`
		Username string `json:"username"`
		Exp, Iat int64
	}
	_ = json.Unmarshal(payload, &claims)
	if fmt.Sprint(claims.Aud) != "either" && fmt.Sprint(claims.Aud) != "[either]" || claims.Username != "alice" || claims.Exp-claims.Iat != 60 {
		t.Errorf("internal claims = %+v, want aud either, 60 s life", claims)
	}
	// Replayed to gatehouse, the internal token is not an access token.
	if resp, _ := do(t, testutil.Client(t), "GET", g.URL+"/api/x", "", "Authorization", "Bearer "+internal); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("internal token replayed as an access token = %d, want 401", resp.StatusCode)
	}
}
