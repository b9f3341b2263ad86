package audittest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
)

// RunStoreTests runs the audit.Store conformance suite. newStore must return
// an empty store of its own (fresh file or schema) and register its cleanup
// with t.Cleanup.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) audit.Store) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[audit.Store]{
		{Name: "AppendThenListReturnsEveryField", Run: testRoundTrip},
		{Name: "ListIsNewestFirst", Run: testOrder},
		{Name: "FilterByUserAndType", Run: testFilter},
		{Name: "LimitKeepsTheNewest", Run: testLimit},
		{Name: "ZeroLimitMeansOneHundred", Run: testDefaultLimit},
		{Name: "TimeRangeAndPaging", Run: testRangeAndPaging},
		{Name: "PurgeDeletesOnlyOlderEvents", Run: testPurge},
		{Name: "PurgeDeletesABacklog", Run: testPurgeBacklog},
	})
}

// at is a fixed time with microsecond precision, the finest every store keeps.
var at = time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)

func appendAll(t *testing.T, s audit.Store, evs ...audit.Event) {
	t.Helper()
	for _, e := range evs {
		if err := s.AppendAudit(context.Background(), e); err != nil {
			t.Fatalf("AppendAudit(%s): %v", e.Type, err)
		}
	}
}

func list(t *testing.T, s audit.Store, f audit.Filter) []audit.Event {
	t.Helper()
	evs, err := s.ListAudit(context.Background(), f)
	if err != nil {
		t.Fatalf("ListAudit(%+v): %v", f, err)
	}
	return evs
}

// requestIDs identifies events by RequestID, which the tests make unique.
func requestIDs(evs []audit.Event) []string {
	ids := make([]string, 0, len(evs))
	for _, e := range evs {
		ids = append(ids, e.RequestID)
	}
	return ids
}

func ev(req, typ, userID string, when time.Time) audit.Event {
	return audit.Event{Time: when, Type: typ, UserID: userID, Username: "name-" + userID, IP: "192.0.2.1", RequestID: req}
}

func testRoundTrip(t *testing.T, s audit.Store) {
	want := audit.Event{
		Time: at, Type: audit.LoginFailed, UserID: "u1", Username: "Alice", IP: "2001:db8::1", RequestID: "req-1",
		Details: map[string]string{"reason": "bad_password", "note": "«✓»"},
	}
	bare := audit.Event{Time: at.Add(-time.Second), Type: audit.KeyRotated, RequestID: "req-0"}
	appendAll(t, s, want, bare)
	got := list(t, s, audit.Filter{})
	if len(got) != 2 {
		t.Fatalf("ListAudit = %d events, want 2", len(got))
	}
	g := got[0]
	if g.ID == 0 || !g.Time.Equal(want.Time) || g.Type != want.Type || g.UserID != want.UserID ||
		g.Username != want.Username || g.IP != want.IP || g.RequestID != want.RequestID || !maps.Equal(g.Details, want.Details) {
		t.Fatalf("event = %+v\nwant    %+v (with an ID)", g, want)
	}
	if b := got[1]; b.Type != bare.Type || b.UserID != "" || len(b.Details) != 0 {
		t.Fatalf("bare event = %+v, want %+v", b, bare)
	}
	if got[0].ID == got[1].ID {
		t.Fatalf("two events share ID %d", got[0].ID)
	}
}

func testOrder(t *testing.T, s audit.Store) {
	appendAll(t, s,
		ev("b", audit.LoginOK, "u1", at.Add(2*time.Second)),
		ev("a", audit.LoginOK, "u1", at.Add(1*time.Second)), // appended late, happened early
		ev("c", audit.Logout, "u1", at.Add(3*time.Second)),
		ev("d", audit.Logout, "u1", at.Add(3*time.Second)), // same time: the later append is newer
	)
	if got, want := requestIDs(list(t, s, audit.Filter{})), []string{"d", "c", "b", "a"}; !slices.Equal(got, want) {
		t.Fatalf("ListAudit order = %v, want %v", got, want)
	}
}

func testFilter(t *testing.T, s audit.Store) {
	appendAll(t, s,
		ev("1", audit.LoginOK, "alice", at),
		ev("2", audit.LoginFailed, "alice", at.Add(time.Second)),
		ev("3", audit.LoginOK, "bob", at.Add(2*time.Second)),
		ev("4", audit.Logout, "alice", at.Add(3*time.Second)),
	)
	tests := []struct {
		name string
		f    audit.Filter
		want []string
	}{
		{"Everything", audit.Filter{}, []string{"4", "3", "2", "1"}},
		{"User", audit.Filter{UserID: "alice"}, []string{"4", "2", "1"}},
		{"Type", audit.Filter{Type: audit.LoginOK}, []string{"3", "1"}},
		{"UserAndType", audit.Filter{UserID: "alice", Type: audit.LoginOK}, []string{"1"}},
		{"NoMatch", audit.Filter{UserID: "carol"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := requestIDs(list(t, s, tt.f)); !slices.Equal(got, tt.want) {
				t.Fatalf("ListAudit(%+v) = %v, want %v", tt.f, got, tt.want)
			}
		})
	}
}

func testLimit(t *testing.T, s audit.Store) {
	for i := range 5 {
		appendAll(t, s, ev(fmt.Sprint(i), audit.LoginOK, "u1", at.Add(time.Duration(i)*time.Second)))
	}
	if got, want := requestIDs(list(t, s, audit.Filter{Limit: 2})), []string{"4", "3"}; !slices.Equal(got, want) {
		t.Fatalf("ListAudit(Limit 2) = %v, want %v", got, want)
	}
}

func testDefaultLimit(t *testing.T, s audit.Store) {
	for i := range 101 {
		appendAll(t, s, ev(fmt.Sprint(i), audit.LoginOK, "u1", at.Add(time.Duration(i)*time.Second)))
	}
	got := list(t, s, audit.Filter{})
	if len(got) != 100 {
		t.Fatalf("ListAudit(Limit 0) = %d events, want 100", len(got))
	}
	if got[0].RequestID != "100" || got[99].RequestID != "1" {
		t.Fatalf("ListAudit(Limit 0) spans %s..%s, want 100..1", got[0].RequestID, got[99].RequestID)
	}
}

func testRangeAndPaging(t *testing.T, s audit.Store) {
	// Two events share a time: paging must still visit each exactly once.
	appendAll(t, s,
		ev("r0", "login.ok", "u1", at),
		ev("r1", "login.ok", "u1", at.Add(time.Minute)),
		ev("r2", "login.ok", "u1", at.Add(time.Minute)),
		ev("r3", "login.ok", "u1", at.Add(2*time.Minute)),
		ev("r4", "login.ok", "u1", at.Add(3*time.Minute)),
	)
	got := requestIDs(list(t, s, audit.Filter{Since: at.Add(time.Minute), Until: at.Add(3 * time.Minute)}))
	if want := []string{"r3", "r2", "r1"}; !slices.Equal(got, want) {
		t.Errorf("Since/Until = %v, want %v", got, want)
	}
	var pages []string
	f := audit.Filter{Limit: 2}
	for range 5 {
		evs := list(t, s, f)
		if len(evs) == 0 {
			break
		}
		pages = append(pages, requestIDs(evs)...)
		last := evs[len(evs)-1]
		f.Before = audit.Cursor{Time: last.Time, ID: last.ID}
	}
	if want := []string{"r4", "r3", "r2", "r1", "r0"}; !slices.Equal(pages, want) {
		t.Errorf("pages = %v, want %v", pages, want)
	}
}

func purge(t *testing.T, s audit.Store, before time.Time) int {
	t.Helper()
	n, err := s.PurgeAudit(context.Background(), before)
	if err != nil {
		t.Fatalf("PurgeAudit(%v): %v", before, err)
	}
	return n
}

// An event exactly at the bound stays: PurgeAudit deletes Time < before.
func testPurge(t *testing.T, s audit.Store) {
	appendAll(t, s,
		ev("old", audit.LoginOK, "u1", at.Add(-2*time.Second)),
		ev("older", audit.LoginFailed, "u2", at.Add(-time.Microsecond)),
		ev("bound", audit.Logout, "u1", at),
		ev("new", audit.LoginOK, "u1", at.Add(time.Second)),
	)
	if n := purge(t, s, at); n != 2 {
		t.Fatalf("PurgeAudit = %d, want 2", n)
	}
	if got, want := requestIDs(list(t, s, audit.Filter{})), []string{"new", "bound"}; !slices.Equal(got, want) {
		t.Fatalf("after the purge ListAudit = %v, want %v", got, want)
	}
	if n := purge(t, s, at); n != 0 {
		t.Fatalf("a second PurgeAudit = %d, want 0", n)
	}
}

// A backlog larger than a batch (the SQL stores delete 500 rows a
// statement) goes in one call.
func testPurgeBacklog(t *testing.T, s audit.Store) {
	const old = 501
	for i := range old {
		appendAll(t, s, ev(fmt.Sprint(i), audit.LoginFailed, "u1", at.Add(-time.Duration(i+1)*time.Second)))
	}
	appendAll(t, s, ev("kept", audit.LoginOK, "u1", at))
	if n := purge(t, s, at); n != old {
		t.Fatalf("PurgeAudit = %d, want %d", n, old)
	}
	if got := requestIDs(list(t, s, audit.Filter{Limit: 10})); !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("after the purge ListAudit = %v, want [kept]", got)
	}
}
