package gateway_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// credential is what a client sends: header name/value pairs.
type credential struct {
	name   string
	header []string
}

func sessionCred(who string) []string { return []string{"Cookie", cookieName + "=sess-" + who} }
func tokenCred(who string) []string   { return []string{"Authorization", "Bearer tok-" + who} }

// TestPolicyMatrix runs every route policy against every kind of credential.
// Each route requires the role "user".
func TestPolicyMatrix(t *testing.T) {
	up := newUpstream(t)
	_, srv := serve(t, []config.Route{
		route("none", "/none/", "none", up.URL),
		route("session", "/session/", "session", up.URL, "user"),
		route("token", "/token/", "token", up.URL, "user"),
		route("any", "/any/", "any", up.URL, "user"),
	}, deps())

	type want struct {
		status int
		method string // X-Auth-Method the upstream must see on 200 ("" = no identity)
	}
	ok := func(m string) want { return want{200, m} }
	code := func(s int) want { return want{s, ""} }
	tests := []struct {
		cred credential
		want map[string]want // by route
	}{
		{credential{"nothing", nil},
			map[string]want{"none": ok(""), "session": code(401), "token": code(401), "any": code(401)}},
		{credential{"valid session", sessionCred("alice")},
			map[string]want{"none": ok(""), "session": ok("session"), "token": code(401), "any": ok("session")}},
		{credential{"valid token", tokenCred("alice")},
			map[string]want{"none": ok(""), "session": code(401), "token": ok("token"), "any": ok("token")}},
		{credential{"lower-case bearer scheme", []string{"Authorization", "bearer tok-alice"}},
			map[string]want{"none": ok(""), "session": code(401), "token": ok("token"), "any": ok("token")}},
		{credential{"upper-case BEARER scheme (RFC 7235)", []string{"Authorization", "BEARER tok-alice"}},
			map[string]want{"none": ok(""), "session": code(401), "token": ok("token"), "any": ok("token")}},
		{credential{"two Authorization headers", append(tokenCred("alice"), tokenCred("alice")...)},
			map[string]want{"none": ok(""), "session": code(401), "token": code(401), "any": code(401)}},
		{credential{"two session cookies (tossing)", []string{"Cookie", cookieName + "=sess-alice; " + cookieName + "=sess-alice"}},
			map[string]want{"none": ok(""), "session": code(401), "token": code(401), "any": code(401)}},
		{credential{"two session cookie headers", append(sessionCred("root"), sessionCred("alice")...)},
			map[string]want{"none": ok(""), "session": code(401), "token": code(401), "any": code(401)}},
		{credential{"two session cookies and a token", append(append(sessionCred("alice"), sessionCred("alice")...), tokenCred("alice")...)},
			map[string]want{"none": ok(""), "session": code(401), "token": ok("token"), "any": ok("token")}},
		{credential{"expired session", sessionCred("expired")},
			map[string]want{"none": ok(""), "session": code(401), "token": code(401), "any": code(401)}},
		{credential{"revoked session", sessionCred("revoked")},
			map[string]want{"none": ok(""), "session": code(401), "token": code(401), "any": code(401)}},
		{credential{"unknown session", sessionCred("nobody")},
			map[string]want{"none": ok(""), "session": code(401), "token": code(401), "any": code(401)}},
		{credential{"expired token", tokenCred("expired")},
			map[string]want{"none": ok(""), "session": code(401), "token": code(401), "any": code(401)}},
		{credential{"revoked token", tokenCred("revoked")},
			map[string]want{"none": ok(""), "session": code(401), "token": code(401), "any": code(401)}},
		{credential{"garbage token", []string{"Authorization", "Bearer not-a-token"}},
			map[string]want{"none": ok(""), "session": code(401), "token": code(401), "any": code(401)}},
		{credential{"basic credentials", []string{"Authorization", "Basic YWxpY2U6cHc="}},
			map[string]want{"none": ok(""), "session": code(401), "token": code(401), "any": code(401)}},
		{credential{"session with wrong role", sessionCred("guest")},
			map[string]want{"none": ok(""), "session": code(403), "token": code(401), "any": code(403)}},
		{credential{"token with wrong role", tokenCred("guest")},
			map[string]want{"none": ok(""), "session": code(401), "token": code(403), "any": code(403)}},
		{credential{"session store down", sessionCred("down")},
			map[string]want{"none": ok(""), "session": code(503), "token": code(401), "any": code(503)}},
		{credential{"revocation store down", tokenCred("down")},
			map[string]want{"none": ok(""), "session": code(401), "token": code(503), "any": code(503)}},
		{credential{"good session and wrong-role token", append(sessionCred("alice"), tokenCred("guest")...)},
			map[string]want{"none": ok(""), "session": ok("session"), "token": code(403), "any": code(403)}},
	}
	for _, tt := range tests {
		for _, name := range []string{"none", "session", "token", "any"} {
			t.Run(tt.cred.name+"/"+name, func(t *testing.T) {
				w := tt.want[name]
				before := up.count()
				r := do(t, newRequest(t, "GET", srv.URL+"/"+name+"/x", tt.cred.header...))
				if r.StatusCode != w.status {
					t.Fatalf("status = %d, want %d (body %q)", r.StatusCode, w.status, r.Body)
				}
				if w.status != 200 {
					checkDenial(t, r, tt.cred, name)
					if up.count() != before {
						t.Fatal("a denied request reached the upstream")
					}
					return
				}
				s := up.last(t)
				if got := s.Header.Get("X-Auth-Method"); got != w.method {
					t.Errorf("X-Auth-Method = %q, want %q", got, w.method)
				}
				if w.method == "" && s.Header.Get("X-Auth-User") != "" {
					t.Errorf("unauthenticated route forwarded X-Auth-User %q", s.Header.Get("X-Auth-User"))
				}
			})
		}
	}
}

// checkDenial checks the body and the RFC 6750 challenge: on a 401,
// error="invalid_token" only when a Bearer credential was judged,
// error="invalid_request" for two Authorization headers, the plain challenge
// otherwise (no credential, a cookie, another scheme such as Basic); on a 403
// for a token, error="insufficient_scope" (§3.1).
func checkDenial(t *testing.T, r reply, cred credential, routeName string) {
	t.Helper()
	codes := map[int]string{401: "unauthorized", 403: "forbidden", 503: "unavailable"}
	wantJSONError(t, r, r.StatusCode, codes[r.StatusCode])
	var authz []string
	for i := 0; i < len(cred.header); i += 2 {
		if cred.header[i] == "Authorization" {
			authz = append(authz, cred.header[i+1])
		}
	}
	tokenRoute := routeName == "token" || routeName == "any"
	want := ""
	switch {
	case r.StatusCode == 401 && tokenRoute && len(authz) > 1:
		want = `Bearer realm="gatehouse", error="invalid_request"`
	case r.StatusCode == 401 && tokenRoute && len(authz) == 1 && strings.HasPrefix(strings.ToLower(authz[0]), "bearer "):
		want = `Bearer realm="gatehouse", error="invalid_token"`
	case r.StatusCode == 401:
		want = `Bearer realm="gatehouse"`
	case r.StatusCode == 403 && tokenRoute && len(authz) > 0:
		want = `Bearer realm="gatehouse", error="insufficient_scope"`
	}
	if got := r.Header.Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want)
	}
}

func TestBrowsersAreSentToLogin(t *testing.T) {
	up := newUpstream(t)
	_, srv := serve(t, []config.Route{
		route("session", "/session/", "session", up.URL, "user"),
		route("token", "/token/", "token", up.URL),
		route("any", "/any/", "any", up.URL),
	}, deps())
	const html = "text/html,application/xhtml+xml,*/*;q=0.8"
	tests := []struct {
		name     string
		path     string
		header   []string
		status   int
		location string
	}{
		{"session route without cookie", "/session/x?a=1&b=2", []string{"Accept", html}, 302,
			"/login?next=" + url.QueryEscape("/session/x?a=1&b=2")},
		{"session route with expired cookie", "/session/x", append([]string{"Accept", html}, sessionCred("expired")...), 302,
			"/login?next=%2Fsession%2Fx"},
		{"next is the normalised path", "/session/../session//y", []string{"Accept", html}, 302,
			"/login?next=%2Fsession%2Fy"},
		{"any route without credentials", "/any/x", []string{"Accept", html}, 302, "/login?next=%2Fany%2Fx"},
		{"any route with a bad bearer token", "/any/x", append([]string{"Accept", html}, tokenCred("expired")...), 401, ""},
		{"token route", "/token/x", []string{"Accept", html}, 401, ""},
		{"not a browser", "/session/x", []string{"Accept", "application/json"}, 401, ""},
		{"wrong role stays forbidden", "/session/x", append([]string{"Accept", html}, sessionCred("guest")...), 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, newRequest(t, "GET", srv.URL+tt.path, tt.header...))
			if r.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", r.StatusCode, tt.status)
			}
			if got := r.Header.Get("Location"); got != tt.location {
				t.Errorf("Location = %q, want %q", got, tt.location)
			}
		})
	}
	if up.count() != 0 {
		t.Errorf("upstream saw %d requests, want 0", up.count())
	}
}

func TestCrossOriginCookieRequestsAreRefused(t *testing.T) {
	up := newUpstream(t)
	_, srv := serve(t, []config.Route{
		route("session", "/session/", "session", up.URL),
		route("token", "/token/", "token", up.URL),
		route("any", "/any/", "any", up.URL),
	}, deps())
	host := srv.Listener.Addr().String()
	tests := []struct {
		name   string
		method string
		path   string
		header []string
		status int
	}{
		{"cross-site POST with session", "POST", "/session/x", append([]string{"Sec-Fetch-Site", "cross-site"}, sessionCred("alice")...), 403},
		{"same-site but cross-origin DELETE with session", "DELETE", "/session/x", append([]string{"Sec-Fetch-Site", "same-site"}, sessionCred("alice")...), 403},
		{"foreign Origin without Sec-Fetch-Site", "PUT", "/session/x", append([]string{"Origin", "https://evil.example"}, sessionCred("alice")...), 403},
		{"cross-site POST on any route with session", "POST", "/any/x", append([]string{"Sec-Fetch-Site", "cross-site"}, sessionCred("alice")...), 403},
		{"same-origin POST with session", "POST", "/session/x", append([]string{"Sec-Fetch-Site", "same-origin"}, sessionCred("alice")...), 200},
		{"matching Origin with session", "POST", "/session/x", append([]string{"Origin", "http://" + host}, sessionCred("alice")...), 200},
		{"non-browser POST with session", "POST", "/session/x", sessionCred("alice"), 200},
		{"cross-site GET with session", "GET", "/session/x", append([]string{"Sec-Fetch-Site", "cross-site"}, sessionCred("alice")...), 200},
		{"cross-site POST with token", "POST", "/token/x", append([]string{"Sec-Fetch-Site", "cross-site"}, tokenCred("alice")...), 200},
		{"cross-site POST on any route with token", "POST", "/any/x", append([]string{"Sec-Fetch-Site", "cross-site"}, tokenCred("alice")...), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.count()
			r := do(t, newRequest(t, tt.method, srv.URL+tt.path, tt.header...))
			if r.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", r.StatusCode, tt.status, r.Body)
			}
			if tt.status == 403 {
				wantJSONError(t, r, 403, "forbidden")
				if up.count() != before {
					t.Error("a refused request reached the upstream")
				}
			}
		})
	}
}

// TestCrossSiteHandshakeWithoutUpgradeHeader: nginx's auth_request and
// Traefik's ForwardAuth drop the hop-by-hop Upgrade header from the
// subrequest, so the verify endpoints see a browser's WebSocket handshake
// as a plain GET with its Sec-WebSocket-* and Sec-Fetch-* headers. It gets
// the cross-origin check all the same (cross-site WebSocket hijacking).
func TestCrossSiteHandshakeWithoutUpgradeHeader(t *testing.T) {
	_, srv := serve(t, []config.Route{route("ws", "/ws/", "session", "http://127.0.0.1:1")}, deps())
	key := []string{"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}
	tests := []struct {
		name   string
		header []string
		status int
	}{
		{"cross-site, Sec-WebSocket-Key", append(append([]string{"Sec-Fetch-Site", "cross-site"}, key...), sessionCred("alice")...), 403},
		{"foreign Origin, Sec-WebSocket-Key", append(append([]string{"Origin", "https://evil.example"}, key...), sessionCred("alice")...), 403},
		{"cross-site, Sec-Fetch-Mode websocket", append([]string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "websocket"}, sessionCred("alice")...), 403},
		{"same-origin handshake", append(append([]string{"Sec-Fetch-Site", "same-origin"}, key...), sessionCred("alice")...), 200},
		{"cross-site GET, not a handshake", append([]string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate"}, sessionCred("alice")...), 200},
	}
	for _, fam := range []struct{ path, method, uri string }{
		{gateway.VerifyNginxPath, "X-Original-Method", "X-Original-URI"},
		{gateway.VerifyForwardPath, "X-Forwarded-Method", "X-Forwarded-Uri"},
	} {
		for _, tt := range tests {
			t.Run(fam.path+" "+tt.name, func(t *testing.T) {
				h := append([]string{fam.method, "GET", fam.uri, "/ws/echo"}, tt.header...)
				r := do(t, newRequest(t, "GET", srv.URL+fam.path, h...))
				if r.StatusCode != tt.status {
					t.Fatalf("status = %d, want %d (body %q)", r.StatusCode, tt.status, r.Body)
				}
			})
		}
	}
}
