package sessiontest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
)

// RunStoreTests runs the session.Store conformance suite. newStore must
// return an empty store of its own (a fresh file, schema or key prefix) and
// register its cleanup with t.Cleanup.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) session.Store) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[session.Store]{
		{Name: "CreateThenGetReturnsEveryField", Run: testCreateThenGet},
		{Name: "CreateWithTakenIDConflicts", Run: testCreateConflict},
		{Name: "MissingSessionIsNotFound", Run: testMissing},
		{Name: "TouchMovesLastSeenAndIdleExpiry", Run: testTouch},
		{Name: "TouchAfterDeleteIsNotFound", Run: testTouchAfterDelete},
		{Name: "DeleteRemovesOnlyThatSession", Run: testDelete},
		{Name: "UserSessionsListsOnlyThatUser", Run: testUserSessions},
		{Name: "DeleteUserSessionsKeepsOnlyKeepID", Run: testDeleteUserSessions},
		{Name: "DeleteExpiredSessionsPurgesIdleAndAbsolute", Run: testDeleteExpired},
		{Name: "ConcurrentCreateWithSameIDSucceedsOnce", Run: testConcurrentCreate},
	})
}

// base is a wall-clock time that every record is relative to: records must
// lie in the future of the real clock because some stores (Redis) expire
// keys in real time.
func base() time.Time { return time.Now().Truncate(time.Millisecond) }

// newRecord returns a live session of userID created at now with a 30m idle
// and 24h absolute timeout.
func newRecord(t *testing.T, userID string, now time.Time) session.Record {
	t.Helper()
	return session.Record{
		ID:            randomID(t),
		UserID:        userID,
		CreatedAt:     now,
		LastSeenAt:    now,
		IdleExpiresAt: now.Add(30 * time.Minute),
		ExpiresAt:     now.Add(24 * time.Hour),
		IP:            "192.0.2.10",
		UserAgent:     "Mozilla/5.0 (X11; Linux) «test» ✓",
		Method:        "password",
		AMR:           []string{"pwd", "otp", "mfa"},
	}
}

// randomID returns a value shaped like a public session ID (base64url of 32
// random bytes) so that backends see realistic keys.
func randomID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random id: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func mustCreate(t *testing.T, s session.Store, r session.Record) {
	t.Helper()
	if err := s.CreateSession(context.Background(), r); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

func mustGet(t *testing.T, s session.Store, id string) session.Record {
	t.Helper()
	r, err := s.Session(context.Background(), id)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	return r
}

func assertNotFound(t *testing.T, s session.Store, id string) {
	t.Helper()
	if _, err := s.Session(context.Background(), id); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("Session(deleted) error = %v, want auth.ErrNotFound", err)
	}
}

func assertRecord(t *testing.T, got, want session.Record) {
	t.Helper()
	strs := []struct{ field, got, want string }{
		{"ID", got.ID, want.ID},
		{"UserID", got.UserID, want.UserID},
		{"IP", got.IP, want.IP},
		{"UserAgent", got.UserAgent, want.UserAgent},
		{"Method", got.Method, want.Method},
		{"AMR", strings.Join(got.AMR, " "), strings.Join(want.AMR, " ")},
	}
	for _, f := range strs {
		if f.got != f.want {
			t.Errorf("%s = %q, want %q", f.field, f.got, f.want)
		}
	}
	times := []struct {
		field     string
		got, want time.Time
	}{
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"LastSeenAt", got.LastSeenAt, want.LastSeenAt},
		{"IdleExpiresAt", got.IdleExpiresAt, want.IdleExpiresAt},
		{"ExpiresAt", got.ExpiresAt, want.ExpiresAt},
	}
	for _, f := range times {
		if !f.got.Equal(f.want) {
			t.Errorf("%s = %v, want %v", f.field, f.got, f.want)
		}
	}
}

// ids returns the sorted IDs of rs.
func ids(rs []session.Record) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ID)
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}

func testCreateThenGet(t *testing.T, s session.Store) {
	now := base()
	want := newRecord(t, "user-1", now)
	want.Method = "oidc:corp"
	mustCreate(t, s, want)
	assertRecord(t, mustGet(t, s, want.ID), want)
}

func testCreateConflict(t *testing.T, s session.Store) {
	now := base()
	first := newRecord(t, "user-1", now)
	mustCreate(t, s, first)

	second := newRecord(t, "user-2", now.Add(time.Second))
	second.ID = first.ID
	if err := s.CreateSession(context.Background(), second); !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("CreateSession(taken ID) error = %v, want auth.ErrConflict", err)
	}
	// The first session must be untouched by the refused create.
	assertRecord(t, mustGet(t, s, first.ID), first)
}

func testMissing(t *testing.T, s session.Store) {
	ctx := context.Background()
	id := randomID(t)
	now := base()
	tests := []struct {
		name string
		call func() error
	}{
		{"Session", func() error { _, err := s.Session(ctx, id); return err }},
		{"TouchSession", func() error { return s.TouchSession(ctx, id, now, now.Add(time.Hour)) }},
		{"DeleteSession", func() error { return s.DeleteSession(ctx, id) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, auth.ErrNotFound) {
				t.Fatalf("%s(missing) error = %v, want auth.ErrNotFound", tt.name, err)
			}
		})
	}
	// A touch of a missing session must not create one.
	assertNotFound(t, s, id)
}

func testTouch(t *testing.T, s session.Store) {
	now := base()
	r := newRecord(t, "user-1", now)
	mustCreate(t, s, r)

	later := now.Add(5 * time.Minute)
	if err := s.TouchSession(context.Background(), r.ID, later, later.Add(30*time.Minute)); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}
	want := r
	want.LastSeenAt = later
	want.IdleExpiresAt = later.Add(30 * time.Minute)
	assertRecord(t, mustGet(t, s, r.ID), want)
}

// testTouchAfterDelete: a session deleted (revoked, logged out) between a
// lookup's read and its activity write is gone for the touch too
// (auth.ErrNotFound, which session.Manager answers as unauthenticated), and
// the touch does not bring it back.
func testTouchAfterDelete(t *testing.T, s session.Store) {
	ctx := context.Background()
	tests := []struct {
		name   string
		delete func(r session.Record) error
	}{
		{"DeleteSession", func(r session.Record) error { return s.DeleteSession(ctx, r.ID) }},
		{"DeleteUserSessions", func(r session.Record) error { _, err := s.DeleteUserSessions(ctx, r.UserID, ""); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := base()
			r := newRecord(t, "user-1", now)
			mustCreate(t, s, r)
			if err := tt.delete(r); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			later := now.Add(time.Minute)
			if err := s.TouchSession(ctx, r.ID, later, later.Add(30*time.Minute)); !errors.Is(err, auth.ErrNotFound) {
				t.Fatalf("TouchSession after %s = %v, want auth.ErrNotFound", tt.name, err)
			}
			assertNotFound(t, s, r.ID)
			if live, err := s.UserSessions(ctx, r.UserID); err != nil || slices.Contains(ids(live), r.ID) {
				t.Errorf("UserSessions after the touch = %v, %v; want without %s", ids(live), err, r.ID)
			}
		})
	}
}

func testDelete(t *testing.T, s session.Store) {
	ctx := context.Background()
	now := base()
	gone := newRecord(t, "user-1", now)
	kept := newRecord(t, "user-1", now)
	mustCreate(t, s, gone)
	mustCreate(t, s, kept)

	if err := s.DeleteSession(ctx, gone.ID); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	assertNotFound(t, s, gone.ID)
	if err := s.DeleteSession(ctx, gone.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("second DeleteSession error = %v, want auth.ErrNotFound", err)
	}
	assertRecord(t, mustGet(t, s, kept.ID), kept)

	list, err := s.UserSessions(ctx, "user-1")
	if err != nil {
		t.Fatalf("UserSessions: %v", err)
	}
	if got, want := ids(list), []string{kept.ID}; !slices.Equal(got, want) {
		t.Fatalf("UserSessions after delete = %v, want %v", got, want)
	}
}

func testUserSessions(t *testing.T, s session.Store) {
	ctx := context.Background()
	now := base()
	a1 := newRecord(t, "alice", now)
	a2 := newRecord(t, "alice", now.Add(time.Second))
	a2.IP, a2.UserAgent = "2001:db8::1", "curl/8.0"
	b1 := newRecord(t, "bob", now)
	for _, r := range []session.Record{a1, a2, b1} {
		mustCreate(t, s, r)
	}

	tests := []struct {
		user string
		want []session.Record
	}{
		{"alice", []session.Record{a1, a2}},
		{"bob", []session.Record{b1}},
		{"nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			got, err := s.UserSessions(ctx, tt.user)
			if err != nil {
				t.Fatalf("UserSessions: %v", err)
			}
			if g, w := ids(got), ids(tt.want); !slices.Equal(g, w) {
				t.Fatalf("UserSessions(%q) = %v, want %v", tt.user, g, w)
			}
			for _, w := range tt.want {
				for _, g := range got {
					if g.ID == w.ID {
						assertRecord(t, g, w)
					}
				}
			}
		})
	}
}

func testDeleteUserSessions(t *testing.T, s session.Store) {
	tests := []struct {
		name        string
		user        string
		keep        int // index into alice's sessions, -1 keeps none
		wantDeleted []int
		wantLeft    []int
	}{
		{"KeepCurrent", "alice", 1, []int{0, 2}, []int{1}},
		{"KeepNone", "alice", -1, []int{0, 1, 2}, nil},
		{"UnknownUser", "nobody", -1, nil, []int{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			now := base()
			// Each case gets its own users so that cases cannot see each other.
			alice, bob := "alice-"+tt.name, "bob-"+tt.name
			var mine []session.Record
			for range 3 {
				r := newRecord(t, alice, now)
				mustCreate(t, s, r)
				mine = append(mine, r)
			}
			other := newRecord(t, bob, now)
			mustCreate(t, s, other)

			user, keep := alice, ""
			if tt.user == "nobody" {
				user = "nobody-" + tt.name
			}
			if tt.keep >= 0 {
				keep = mine[tt.keep].ID
			}
			deleted, err := s.DeleteUserSessions(ctx, user, keep)
			if err != nil {
				t.Fatalf("DeleteUserSessions: %v", err)
			}
			var wantDeleted, wantLeft []string
			for _, i := range tt.wantDeleted {
				wantDeleted = append(wantDeleted, mine[i].ID)
			}
			for _, i := range tt.wantLeft {
				wantLeft = append(wantLeft, mine[i].ID)
			}
			if got, want := sorted(deleted), sorted(wantDeleted); !slices.Equal(got, want) {
				t.Fatalf("deleted IDs = %v, want %v", got, want)
			}
			for _, id := range wantDeleted {
				assertNotFound(t, s, id)
			}
			left, err := s.UserSessions(ctx, alice)
			if err != nil {
				t.Fatalf("UserSessions: %v", err)
			}
			if got, want := ids(left), sorted(wantLeft); !slices.Equal(got, want) {
				t.Fatalf("sessions left = %v, want %v", got, want)
			}
			// Another user's session is never collateral damage.
			assertRecord(t, mustGet(t, s, other.ID), other)
		})
	}
}

func testDeleteExpired(t *testing.T, s session.Store) {
	ctx := context.Background()
	now := base()
	purgeAt := now.Add(30 * time.Minute)

	idleGone := newRecord(t, "alice", now)
	idleGone.IdleExpiresAt = now.Add(10 * time.Minute)

	absoluteGone := newRecord(t, "alice", now)
	absoluteGone.IdleExpiresAt = now.Add(40 * time.Minute)
	absoluteGone.ExpiresAt = now.Add(20 * time.Minute)

	touched := newRecord(t, "alice", now)
	touched.IdleExpiresAt = now.Add(10 * time.Minute)

	live := newRecord(t, "bob", now)
	live.IdleExpiresAt = now.Add(time.Hour)

	for _, r := range []session.Record{idleGone, absoluteGone, touched, live} {
		mustCreate(t, s, r)
	}
	// Activity moves the idle expiry past purgeAt, so the purge keeps it.
	seen := now.Add(9 * time.Minute)
	if err := s.TouchSession(ctx, touched.ID, seen, seen.Add(30*time.Minute)); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}

	n, err := s.DeleteExpiredSessions(ctx, purgeAt)
	if err != nil {
		t.Fatalf("DeleteExpiredSessions: %v", err)
	}
	if got, want := n, 2; got != want {
		t.Errorf("DeleteExpiredSessions removed %d, want %d", got, want)
	}
	assertNotFound(t, s, idleGone.ID)
	assertNotFound(t, s, absoluteGone.ID)
	mustGet(t, s, touched.ID)
	mustGet(t, s, live.ID)

	list, err := s.UserSessions(ctx, "alice")
	if err != nil {
		t.Fatalf("UserSessions: %v", err)
	}
	if got, want := ids(list), []string{touched.ID}; !slices.Equal(got, want) {
		t.Fatalf("alice's sessions after purge = %v, want %v", got, want)
	}

	n, err = s.DeleteExpiredSessions(ctx, purgeAt)
	if err != nil {
		t.Fatalf("second DeleteExpiredSessions: %v", err)
	}
	if got, want := n, 0; got != want {
		t.Errorf("second DeleteExpiredSessions removed %d, want %d", got, want)
	}
}

func testConcurrentCreate(t *testing.T, s session.Store) {
	const workers = 10
	now := base()
	id := randomID(t)
	records := make([]session.Record, workers)
	for i := range records {
		records[i] = newRecord(t, fmt.Sprintf("user-%d", i), now)
		records[i].ID = id
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		ok     int
		others []error
	)
	for _, r := range records {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.CreateSession(context.Background(), r)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, auth.ErrConflict):
				others = append(others, err)
			}
		}()
	}
	wg.Wait()
	if len(others) > 0 {
		t.Fatalf("errors other than auth.ErrConflict: %v", others)
	}
	if got, want := ok, 1; got != want {
		t.Fatalf("successful creates = %d, want %d", got, want)
	}
	// Exactly one user owns the ID, and every user's index agrees.
	owner := mustGet(t, s, id).UserID
	for _, r := range records {
		list, err := s.UserSessions(context.Background(), r.UserID)
		if err != nil {
			t.Fatalf("UserSessions: %v", err)
		}
		var want []string
		if r.UserID == owner {
			want = []string{id}
		}
		if got := ids(list); !slices.Equal(got, sorted(want)) {
			t.Fatalf("UserSessions(%s) = %v, want %v", r.UserID, got, want)
		}
	}
}
