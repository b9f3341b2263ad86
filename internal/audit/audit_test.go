package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
)

// brokenStore is a real store whose audit table is gone: every
// AppendAudit fails, as when the database refuses writes.
func brokenStore(t *testing.T, kind string) audit.Store {
	t.Helper()
	ctx := context.Background()
	switch kind {
	case "sqlite":
		s := sqlitetest.New(t)
		if _, err := s.DB().ExecContext(ctx, `DROP TABLE audit_events`); err != nil {
			t.Fatal(err)
		}
		return s
	default:
		dsn := pgtest.DSN(t)
		s := pgtest.Open(t, dsn)
		pgtest.Exec(t, dsn, `DROP TABLE audit_events`)
		return s
	}
}

// When the audit store fails, the action goes on (Record returns nothing
// to fail it with) and the event is not lost: its log line stays whole,
// and the error line names the event's type, user and request ID, so the
// operator can tell which stored trail entry is missing.
func TestStoreFailureIsLoggedWithTheEvent(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			var buf bytes.Buffer
			l := audit.New(brokenStore(t, kind), slog.New(slog.NewJSONHandler(&buf, nil)), time.Now)
			ctx := audit.WithRequest(context.Background(), &audit.Request{IP: "192.0.2.7", ID: "req-42"})
			l.Record(ctx, audit.Event{Type: audit.UserDeleted, UserID: "u1", Username: "alice"})
			var event, failure map[string]any
			for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				switch m["msg"] {
				case "audit":
					event = m
				case "audit store failed":
					failure = m
				}
			}
			if event == nil || event["event"] != audit.UserDeleted || event["request_id"] != "req-42" || event["ip"] != "192.0.2.7" {
				t.Errorf("audit line = %v, want the whole event", event)
			}
			if failure == nil || failure["level"] != "ERROR" || failure["event"] != audit.UserDeleted ||
				failure["request_id"] != "req-42" || failure["user_id"] != "u1" || failure["error"] == nil {
				t.Errorf("failure line = %v, want ERROR with event, user_id, request_id and error\n%s", failure, buf.String())
			}
		})
	}
}

// Purge deletes what is older than the retention by the Logger's clock,
// says how many in one log line, and does nothing with a retention of 0.
func TestPurgeKeepsTheRetention(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	store := sqlitetest.New(t)
	var logs bytes.Buffer
	l := audit.New(store, slog.New(slog.NewJSONHandler(&logs, nil)), func() time.Time { return now })
	for _, age := range []time.Duration{91 * 24 * time.Hour, 90*24*time.Hour + time.Second, 89 * 24 * time.Hour, 0} {
		l.Record(ctx, audit.Event{Type: audit.LoginOK, UserID: "u1", Time: now.Add(-age), RequestID: age.String()})
	}
	if n, err := l.Purge(ctx, 0); n != 0 || err != nil {
		t.Fatalf("Purge(0) = %d, %v; want nothing deleted", n, err)
	}
	logs.Reset()
	n, err := l.Purge(ctx, 90*24*time.Hour)
	if n != 2 || err != nil {
		t.Fatalf("Purge(90 days) = %d, %v; want 2", n, err)
	}
	left, err := store.ListAudit(ctx, audit.Filter{})
	if err != nil || len(left) != 2 || left[0].RequestID != "0s" || left[1].RequestID != (89*24*time.Hour).String() {
		t.Fatalf("left %+v, %v; want the events of the last 90 days", left, err)
	}
	var line struct {
		Msg    string
		Events int
	}
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.Events != 2 || !strings.Contains(line.Msg, "purged") {
		t.Fatalf("log %q: want one line saying 2 events were purged", logs.String())
	}
}
