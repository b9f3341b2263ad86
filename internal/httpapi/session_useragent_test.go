package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// A session keeps the login's User-Agent exactly as the login's audit
// event carries it (details.user_agent): valid UTF-8, every control,
// format and line or paragraph separator character replaced by U+FFFD, at
// most 256 bytes cut before a whole character. So GET /auth/session and
// GET /auth/sessions (and the /account page and the admin API, which show
// the same record) agree with the audit trail, and none of them shows a
// bare CR, an ESC sequence or a bidirectional override.
//
// net/http refuses a header value holding CR, LF, NUL, ESC or DEL, so the
// "in process" case hands its request to the instance's handler directly
// (the real middleware, login handler and SQLite store): the rule must not
// depend on the listener in front of it.
func TestSessionUserAgentIsTheAuditedOne(t *testing.T) {
	g := testutil.Start(t)
	tests := []struct {
		name      string
		inProcess bool
		ua, want  string
	}{
		{
			name:      "in process: ESC, CR, bidi override, invalid UTF-8, 10 KB",
			inProcess: true,
			ua:        "Mozilla/5.0 \x1b[31mred\x1b[0m\rX-Forged: 1\u202eevil\xff\xfe " + strings.Repeat("B", 10<<10),
			want:      fill("Mozilla/5.0 \uFFFD[31mred\uFFFD[0m\uFFFDX-Forged: 1\uFFFDevil\uFFFD ", "B"),
		},
		{
			name: "over the wire: tab, C1 control, line separator, zero-width space, cut inside a character",
			ua:   "Mozilla/5.0\t\u009b2J\u2028x\u200byz " + strings.Repeat("é", 200),
			// 29 bytes, then 113 é (226 bytes): the 114th would straddle byte 256.
			want: fill("Mozilla/5.0\uFFFD\uFFFD2J\uFFFDx\uFFFDyz ", "é"),
		},
		{
			name: "printable ASCII kept as sent",
			ua:   "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
			want: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "ua" + string(rune('a'+i))
			g.CreateUser(t, name, strongPassword)
			var c *http.Client
			if tt.inProcess {
				c = loginInProcess(t, g, name, tt.ua)
			} else {
				c = testutil.Client(t)
				if resp, body := loginJSON(t, c, g.URL, name, strongPassword, "User-Agent", tt.ua); resp.StatusCode != http.StatusOK {
					t.Fatalf("login = %d %s", resp.StatusCode, body)
				}
			}

			if got := sessionOf(t, g, c)["user_agent"]; got != tt.want {
				t.Errorf("GET /auth/session user_agent = %q, want %q", got, tt.want)
			}
			resp, body := do(t, c, "GET", g.URL+"/auth/sessions", "")
			sessions, _ := decode(t, body)["sessions"].([]any)
			if resp.StatusCode != http.StatusOK || len(sessions) != 1 {
				t.Fatalf("GET /auth/sessions = %d %s, want one session", resp.StatusCode, body)
			}
			if got := sessions[0].(map[string]any)["user_agent"]; got != tt.want {
				t.Errorf("GET /auth/sessions user_agent = %q, want %q", got, tt.want)
			}

			events, err := g.App.Store.ListAudit(t.Context(), audit.Filter{Type: audit.LoginOK, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var audited []string
			for _, e := range events {
				if e.Username == name {
					audited = append(audited, e.Details["user_agent"])
				}
			}
			if len(audited) != 1 || audited[0] != tt.want {
				t.Errorf("login.ok user_agent = %q, want one %q", audited, tt.want)
			}
		})
	}
}

// fill returns prefix followed by as many whole unit as fit in 256 bytes.
func fill(prefix, unit string) string {
	return prefix + strings.Repeat(unit, (256-len(prefix))/len(unit))
}

// loginInProcess signs name in with a request carrying User-Agent ua,
// served by g's handler without a listener, and returns a client holding
// the session cookie it set.
func loginInProcess(t *testing.T, g *testutil.Instance, name, ua string) *http.Client {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, g.URL+"/auth/login",
		strings.NewReader(`{"username":"`+name+`","password":"`+strongPassword+`"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header["User-Agent"] = []string{ua}
	w := httptest.NewRecorder()
	g.App.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("login = %d %s", w.Code, w.Body)
	}
	return withCookie(t, g.URL, sessionCookie(t, w.Result(), "gatehouse"))
}
