package admin_test

import (
	"encoding/json"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// The audit trail shows each event's User-Agent (details.user_agent) on
// the admin API and the console, as the event stored it: control and
// format characters replaced, cut at 256 bytes, and on the console
// HTML-escaped (and in Go quotes when it holds a space). An
// administrator's own change carries the administrator's User-Agent next
// to the actor.
func TestAuditShowsTheUserAgent(t *testing.T) {
	e := start(t)
	const agent = "Mozilla/5.0\t\u009b2J\u202eevil\xff\xfe <script>x</script> "
	prefix := "Mozilla/5.0\uFFFD\uFFFD2J\uFFFDevil\uFFFD <script>x</script> "
	want := prefix + strings.Repeat("A", 256-len(prefix))
	for _, password := range []string{"wrong password !!", pw} {
		b, _ := json.Marshal(map[string]string{"username": "carol", "password": password})
		e.do(t, "POST", "/auth/login", string(b), "Content-Type", "application/json", "User-Agent", agent+strings.Repeat("A", 10<<10))
	}
	if resp, body := e.do(t, "POST", "/admin/api/v1/users/carol/disable", "",
		append([]string{"User-Agent", "ops-script/1.0"}, bearer(e.rootToken)...)...); resp.StatusCode != 200 {
		t.Fatalf("disable = %d %s", resp.StatusCode, body)
	}

	for _, tt := range []struct{ typ, want, actor, shown string }{
		// The console quotes a value with a space (TestConsoleAuditDetailsReadBackAsStored).
		{"login.failed", want, "", strconv.Quote(want)},
		{"login.ok", want, "", strconv.Quote(want)},
		{"user.disabled", "ops-script/1.0", "root", "ops-script/1.0"},
	} {
		q := url.Values{"type": {tt.typ}, "limit": {"1"}}.Encode()
		resp, body := e.do(t, "GET", "/admin/api/v1/audit?"+q, "", bearer(e.rootToken)...)
		var page struct {
			Events []struct {
				Username string
				Details  map[string]string
			}
		}
		if err := json.Unmarshal([]byte(body), &page); resp.StatusCode != 200 || err != nil || len(page.Events) != 1 {
			t.Fatalf("GET audit?%s = %d %s (%v)", q, resp.StatusCode, body, err)
		}
		ev := page.Events[0]
		if got := ev.Details["user_agent"]; ev.Username != "carol" || got != tt.want || ev.Details["actor"] != tt.actor {
			t.Errorf("API %s: username %q, user_agent %q, actor %q; want carol, %q, %q", tt.typ, ev.Username, got, ev.Details["actor"], tt.want, tt.actor)
		}

		resp, page2 := e.do(t, "GET", "/admin/audit?"+q, "", append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)...)
		if resp.StatusCode != 200 || !strings.Contains(page2, "user_agent="+template.HTMLEscapeString(tt.shown)) {
			t.Errorf("console %s (%d): no escaped user_agent=%s\n%s", tt.typ, resp.StatusCode, tt.shown, page2)
		}
		if strings.Contains(page2, "<script>x") || strings.ContainsAny(page2, "\u202e\u009b") {
			t.Errorf("console %s shows the User-Agent unescaped", tt.typ)
		}
	}
}
