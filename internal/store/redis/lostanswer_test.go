package redis_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
)

// TestSessionWriteWhoseAnswerIsLost: Redis ran a login's or a logout's
// script, but the connection died before its answer came back, and the
// client sent it again on another connection (go-redis retries a command
// after a network error, MaxRetries). A login's CreateSession then finds
// its own session (the ID is fresh: only the first run can have stored it)
// and a logout's DeleteSession finds nothing left to delete: both succeed,
// not auth.ErrConflict or auth.ErrNotFound, and Redis holds what one run
// leaves. Without a fault, a taken ID is still auth.ErrConflict and a
// missing session still auth.ErrNotFound; after a lost answer, a taken ID
// whose session is another one is still auth.ErrConflict.
func TestSessionWriteWhoseAnswerIsLost(t *testing.T) {
	now := time.Now().Truncate(time.Microsecond)
	mine := func(id string) session.Record { return liveRecord(id, "user-1", now) }
	other := func(id string) session.Record { return liveRecord(id, "user-2", now.Add(-time.Minute)) }
	tests := []struct {
		name    string
		stored  func(id string) *session.Record // before the call; nil: none
		lose    bool
		call    func(ctx context.Context, s *redis.Store, id string) error
		want    error                           // nil: success
		after   func(id string) *session.Record // nil: no session
		indexed bool                            // user-1 lists the session
	}{
		{"CreateSession", nil, true,
			func(ctx context.Context, s *redis.Store, id string) error { return s.CreateSession(ctx, mine(id)) },
			nil, func(id string) *session.Record { r := mine(id); return &r }, true},
		{"DeleteSession", func(id string) *session.Record { r := mine(id); return &r }, true,
			func(ctx context.Context, s *redis.Store, id string) error { return s.DeleteSession(ctx, id) },
			nil, nil, false},
		{"CreateSession/TakenID", func(id string) *session.Record { r := other(id); return &r }, false,
			func(ctx context.Context, s *redis.Store, id string) error { return s.CreateSession(ctx, mine(id)) },
			auth.ErrConflict, func(id string) *session.Record { r := other(id); return &r }, false},
		{"CreateSession/TakenIDAfterALostAnswer", func(id string) *session.Record { r := other(id); return &r }, true,
			func(ctx context.Context, s *redis.Store, id string) error { return s.CreateSession(ctx, mine(id)) },
			auth.ErrConflict, func(id string) *session.Record { r := other(id); return &r }, false},
		{"DeleteSession/Missing", nil, false,
			func(ctx context.Context, s *redis.Store, id string) error { return s.DeleteSession(ctx, id) },
			auth.ErrNotFound, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, proxy, _ := openProxied(t)
			id := "lost-" + tt.name
			if tt.stored != nil {
				if err := s.CreateSession(ctx, *tt.stored(id)); err != nil {
					t.Fatalf("CreateSession(stored): %v", err)
				}
			}
			if tt.lose {
				proxy.LoseNextAnswer()
			}
			err := tt.call(ctx, s, id)
			if tt.lose && !proxy.AnswerLost() {
				t.Fatal("no answer was lost")
			}
			if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
				t.Fatalf("%s = %v, want %v", tt.name, err, tt.want)
			}
			got, err := s.Session(ctx, id)
			switch want := tt.after; {
			case want == nil && !errors.Is(err, auth.ErrNotFound):
				t.Errorf("Session after %s = %+v, %v; want auth.ErrNotFound", tt.name, got, err)
			case want != nil && (err != nil || !sameRecord(got, *want(id))):
				t.Errorf("Session after %s = %+v, %v; want %+v", tt.name, got, err, *want(id))
			}
			list, err := s.UserSessions(ctx, "user-1")
			if err != nil {
				t.Fatalf("UserSessions: %v", err)
			}
			if listed := slices.ContainsFunc(list, func(r session.Record) bool { return r.ID == id }); listed != tt.indexed {
				t.Errorf("user-1 lists the session: %v, want %v", listed, tt.indexed)
			}
		})
	}
}

func sameRecord(a, b session.Record) bool {
	return a.ID == b.ID && a.UserID == b.UserID && a.IP == b.IP && a.UserAgent == b.UserAgent &&
		a.Method == b.Method && slices.Equal(a.AMR, b.AMR) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.LastSeenAt.Equal(b.LastSeenAt) &&
		a.IdleExpiresAt.Equal(b.IdleExpiresAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

// openProxied opens a store on the test Redis through a proxy that the
// test makes lose an answer, with a private key prefix; a first login and
// logout load the scripts and leave a pooled connection, so that the
// answers the test loses are the call's own.
func openProxied(t *testing.T) (*redis.Store, *redistest.Proxy, string) {
	t.Helper()
	ctx := context.Background()
	_, prefix := redistest.New(t)
	proxy := redistest.NewProxy(t)
	s, err := redis.Open(ctx, proxy.URL(), redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	warm := liveRecord("warm-up", "user-0", time.Now())
	if err := s.CreateSession(ctx, warm); err != nil {
		t.Fatalf("CreateSession(warm-up): %v", err)
	}
	if err := s.DeleteSession(ctx, warm.ID); err != nil {
		t.Fatalf("DeleteSession(warm-up): %v", err)
	}
	return s, proxy, prefix
}

// TestDeleteUserSessionsWhoseAnswerIsLost: Redis deleted a user's
// sessions (a sign-out everywhere), but the connection died before the
// answer came back. The store sends the deletes again, which find the
// sessions gone; the call must still return every session it removed,
// since its caller announces exactly those as revoked to the other
// instances, and no session it did not remove: an index entry whose
// session had already expired before the call is dropped, not reported.
func TestDeleteUserSessionsWhoseAnswerIsLost(t *testing.T) {
	for _, lose := range []bool{true, false} {
		name := "LostAnswer"
		if !lose {
			name = "NoFault"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, proxy, prefix := openProxied(t)
			now := time.Now()
			var removed []string
			for _, id := range []string{"a", "b", "c", "keep", "expired"} {
				if err := s.CreateSession(ctx, liveRecord(id, "user-1", now)); err != nil {
					t.Fatalf("CreateSession(%s): %v", id, err)
				}
				if id != "keep" && id != "expired" {
					removed = append(removed, id)
				}
			}
			other := liveRecord("other", "user-2", now)
			if err := s.CreateSession(ctx, other); err != nil {
				t.Fatalf("CreateSession(other): %v", err)
			}
			// As its TTL would: the session goes, its index entry stays.
			if err := rawClient(t).Del(ctx, prefix+"s:expired").Err(); err != nil {
				t.Fatalf("expire a session: %v", err)
			}
			if lose {
				// The answer to the deletes, not to the read of the index.
				proxy.LoseAnswerTo("eval")
			}
			got, err := s.DeleteUserSessions(ctx, "user-1", "keep")
			if lose && !proxy.AnswerLost() {
				t.Fatal("no answer was lost")
			}
			if err != nil {
				t.Fatalf("DeleteUserSessions: %v", err)
			}
			slices.Sort(got)
			if !slices.Equal(got, removed) {
				t.Errorf("DeleteUserSessions returned %v, want %v", got, removed)
			}
			for _, id := range append(removed, "expired") {
				if _, err := s.Session(ctx, id); !errors.Is(err, auth.ErrNotFound) {
					t.Errorf("Session(%s) after DeleteUserSessions: %v, want auth.ErrNotFound", id, err)
				}
			}
			for _, want := range []struct{ user, id string }{{"user-1", "keep"}, {"user-2", "other"}} {
				list, err := s.UserSessions(ctx, want.user)
				if err != nil {
					t.Fatalf("UserSessions(%s): %v", want.user, err)
				}
				if len(list) != 1 || list[0].ID != want.id {
					t.Errorf("UserSessions(%s) = %v, want only %s", want.user, list, want.id)
				}
			}
		})
	}
}

// TestFailureWhoseAnswerIsLostCountsOnce: Redis recorded a login failure,
// but the connection died before the count came back, and go-redis sent
// the script again. The second run carries the same member (the time and
// the random suffix drawn once per call), which the sorted set holds
// already: the failure counts once, not twice, and the lock it may lead
// to is the one a single failure earns.
func TestFailureWhoseAnswerIsLostCountsOnce(t *testing.T) {
	ctx := context.Background()
	s, proxy, _ := openProxied(t)
	now := time.Now()
	// Loads the script: the answer lost is then the script's own, not a
	// NOSCRIPT refusal of a script that never ran.
	if _, err := s.AddFailure(ctx, "warm-up", now, time.Minute); err != nil {
		t.Fatalf("AddFailure(warm-up): %v", err)
	}
	proxy.LoseNextAnswer()
	n, err := s.AddFailure(ctx, "alice", now, time.Minute)
	if !proxy.AnswerLost() {
		t.Fatal("no answer was lost")
	}
	if err != nil || n != 1 {
		t.Fatalf("AddFailure after a lost answer = %d, %v; want 1, nil", n, err)
	}
	if got, _, err := s.Failures(ctx, "alice", now, time.Minute); err != nil || got != 1 {
		t.Fatalf("Failures after a lost answer = %d, %v; want 1", got, err)
	}
}
