package httpapi_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// hostileAgent is a User-Agent as HTTP lets a client send it: a tab, a C1
// control (8-bit CSI), a bidirectional override, bytes that are not UTF-8,
// markup, and 10 KB in all. (CR, LF, NUL and ESC never get past net/http.)
const hostileAgent = "Mozilla/5.0\t\u009b2J\u202eevil\xff\xfe <script>x</script> "

// hostileAgentAudited is hostileAgent+10 KB as an event carries it: each
// of those characters one U+FFFD, cut at 256 bytes.
func hostileAgentAudited() string {
	p := "Mozilla/5.0\uFFFD\uFFFD2J\uFFFDevil\uFFFD <script>x</script> "
	return p + strings.Repeat("A", 256-len(p))
}

// Events recorded while serving a request carry its User-Agent
// (Details["user_agent"]), sanitized and bounded, in the stored event and
// in the event's log line; a request without one adds none.
func TestAuditEventsCarryTheUserAgent(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	agent := hostileAgent + strings.Repeat("A", 10<<10)
	want := hostileAgentAudited()
	loginJSON(t, testutil.Client(t), g.URL, "alice", "wrong password !!", "User-Agent", agent)
	loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword, "User-Agent", agent)
	loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword, "User-Agent", "") // Go sends none

	events, err := g.App.Store.ListAudit(t.Context(), audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{} // event type → user_agent of each (newest first), "-" for none
	for _, e := range events {
		ua, ok := e.Details["user_agent"]
		if !ok {
			ua = "-"
		}
		got[e.Type] = append(got[e.Type], ua)
	}
	if g, w := got[audit.LoginFailed], []string{want}; !slices.Equal(g, w) {
		t.Errorf("login.failed user_agent = %q, want %q", g, w)
	}
	if g, w := got[audit.LoginOK], []string{"-", want}; !slices.Equal(g, w) {
		t.Errorf("login.ok user_agent (newest first) = %q, want %q", g, w)
	}
	if ua := got[audit.UserCreated]; !slices.Equal(ua, []string{"-"}) {
		t.Errorf("user.created outside a request: user_agent = %q, want none", ua)
	}
	if len(want) != 256 || !utf8.ValidString(want) {
		t.Fatalf("test expectation: %d bytes", len(want))
	}

	logged := map[string]int{}
	for line := range strings.SplitSeq(strings.TrimSpace(g.Logs()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["msg"] != "audit" {
			continue
		}
		if m["user_agent"] == want {
			logged[m["event"].(string)]++
		}
	}
	if logged[audit.LoginFailed] != 1 || logged[audit.LoginOK] != 1 {
		t.Errorf("audit log lines with the cleaned user_agent: %v, want one login.failed and one login.ok\n%s", logged, g.Logs())
	}
	g.AssertLogsDoNotContain(t, "\u202e", "\u009b", strings.Repeat("A", 300))
}
