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
			_, prefix := redistest.New(t)
			proxy := redistest.NewProxy(t)
			s, err := redis.Open(ctx, proxy.URL(), redis.WithKeyPrefix(prefix))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			// A first login and logout load the scripts and leave a pooled
			// connection, so that the answer lost is the call's own.
			warm := liveRecord("warm-up", "user-0", now)
			if err := s.CreateSession(ctx, warm); err != nil {
				t.Fatalf("CreateSession(warm-up): %v", err)
			}
			if err := s.DeleteSession(ctx, warm.ID); err != nil {
				t.Fatalf("DeleteSession(warm-up): %v", err)
			}
			id := "lost-" + tt.name
			if tt.stored != nil {
				if err := s.CreateSession(ctx, *tt.stored(id)); err != nil {
					t.Fatalf("CreateSession(stored): %v", err)
				}
			}
			if tt.lose {
				proxy.LoseNextAnswer()
			}
			err = tt.call(ctx, s, id)
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
