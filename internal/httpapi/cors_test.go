package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// The origins of startApps' clients: spa (public, https://spa.example.com/cb
// and the loopback http://127.0.0.1/native) and web (confidential,
// https://rp.example.com/cb).
const (
	spaOrigin = "https://spa.example.com"
	webOrigin = "https://rp.example.com"
)

// startCORS is startApps with the password grant on and an administrator
// who needs no second factor, on a settable clock.
func startCORS(t *testing.T, opts ...testutil.Option) *testutil.Instance {
	t.Helper()
	g := startApps(t, append([]testutil.Option{testutil.WithClock(testutil.NewClock()), testutil.WithConfig(func(c *config.Config) {
		c.Tokens.PasswordGrant = true
		c.Admin.RequireMFA = false
	})}, opts...)...)
	g.CreateUser(t, "alice", strongPassword, "user")
	g.CreateUser(t, "root", strongPassword, "admin")
	return g
}

// bearerFor returns an access token of user (password grant, no Origin).
func bearerFor(t *testing.T, g *testutil.Instance, user string) string {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {user}, "password": {strongPassword}}
	resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", form.Encode(), "Content-Type", formType)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("password grant for %s = %d %s", user, resp.StatusCode, body)
	}
	return decode(t, body)["access_token"].(string)
}

// badCode is a code exchange that fails with 400 invalid_grant.
var badCode = url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {"no-such-code"},
	"redirect_uri": {"https://spa.example.com/cb"}, "code_verifier": {strings.Repeat("v", 43)}}.Encode()

// assertCORS checks the CORS headers of an answer to a request from an
// origin that may (allowed) or may not read it.
func assertCORS(t *testing.T, resp *http.Response, origin string, allowed bool) {
	t.Helper()
	h := resp.Header
	if !slices.Contains(varyValues(h), "Origin") {
		t.Errorf("Vary = %q, want Origin in it", h.Values("Vary"))
	}
	if got := h.Values("Access-Control-Allow-Credentials"); len(got) != 0 {
		t.Errorf("Access-Control-Allow-Credentials = %q, want none", got)
	}
	want := ""
	if allowed {
		want = origin
	}
	if got := h.Values("Access-Control-Allow-Origin"); (want == "" && len(got) != 0) || (want != "" && !slices.Equal(got, []string{want})) {
		t.Errorf("Origin %q: Access-Control-Allow-Origin = %q, want %q", origin, got, want)
	}
	if allowed && h.Get("Access-Control-Expose-Headers") != "WWW-Authenticate, Retry-After" {
		t.Errorf("Access-Control-Expose-Headers = %q", h.Get("Access-Control-Expose-Headers"))
	}
}

func varyValues(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(f))
		}
	}
	return out
}

// Only the exact origin of a registered redirect URI may read the token
// endpoint's answers — here a 400 invalid_grant, which an SPA must read.
func TestCORSTokenEndpointAllowsOnlyClientOrigins(t *testing.T) {
	g := startCORS(t)
	tests := []struct {
		name    string
		origin  string
		allowed bool
	}{
		{"public client's origin", spaOrigin, true},
		{"confidential client's origin", webOrigin, true},
		{"loopback redirect URI without port: port 80", "http://127.0.0.1", true},
		{"loopback on another port (no RFC 8252 any-port rule)", "http://127.0.0.1:8080", false},
		{"other scheme", "http://spa.example.com", false},
		{"other port", "https://spa.example.com:8443", false},
		{"default port spelled out (no browser sends it)", "https://spa.example.com:443", false},
		{"sub-domain", "https://x.spa.example.com", false},
		{"suffix", "https://spa.example.com.evil.example", false},
		{"path is no origin", "https://spa.example.com/cb", false},
		{"null (sandboxed frame, file:)", "null", false},
		{"unregistered", "https://evil.example", false},
		{"gatehouse's own", g.URL, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", badCode,
				"Content-Type", formType, "Origin", tt.origin, "Sec-Fetch-Site", "cross-site")
			if resp.StatusCode != http.StatusBadRequest || decode(t, body)["error"] != "invalid_grant" {
				t.Fatalf("= %d %s, want 400 invalid_grant", resp.StatusCode, body)
			}
			assertCORS(t, resp, tt.origin, tt.allowed)
		})
	}
	t.Run("no Origin (not a browser): Vary only", func(t *testing.T) {
		resp, _ := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", badCode, "Content-Type", formType)
		assertCORS(t, resp, "", false)
	})
	t.Run("two Origin headers", func(t *testing.T) {
		req, _ := http.NewRequest("POST", g.URL+"/auth/token", strings.NewReader(badCode))
		req.Header.Set("Content-Type", formType)
		req.Header["Origin"] = []string{spaOrigin, spaOrigin}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		testutil.ReadBody(t, resp)
		assertCORS(t, resp, spaOrigin, false)
	})
}

// Every answer of token, revoke and userinfo to an allowed origin carries
// CORS: successes and the OAuth errors (400, 401) alike.
func TestCORSAnswersOfEveryKind(t *testing.T) {
	g := startCORS(t)
	access := bearerFor(t, g, "alice")
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		header []string
		status int
		error  string
	}{
		{"token 200", "POST", "/auth/token",
			url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}}.Encode(),
			[]string{"Content-Type", formType}, 200, ""},
		{"token 400 invalid_grant", "POST", "/auth/token", badCode, []string{"Content-Type", formType}, 400, "invalid_grant"},
		{"token 400 invalid_request", "POST", "/auth/token", "grant_type=", []string{"Content-Type", formType}, 400, "invalid_request"},
		{"token 401 invalid_client", "POST", "/auth/token", "grant_type=client_credentials",
			[]string{"Content-Type", formType, "Authorization", "Basic " + basic("web", "wrong")}, 401, "invalid_client"},
		{"revoke 200", "POST", "/auth/revoke", "token=whatever", []string{"Content-Type", formType}, 200, ""},
		{"revoke 401 invalid_client", "POST", "/auth/revoke", "token=whatever",
			[]string{"Content-Type", formType, "Authorization", "Basic " + basic("web", "wrong")}, 401, "invalid_client"},
		{"userinfo GET 200", "GET", "/auth/userinfo", "", []string{"Authorization", "Bearer " + access}, 200, ""},
		{"userinfo POST 200", "POST", "/auth/userinfo", "", []string{"Authorization", "Bearer " + access}, 200, ""},
		{"userinfo 401 invalid_token", "GET", "/auth/userinfo", "", []string{"Authorization", "Bearer not.a.token"}, 401, ""},
		{"userinfo 401 without credential", "GET", "/auth/userinfo", "", nil, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, origin := range []string{spaOrigin, "https://evil.example"} {
				resp, body := do(t, testutil.Client(t), tt.method, g.URL+tt.path, tt.body,
					append([]string{"Origin", origin, "Sec-Fetch-Site", "cross-site"}, tt.header...)...)
				if resp.StatusCode != tt.status {
					t.Fatalf("from %s = %d %s, want %d", origin, resp.StatusCode, body, tt.status)
				}
				if tt.error != "" && decode(t, body)["error"] != tt.error {
					t.Fatalf("from %s = %s, want error %s", origin, body, tt.error)
				}
				if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				assertCORS(t, resp, origin, origin == spaOrigin)
			}
		})
	}
}

func basic(id, secret string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(id, secret)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// Discovery and JWKS are public documents: any origin reads them.
func TestCORSPublicDocuments(t *testing.T) {
	g := startCORS(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/.well-known/jwks.json"} {
		for _, origin := range []string{"https://evil.example", "null", ""} {
			h := []string{}
			if origin != "" {
				h = append(h, "Origin", origin)
			}
			resp, _ := do(t, testutil.Client(t), "GET", g.URL+path, "", h...)
			if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("GET %s from %q = %d, Access-Control-Allow-Origin %q, want 200 *", path, origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
			}
			if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("GET %s: Access-Control-Allow-Credentials set", path)
			}
		}
	}
}

// A preflight (OPTIONS with Access-Control-Request-Method) is 204, with
// the allow headers only for an origin that may read the endpoint; an
// OPTIONS request that is no preflight keeps its 405 with Allow.
func TestCORSPreflight(t *testing.T) {
	g := startCORS(t)
	tests := []struct {
		path, origin string
		wantOrigin   string // "": refused
		wantMethods  string
	}{
		{"/auth/token", spaOrigin, spaOrigin, "POST"},
		{"/auth/revoke", spaOrigin, spaOrigin, "POST"},
		{"/auth/userinfo", spaOrigin, spaOrigin, "GET, HEAD, POST"},
		{"/auth/userinfo", webOrigin, webOrigin, "GET, HEAD, POST"},
		{"/auth/token", "https://evil.example", "", ""},
		{"/auth/userinfo", "null", "", ""},
		{"/auth/userinfo", "https://spa.example.com:8443", "", ""},
		{"/auth/token", "http://spa.example.com", "", ""},
		{"/.well-known/jwks.json", "https://evil.example", "*", "GET, HEAD"},
		{"/.well-known/openid-configuration", "null", "*", "GET, HEAD"},
		{"/.well-known/oauth-authorization-server", spaOrigin, "*", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.path+" from "+tt.origin, func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), "OPTIONS", g.URL+tt.path, "", "Origin", tt.origin,
				"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type")
			if resp.StatusCode != http.StatusNoContent || body != "" {
				t.Fatalf("= %d %q, want 204 and no body", resp.StatusCode, body)
			}
			h := resp.Header
			if !slices.Contains(varyValues(h), "Origin") {
				t.Errorf("Vary = %q, want Origin in it", h.Values("Vary"))
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("Access-Control-Allow-Credentials set")
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":  tt.wantOrigin,
				"Access-Control-Allow-Methods": tt.wantMethods,
				"Access-Control-Allow-Headers": "Authorization, Content-Type",
				"Access-Control-Max-Age":       "600",
			}
			for k, v := range want {
				if tt.wantOrigin == "" {
					v = ""
				}
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
	t.Run("OPTIONS without Access-Control-Request-Method", func(t *testing.T) {
		for path, allow := range map[string]string{"/auth/token": "POST", "/auth/userinfo": "GET, HEAD, POST", "/.well-known/jwks.json": "GET, HEAD"} {
			resp, body := do(t, testutil.Client(t), "OPTIONS", g.URL+path, "", "Origin", spaOrigin)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != allow || decode(t, body)["error"] != "method_not_allowed" {
				t.Errorf("OPTIONS %s = %d Allow %q %s, want 405 Allow %q", path, resp.StatusCode, resp.Header.Get("Allow"), body, allow)
			}
			if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("OPTIONS %s: Access-Control-Allow-Origin %q on a 405", path, v)
			}
		}
	})
}

// A client registered at run time (admin API) lends its origin at once; a
// deleted one's origin stops being allowed at once; a change another
// instance (or `gatehouse client add`) makes in the shared store counts
// within client.OriginsMaxAge.
func TestCORSFollowsClientChanges(t *testing.T) {
	g := startCORS(t)
	admin := bearerFor(t, g, "root")
	const origin = "https://new.example.com:8443"
	allowed := func(t *testing.T, origin string) bool {
		t.Helper()
		resp, _ := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", badCode, "Content-Type", formType, "Origin", origin)
		preflight, _ := do(t, testutil.Client(t), "OPTIONS", g.URL+"/auth/token", "", "Origin", origin, "Access-Control-Request-Method", "POST")
		a, p := resp.Header.Get("Access-Control-Allow-Origin") == origin, preflight.Header.Get("Access-Control-Allow-Origin") == origin
		if a != p {
			t.Fatalf("request allowed %v, preflight allowed %v", a, p)
		}
		return a
	}
	if allowed(t, origin) {
		t.Fatal("allowed before any client has it")
	}

	reg, _ := json.Marshal(map[string]any{"client_id": "new-spa", "type": "public", "redirect_uris": []string{origin + "/app/cb"},
		"grant_types": []string{"authorization_code"}, "scopes": []string{"openid"}})
	resp, body := do(t, testutil.Client(t), "POST", g.URL+"/admin/api/v1/clients", string(reg),
		"Content-Type", "application/json", "Authorization", "Bearer "+admin)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add client = %d %s", resp.StatusCode, body)
	}
	if !allowed(t, origin) {
		t.Error("a client added through the admin API: its origin is not allowed")
	}
	resp, body = do(t, testutil.Client(t), "DELETE", g.URL+"/admin/api/v1/clients/new-spa", "", "Authorization", "Bearer "+admin)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete client = %d %s", resp.StatusCode, body)
	}
	if allowed(t, origin) {
		t.Error("a deleted client's origin is still allowed")
	}

	// Behind this instance's back: the store alone, as another instance
	// sharing it or the CLI would change it.
	ctx := context.Background()
	const other = "https://other.example.com"
	if err := g.App.Store.CreateClient(ctx, client.Client{ID: "elsewhere", Type: client.Public, RedirectURIs: []string{other + "/cb"},
		GrantTypes: []string{"authorization_code"}}); err != nil {
		t.Fatal(err)
	}
	if allowed(t, other) {
		t.Log("seen before the set expired (it was rebuilt meanwhile)")
	}
	g.Clock.Advance(client.OriginsMaxAge)
	if !allowed(t, other) {
		t.Errorf("a client added to the shared store: not allowed after %v", client.OriginsMaxAge)
	}
	if err := g.App.Store.DeleteClient(ctx, "elsewhere"); err != nil {
		t.Fatal(err)
	}
	g.Clock.Advance(client.OriginsMaxAge)
	if allowed(t, other) {
		t.Errorf("a client deleted from the shared store: still allowed after %v", client.OriginsMaxAge)
	}
}

// failingClients is a main store whose client listing is down.
type failingClients struct {
	app.MainStore
}

func (failingClients) ListClients(context.Context) ([]client.Client, error) {
	return nil, errors.Join(auth.ErrUnavailable, errors.New("store down (test)"))
}

// When the clients cannot be listed no origin is allowed (fail closed);
// the request itself is answered as ever.
func TestCORSFailsClosedWhenClientsCannotBeListed(t *testing.T) {
	g := startCORS(t, testutil.WithStore(func(s app.MainStore) app.MainStore { return failingClients{s} }))
	resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", badCode, "Content-Type", formType, "Origin", spaOrigin)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("= %d %s, want 400", resp.StatusCode, body)
	}
	assertCORS(t, resp, spaOrigin, false)
	// A second request within the retry is refused too, without a second
	// log line: an outage is logged once per listing, not per request.
	resp, body = do(t, testutil.Client(t), "POST", g.URL+"/auth/token", badCode, "Content-Type", formType, "Origin", spaOrigin)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("second request = %d %s, want 400", resp.StatusCode, body)
	}
	assertCORS(t, resp, spaOrigin, false)
	if n := strings.Count(g.Logs(), "cors: client origins unavailable"); n != 1 {
		t.Errorf("the outage is logged %d times for two requests within the retry, want once", n)
	}
}

// Nothing a cookie authenticates gets CORS, not even for a registered
// client's origin, and a preflight to it is no preflight (405 or the
// gateway's answer).
func TestCORSNeverOnCookieEndpoints(t *testing.T) {
	g := startCORS(t)
	b := browser(t, g, "alice")
	tests := []struct{ method, path, body string }{
		{"POST", "/auth/login", `{"username":"alice","password":"` + strongPassword + `"}`},
		{"GET", "/auth/session", ""},
		{"GET", "/auth/sessions", ""},
		{"POST", "/auth/logout", ""},
		{"GET", "/account", ""},
		{"GET", "/login", ""},
		{"GET", "/auth/authorize?client_id=spa", ""},
		{"GET", "/auth/end_session", ""},
		{"GET", "/admin/api/v1/users", ""},
		{"GET", "/auth/verify", ""},
		{"GET", "/healthz", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, _ := do(t, b, tt.method, g.URL+tt.path, tt.body, "Content-Type", "application/json", "Origin", spaOrigin)
			assertNoCORS(t, resp)
			resp, _ = do(t, b, "OPTIONS", g.URL+tt.path, "", "Origin", spaOrigin, "Access-Control-Request-Method", tt.method)
			if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusOK {
				t.Errorf("preflight = %d, want a refusal", resp.StatusCode)
			}
			assertNoCORS(t, resp)
		})
	}
}

func assertNoCORS(t *testing.T, resp *http.Response) {
	t.Helper()
	for k := range resp.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("%s %s: %s = %q", resp.Request.Method, resp.Request.URL.Path, k, resp.Header.Values(k))
		}
	}
}

// The SPA's cross-site POSTs are not cross-origin-protected (they carry no
// cookie authority), while a cookie endpoint's cross-site POST still is.
func TestCORSCrossOriginProtectionLetsTheSPAPost(t *testing.T) {
	g := startCORS(t)
	access := bearerFor(t, g, "alice")
	cross := []string{"Origin", spaOrigin, "Sec-Fetch-Site", "cross-site", "Content-Type", formType}
	resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/token",
		url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}}.Encode(), cross...)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("cross-site token POST = %d %s, want 200", resp.StatusCode, body)
	}
	if resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/revoke", "token="+access, cross...); resp.StatusCode != http.StatusOK {
		t.Errorf("cross-site revoke POST = %d %s, want 200", resp.StatusCode, body)
	}
	if resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/userinfo", "", append(cross, "Authorization", "Bearer "+bearerFor(t, g, "alice"))...); resp.StatusCode != http.StatusOK {
		t.Errorf("cross-site userinfo POST = %d %s, want 200", resp.StatusCode, body)
	}
	b := browser(t, g, "alice")
	if resp, _ := do(t, b, "POST", g.URL+"/auth/logout", "", cross...); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site logout = %d, want 403", resp.StatusCode)
	}
}

// The set is cheap to ask: one listing per OriginsMaxAge, not per request.
func TestCORSListsClientsOncePerMaxAge(t *testing.T) {
	var lists countingLists
	g := startCORS(t, testutil.WithStore(func(s app.MainStore) app.MainStore { lists.MainStore = s; return &lists }))
	n0 := lists.n.Load()
	for range 20 {
		resp, _ := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", badCode, "Content-Type", formType, "Origin", "https://evil.example")
		assertCORS(t, resp, "https://evil.example", false)
	}
	if n := lists.n.Load() - n0; n != 1 {
		t.Errorf("20 requests listed the clients %d times, want 1", n)
	}
	g.Clock.Advance(client.OriginsMaxAge + time.Second)
	do(t, testutil.Client(t), "POST", g.URL+"/auth/token", badCode, "Content-Type", formType, "Origin", spaOrigin)
	if n := lists.n.Load() - n0; n != 2 {
		t.Errorf("after OriginsMaxAge: %d listings, want 2", n)
	}
}

// countingLists counts the listings of a real store's clients.
type countingLists struct {
	app.MainStore
	n atomic.Int64
}

func (c *countingLists) ListClients(ctx context.Context) ([]client.Client, error) {
	c.n.Add(1)
	return c.MainStore.ListClients(ctx)
}

// Discovery's grant_types_supported lists password when tokens.password_grant
// is on or some first-party client has the grant. It asks the registry's
// listing (client.AnyAllowsGrant, the one behind CORS), not the store: one
// listing per OriginsMaxAge however many requests, a change made behind
// this instance's back seen within OriginsMaxAge, and no password (the
// document still served) while the clients cannot be listed.
func TestDiscoveryListsClientsOncePerMaxAge(t *testing.T) {
	var lists countingLists
	g := startApps(t, testutil.WithClock(testutil.NewClock()),
		testutil.WithConfig(func(c *config.Config) { c.Tokens.PasswordGrant = false }),
		testutil.WithStore(func(s app.MainStore) app.MainStore { lists.MainStore = s; return &lists }))
	password := func(t *testing.T) bool {
		t.Helper()
		resp, body := do(t, testutil.Client(t), "GET", g.URL+"/.well-known/openid-configuration", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("discovery = %d %s", resp.StatusCode, body)
		}
		var m struct {
			Grants []string `json:"grant_types_supported"`
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		return slices.Contains(m.Grants, "password")
	}
	n0 := lists.n.Load()
	for range 20 {
		if password(t) {
			t.Fatal("password advertised with no client having it")
		}
	}
	if n := lists.n.Load() - n0; n > 1 {
		t.Errorf("20 discovery requests listed the clients %d times, want at most 1", n)
	}
	if err := g.App.Store.CreateClient(context.Background(), client.Client{ID: "first", Type: client.Public, FirstParty: true,
		GrantTypes: []string{client.GrantPassword}}); err != nil {
		t.Fatal(err)
	}
	if password(t) {
		t.Log("seen before the listing expired (it was made meanwhile)")
	}
	g.Clock.Advance(client.OriginsMaxAge)
	if !password(t) {
		t.Errorf("a first-party password client added to the shared store: not advertised after %v", client.OriginsMaxAge)
	}
	if n := lists.n.Load() - n0; n > 2 {
		t.Errorf("%d listings over two OriginsMaxAge windows, want at most 2", n)
	}
}

// With the clients' listing down, discovery is served without password
// (fail closed), and the outage is logged once, not per request.
func TestDiscoveryWhenClientsCannotBeListed(t *testing.T) {
	g := startApps(t, testutil.WithClock(testutil.NewClock()), // the retry does not run out meanwhile
		testutil.WithConfig(func(c *config.Config) { c.Tokens.PasswordGrant = false }),
		testutil.WithStore(func(s app.MainStore) app.MainStore { return failingClients{s} }))
	for range 3 {
		resp, body := do(t, testutil.Client(t), "GET", g.URL+"/.well-known/oauth-authorization-server", "")
		if resp.StatusCode != http.StatusOK || strings.Contains(body, `"password"`) {
			t.Fatalf("discovery = %d %s, want 200 without password", resp.StatusCode, body)
		}
	}
	if n := strings.Count(g.Logs(), "discovery: clients unavailable"); n != 1 {
		t.Errorf("the outage is logged %d times for three requests within the retry, want once", n)
	}
}

// A client whose redirect URI has a Unicode host lends the origin a
// browser sends for it: the host in ASCII (punycode). An Origin in
// Unicode is none a browser sends, and is refused. /auth/authorize still
// matches the redirect URI as registered.
func TestCORSInternationalisedRedirectHost(t *testing.T) {
	const (
		unicodeCB   = "https://bücher.example/cb"
		asciiOrigin = "https://xn--bcher-kva.example"
	)
	g := startCORS(t, testutil.WithConfig(func(c *config.Config) {
		c.Clients = append(c.Clients, config.Client{ID: "buecher", Type: "public", RedirectURIs: []string{unicodeCB},
			GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}})
	}))
	for _, tt := range []struct {
		origin  string
		allowed bool
	}{
		{asciiOrigin, true},
		{"https://bücher.example", false},
		{"https://XN--BCHER-KVA.example", false},
	} {
		t.Run(tt.origin, func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", badCode, "Content-Type", formType, "Origin", tt.origin)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("= %d %s, want 400", resp.StatusCode, body)
			}
			assertCORS(t, resp, tt.origin, tt.allowed)
			resp, _ = do(t, testutil.Client(t), "OPTIONS", g.URL+"/auth/token", "", "Origin", tt.origin, "Access-Control-Request-Method", "POST")
			if got := resp.Header.Get("Access-Control-Allow-Origin"); resp.StatusCode != http.StatusNoContent || (got == tt.origin) != tt.allowed {
				t.Errorf("preflight = %d Access-Control-Allow-Origin %q, want 204 and allowed %v", resp.StatusCode, got, tt.allowed)
			}
		})
	}
	// The redirect URI as written is the one /auth/authorize accepts (an
	// error goes back to it); its punycode spelling is another URI (400).
	b := browser(t, g, "alice")
	q := url.Values{"response_type": {"code"}, "client_id": {"buecher"}, "scope": {"openid admin"}, "state": {"s"},
		"code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
	q.Set("redirect_uri", unicodeCB)
	resp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+q.Encode(), "")
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || (resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther) || loc.Hostname() != "bücher.example" || loc.Query().Get("error") != "invalid_scope" {
		t.Errorf("authorize with %s = %d Location %q, want a redirect to it with error=invalid_scope", unicodeCB, resp.StatusCode, resp.Header.Get("Location"))
	}
	q.Set("redirect_uri", asciiOrigin+"/cb")
	if resp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+q.Encode(), ""); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("authorize with the punycode spelling = %d Location %q, want a 400 page", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// A preflight is what the Fetch standard sends: exactly one non-empty
// Origin and exactly one non-empty Access-Control-Request-Method
// (gateway.IsPreflight, the gateway's skip_auth_preflight rule too).
// Anything else is an ordinary OPTIONS request: 405 with Allow, no CORS.
func TestCORSPreflightNeedsOneOriginAndOneMethod(t *testing.T) {
	g := startCORS(t)
	tests := []struct {
		name    string
		headers map[string][]string
		want    int
	}{
		{"one of each", map[string][]string{"Origin": {spaOrigin}, "Access-Control-Request-Method": {"POST"}}, http.StatusNoContent},
		{"no Origin", map[string][]string{"Access-Control-Request-Method": {"POST"}}, http.StatusMethodNotAllowed},
		{"empty Origin", map[string][]string{"Origin": {""}, "Access-Control-Request-Method": {"POST"}}, http.StatusMethodNotAllowed},
		{"two Origins", map[string][]string{"Origin": {spaOrigin, spaOrigin}, "Access-Control-Request-Method": {"POST"}}, http.StatusMethodNotAllowed},
		{"two Access-Control-Request-Method", map[string][]string{"Origin": {spaOrigin}, "Access-Control-Request-Method": {"POST", "POST"}}, http.StatusMethodNotAllowed},
		{"empty Access-Control-Request-Method", map[string][]string{"Origin": {spaOrigin}, "Access-Control-Request-Method": {""}}, http.StatusMethodNotAllowed},
	}
	for _, path := range []string{"/auth/token", "/auth/revoke", "/auth/userinfo", "/.well-known/jwks.json", "/.well-known/openid-configuration"} {
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				req, err := http.NewRequest("OPTIONS", g.URL+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				for k, vs := range tt.headers {
					req.Header[k] = vs
				}
				resp, err := testutil.Client(t).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				testutil.ReadBody(t, resp)
				if resp.StatusCode != tt.want {
					t.Fatalf("= %d, want %d", resp.StatusCode, tt.want)
				}
				if tt.want == http.StatusMethodNotAllowed {
					if resp.Header.Get("Allow") == "" {
						t.Error("405 without Allow")
					}
					assertNoCORS(t, resp)
				}
			})
		}
	}
}
