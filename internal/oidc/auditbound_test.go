package oidc_test

import (
	"net/http"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
)

// What a caller puts in the URL reaches the audit store only bounded and
// printable: anyone may request /auth/oidc/<anything>/start (an audit event
// each), and anyone may send their own browser's callback with an error
// parameter of their choosing. Unbounded, each request stored up to the
// 64 KiB header limit; raw, control characters (terminal escapes) and
// invalid UTF-8 went into the audit store and the log.
func TestAuditDetailsFromTheURLAreBounded(t *testing.T) {
	tests := []struct {
		name   string
		path   func(e *env) string
		detail string
		status int
	}{
		{"long unknown provider", func(*env) string { return "/auth/oidc/" + strings.Repeat("p", 5000) + "/start" }, "provider", http.StatusNotFound},
		{"unknown provider with controls", func(*env) string { return "/auth/oidc/x%1B%5B31m%00%FF/callback" }, "provider", http.StatusNotFound},
		{"provider error with controls", func(e *env) string {
			cb := e.begin("corp", "/")
			q := cb.Query()
			q.Del("code")
			q.Set("error", "access_denied\x1b[2J\x00\xff\n\u202e")
			cb.RawQuery = q.Encode()
			return cb.RequestURI()
		}, "error", http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			resp := e.get(e.srv.URL + tc.path(e))
			if resp.status != tc.status {
				t.Errorf("status = %d, want %d", resp.status, tc.status)
			}
			evs := e.events(audit.OIDCLoginFailed)
			if len(evs) == 0 {
				t.Fatal("no oidc.failed event")
			}
			got := evs[0].Details[tc.detail]
			if got == "" || len(got) > 100 || !utf8.ValidString(got) || strings.ContainsFunc(got, func(r rune) bool { return unicode.IsControl(r) || r == '\u202e' }) {
				t.Errorf("audit detail %s = %q (%d bytes), want non-empty, at most 100 bytes of printable UTF-8", tc.detail, got[:min(len(got), 80)], len(got))
			}
			if strings.ContainsFunc(resp.body, func(r rune) bool { return r == 0x1b || r == 0 }) || !utf8.ValidString(resp.body) {
				t.Error("the page shows control characters or invalid UTF-8")
			}
		})
	}
}
