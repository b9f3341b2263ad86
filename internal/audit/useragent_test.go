package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
)

// An event recorded in a request carries the request's User-Agent in
// Details["user_agent"], stored and logged alike: as valid UTF-8 without
// control, format or line-separator characters (each becomes U+FFFD, so a
// header cannot forge a log line, drive a terminal or reorder text), cut
// to at most 256 bytes before a whole character. An empty one, or an
// event outside a request, carries none. Both stores keep the value as it
// was logged (PostgreSQL refuses NUL and invalid UTF-8 outright).
func TestRecordCarriesTheUserAgent(t *testing.T) {
	long := strings.Repeat("a", 255) + "é" + strings.Repeat("b", 10<<10) // é's 2 bytes straddle byte 256
	tests := []struct {
		name string
		req  *audit.Request // nil: no request in the context
		want string         // "": no user_agent at all
	}{
		{"plain", &audit.Request{UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}, "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"},
		{"UTF-8 kept", &audit.Request{UserAgent: "Büro-Client/1.0 ✓"}, "Büro-Client/1.0 ✓"},
		{"control characters", &audit.Request{UserAgent: "curl/8\r\n{\"msg\":\"audit\"}\x00\x1b[2J\t\x7f\u009b"},
			"curl/8\uFFFD\uFFFD{\"msg\":\"audit\"}\uFFFD\uFFFD[2J\uFFFD\uFFFD\uFFFD"},
		{"format and line separators", &audit.Request{UserAgent: "a\u202eb\u2028c\u2029d\u200be"}, "a\uFFFDb\uFFFDc\uFFFDd\uFFFDe"},
		{"invalid UTF-8", &audit.Request{UserAgent: "x\xff\xfey\xc3"}, "x\uFFFDy\uFFFD"},
		{"10 KB cut at a character boundary", &audit.Request{UserAgent: long}, strings.Repeat("a", 255)},
		{"empty", &audit.Request{IP: "192.0.2.1"}, ""},
		{"no request", nil, ""},
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			var store audit.Store
			if kind == "sqlite" {
				store = sqlitetest.New(t)
			} else {
				store = pgtest.New(t)
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var logs bytes.Buffer
					l := audit.New(store, slog.New(slog.NewJSONHandler(&logs, nil)), time.Now)
					ctx := context.Background()
					if tt.req != nil {
						ctx = audit.WithRequest(ctx, tt.req)
					}
					shared := map[string]string{"reason": "bad_password"}
					id := kind + "/" + tt.name
					l.Record(ctx, audit.Event{Type: audit.LoginFailed, Username: id, Details: shared})
					if len(shared) != 1 {
						t.Errorf("the caller's Details were changed: %v", shared)
					}

					var line map[string]any
					if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
						t.Fatalf("log %q: %v", logs.String(), err)
					}
					if line["msg"] != "audit" {
						t.Fatalf("log %q: want one audit line", logs.String())
					}
					logged, inLog := line["user_agent"].(string)

					evs, err := store.ListAudit(ctx, audit.Filter{Limit: 100})
					if err != nil {
						t.Fatal(err)
					}
					var ev *audit.Event
					for i := range evs {
						if evs[i].Username == id {
							ev = &evs[i]
						}
					}
					if ev == nil {
						t.Fatalf("no stored event (log: %s)", logs.String())
					}
					stored, inStore := ev.Details["user_agent"]
					if tt.want == "" {
						if inStore || inLog {
							t.Errorf("user_agent stored %q (%v), logged %q (%v); want none", stored, inStore, logged, inLog)
						}
						return
					}
					if got, want := stored, tt.want; got != want {
						t.Errorf("stored user_agent = %q, want %q", got, want)
					}
					if got, want := logged, tt.want; got != want {
						t.Errorf("logged user_agent = %q, want %q", got, want)
					}
					if len(stored) > 256 || !utf8.ValidString(stored) {
						t.Errorf("stored user_agent: %d bytes, valid UTF-8 %v", len(stored), utf8.ValidString(stored))
					}
					if ev.Details["reason"] != "bad_password" {
						t.Errorf("details = %v, want the caller's reason kept", ev.Details)
					}
				})
			}
		})
	}
}

// The acting administrator and the User-Agent go into one copy of
// Details, next to the caller's own entries.
func TestRecordCarriesActorAndUserAgent(t *testing.T) {
	store := sqlitetest.New(t)
	var logs bytes.Buffer
	l := audit.New(store, slog.New(slog.NewJSONHandler(&logs, nil)), time.Now)
	ctx := audit.WithRequest(context.Background(), &audit.Request{ID: "r1", UserAgent: "curl/8.0"})
	audit.SetActor(ctx, "u-root", "root")
	l.Record(ctx, audit.Event{Type: audit.UserDisabled, Username: "bob", Details: map[string]string{"via": "api"}})
	evs, err := store.ListAudit(ctx, audit.Filter{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("ListAudit = %v, %v", evs, err)
	}
	d := evs[0].Details
	if d["actor"] != "root" || d["actor_id"] != "u-root" || d["user_agent"] != "curl/8.0" || d["via"] != "api" || len(d) != 4 {
		t.Errorf("details = %v, want actor, actor_id, user_agent and via", d)
	}
}
