package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// send makes a request with header pairs added as given, so a name may
// repeat (two Authorization or Cookie lines on the wire).
func send(t *testing.T, method, u string, header ...string) (*http.Response, string) {
	t.Helper()
	c := testutil.Client(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return testutil.Send(t, c, method, u, "", header...)
}

// TestUserinfoAndGatewayReadCredentialsAlike sends each credential spelling
// to /auth/userinfo and to a gateway route with auth: any: both must give
// the same RFC 6750 challenge and, but for two Authorization headers, the
// same status (issue 12: they disagreed on "BEARER x" and on two
// Authorization headers). Two headers are a malformed request: userinfo
// answers 400 invalid_request (RFC 6750 §3.1), the gateway keeps its 401
// (contract §5).
func TestUserinfoAndGatewayReadCredentialsAlike(t *testing.T) {
	up := newUpstream(t)
	g := gatewayInstance(t, testutil.NewClock(), up)
	tok := passwordGrant(t, g, "alice", strongPassword)["access_token"].(string)
	resp, _ := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword)
	aliceCookie := "gatehouse=" + sessionCookie(t, resp, "gatehouse").Value
	resp, _ = loginJSON(t, testutil.Client(t), g.URL, "root", strongPassword)
	rootCookie := "gatehouse=" + sessionCookie(t, resp, "gatehouse").Value

	const (
		plain          = `Bearer realm="gatehouse"`
		invalidToken   = `Bearer realm="gatehouse", error="invalid_token"`
		invalidRequest = `Bearer realm="gatehouse", error="invalid_request"`
	)
	tests := []struct {
		name      string
		header    []string
		status    int
		challenge string
	}{
		{"bearer", []string{"Authorization", "Bearer " + tok}, 200, ""},
		{"upper-case scheme (RFC 7235)", []string{"Authorization", "BEARER " + tok}, 200, ""},
		{"mixed-case scheme", []string{"Authorization", "bEaReR " + tok}, 200, ""},
		{"two Authorization headers", []string{"Authorization", "Bearer " + tok, "Authorization", "Bearer " + tok}, 401, invalidRequest},
		{"two different Authorization headers", []string{"Authorization", "Bearer " + tok, "Authorization", "Bearer x"}, 401, invalidRequest},
		{"basic scheme", []string{"Authorization", "Basic YWxpY2U6cHc="}, 401, plain},
		{"bearer without token", []string{"Authorization", "Bearer"}, 401, invalidToken},
		{"garbage bearer", []string{"Authorization", "Bearer abc.def.ghi"}, 401, invalidToken},
		{"session cookie", []string{"Cookie", aliceCookie}, 200, ""},
		{"two session cookies (tossing)", []string{"Cookie", rootCookie + "; " + aliceCookie}, 401, plain},
		{"two session cookie lines", []string{"Cookie", rootCookie, "Cookie", aliceCookie}, 401, plain},
		{"token beats tossed cookies", []string{"Cookie", rootCookie + "; " + aliceCookie, "Authorization", "Bearer " + tok}, 200, ""},
		{"nothing", nil, 401, plain},
	}
	// userinfo's status where it differs from the gateway's.
	userinfo := map[string]int{"two Authorization headers": 400, "two different Authorization headers": 400}
	for _, tt := range tests {
		for _, path := range []string{"/auth/userinfo", "/either/x"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				resp, body := send(t, "GET", g.URL+path, tt.header...)
				want := tt.status
				if s, ok := userinfo[tt.name]; ok && path == "/auth/userinfo" {
					want = s
				}
				if resp.StatusCode != want {
					t.Fatalf("status = %d %s, want %d", resp.StatusCode, body, want)
				}
				if want == 400 && decode(t, body)["error"] != "invalid_request" {
					t.Errorf("body = %s, want invalid_request", body)
				}
				if got := resp.Header.Get("WWW-Authenticate"); got != tt.challenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
				}
				if tt.status == 200 && path == "/auth/userinfo" && decode(t, body)["username"] != "alice" {
					t.Errorf("userinfo = %s, want alice", body)
				}
			})
		}
	}
}

// TestTossedSessionCookiesCountAsNone plants the attacker's own valid
// session cookie next to the victim's on every endpoint that reads the
// cookie: the request has no session (never "first wins"), and the answer
// expires the cookie on Path=/. Logout is the one endpoint that acts on
// the cookies all the same: it ends each session they name.
func TestTossedSessionCookiesCountAsNone(t *testing.T) {
	up := newUpstream(t)
	g := gatewayInstance(t, testutil.NewClock(), up)
	resp, _ := loginJSON(t, testutil.Client(t), g.URL, "root", strongPassword)
	victim := "gatehouse=" + sessionCookie(t, resp, "gatehouse").Value
	resp, _ = loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword)
	attacker := "gatehouse=" + sessionCookie(t, resp, "gatehouse").Value
	const html = "text/html"
	tests := []struct {
		name, method, path string
		header             []string
		status             int
	}{
		{"session", "GET", "/auth/session", nil, 401},
		{"session list", "GET", "/auth/sessions", nil, 401},
		{"revoke others", "DELETE", "/auth/sessions", nil, 401},
		{"account page", "GET", "/account", []string{"Accept", html}, 302},
		{"userinfo", "GET", "/auth/userinfo", nil, 401},
		{"logout", "POST", "/auth/logout", nil, 204},
		{"gateway session route", "GET", "/admin/x", nil, 401},
		{"gateway session route, browser", "GET", "/admin/x", []string{"Accept", html}, 302},
		{"gateway any route", "GET", "/either/x", nil, 401},
		{"gateway public route", "GET", "/public", nil, 200},
		{"forward-auth", "GET", "/auth/verify", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/either/x"}, 401},
	}
	for _, tt := range tests {
		for _, cookies := range []struct{ name string }{{"one Cookie line"}, {"two Cookie lines"}} {
			order := []string{"Cookie", attacker + "; " + victim}
			if cookies.name == "two Cookie lines" {
				order = []string{"Cookie", victim, "Cookie", attacker}
			}
			t.Run(tt.name+", "+cookies.name, func(t *testing.T) {
				resp, body := send(t, tt.method, g.URL+tt.path, append(slices.Clone(tt.header), order...)...)
				if resp.StatusCode != tt.status {
					t.Fatalf("status = %d %s, want %d", resp.StatusCode, body, tt.status)
				}
				if resp.StatusCode == 200 && tt.path != "/public" {
					t.Fatalf("a tossed cookie authenticated: %s", body)
				}
				cleared := false
				for _, c := range resp.Cookies() {
					cleared = cleared || c.Name == "gatehouse" && c.Value == "" && c.MaxAge < 0 && c.Path == "/"
				}
				if !cleared {
					t.Errorf("Set-Cookie = %q, want gatehouse expired on Path=/", resp.Header.Values("Set-Cookie"))
				}
			})
		}
	}
	// The tossed logouts ended both sessions: a request carrying two
	// session cookies authenticates as none, but a logout ends every
	// session they name (ending one needs only its cookie, which is owning
	// it), so that the victim who signs out is signed out.
	for name, ck := range map[string]string{"victim": victim, "attacker": attacker} {
		if resp, body := send(t, "GET", g.URL+"/auth/session", "Cookie", ck); resp.StatusCode != 401 {
			t.Errorf("%s session after the tossed logout = %d %s, want 401", name, resp.StatusCode, body)
		}
	}
	if strings.Contains(g.Logs(), strings.TrimPrefix(victim, "gatehouse=")) {
		t.Error("a session cookie value was logged")
	}
}
