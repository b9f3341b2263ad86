package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// instance is one gatehouse instance's session side: a Manager that
// announces through its own revocation watcher and an Authenticator that
// caches sessions for an hour and trusts its cache while the watcher is
// fresh, wired as the serve command wires them.
type instance struct {
	manager *session.Manager
	auth    *session.Authenticator
}

func newInstance(t *testing.T, sessions session.Store, rev revocation.Store) instance {
	t.Helper()
	w := revocation.NewWatcher(rev, revocation.WithWait(50*time.Millisecond), revocation.WithStaleAfter(time.Hour))
	m := session.NewManager(sessions, session.WithPublisher(w), session.WithCachedFor(time.Hour))
	a := session.NewAuthenticator(m, users{"u1": {ID: "u1", Username: "alice"}}, time.Hour, w.Fresh)
	w.OnEvent(a.Forget)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	clocktest.Eventually(t, "the watcher is fresh", w.Fresh)
	return instance{manager: m, auth: a}
}

func (in instance) accepts(t *testing.T, value string) bool {
	t.Helper()
	_, _, err := in.auth.Authenticate(t.Context(), value)
	if err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("Authenticate: %v", err)
	}
	return err == nil
}

// unreplicatedRedis is the test Redis with writes that must reach a replica
// it does not have: every durable write (a session deletion, a revocation)
// is carried out on the primary and then reported as failed
// (redis.ErrNotReplicated), as with redis.wait set and a replica down.
func unreplicatedRedis(t *testing.T, prefix string) *redis.Store {
	t.Helper()
	s, err := redis.Open(context.Background(), redistest.URL, redis.WithKeyPrefix(prefix), redis.WithWait(1, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// A revocation that fails half-way (the store reports an error, but some
// sessions are gone already) must still reach every cache that holds them.
// Before, a session whose deletion failed that way was not announced, and
// "sign out my other devices" stopped announcing at the first
// failed announcement, and a failed bulk deletion announced nothing; the
// retry then found nothing left to delete and announced nothing either, so
// the other devices kept working from every instance's cache for up to
// sessions.cache_ttl.
func TestHalfFailedRevocationReachesEveryCache(t *testing.T) {
	stores := []struct {
		name string
		// two instances' session and revocation stores (shared backends)
		open func(t *testing.T) (sessions session.Store, revA, revB revocation.Store)
	}{
		{"AnnouncementNotReplicated", func(t *testing.T) (session.Store, revocation.Store, revocation.Store) {
			_, prefix := redistest.New(t)
			return memory.New(), unreplicatedRedis(t, prefix), unreplicatedRedis(t, prefix)
		}},
		{"DeletionNotReplicated", func(t *testing.T) (session.Store, revocation.Store, revocation.Store) {
			_, prefix := redistest.New(t)
			rev := memory.New()
			return unreplicatedRedis(t, prefix), rev, rev
		}},
	}
	ops := []struct {
		name string
		// revoke is given the IDs of the sessions other1, other2 and current
		revoke func(m *session.Manager, ids [3]string) error
		// which of them end
		ended [3]bool
	}{
		{"Revoke", func(m *session.Manager, ids [3]string) error {
			return m.Revoke(context.Background(), ids[0])
		}, [3]bool{true, false, false}},
		{"RevokeOthers", func(m *session.Manager, ids [3]string) error {
			_, err := m.RevokeOthers(context.Background(), "u1", ids[2])
			return err
		}, [3]bool{true, true, false}},
		{"RevokeUser", func(m *session.Manager, _ [3]string) error {
			return m.RevokeUser(context.Background(), "u1")
		}, [3]bool{true, true, true}},
	}
	for _, st := range stores {
		for _, op := range ops {
			t.Run(st.name+"/"+op.name, func(t *testing.T) {
				sessions, revA, revB := st.open(t)
				a, b := newInstance(t, sessions, revA), newInstance(t, sessions, revB)
				var values, ids [3]string
				for i := range values {
					v, rec, err := a.manager.Create(t.Context(), "u1", session.Meta{Method: "password"})
					if err != nil {
						t.Fatal(err)
					}
					values[i], ids[i] = v, rec.ID
					if !a.accepts(t, v) || !b.accepts(t, v) {
						t.Fatalf("session %d refused before the revocation", i)
					}
				}
				if err := op.revoke(a.manager, ids); !errors.Is(err, auth.ErrUnavailable) {
					t.Fatalf("revocation error = %v, want auth.ErrUnavailable (the caller must learn it failed)", err)
				}
				for i, v := range values {
					if !op.ended[i] {
						if !a.accepts(t, v) {
							t.Errorf("session %d, not revoked, refused", i)
						}
						continue
					}
					if a.accepts(t, v) {
						t.Errorf("session %d still accepted on the instance that revoked it", i)
					}
					clocktest.Eventually(t, "the other instance refuses the revoked session", func() bool { return !b.accepts(t, v) })
				}
			})
		}
	}
}

// eventLog is a Publisher that keeps what it is given.
type eventLog struct{ events []revocation.Event }

func (l *eventLog) Publish(_ context.Context, ev revocation.Event) error {
	l.events = append(l.events, ev)
	return nil
}

// A sign-out everywhere in one process (a `gatehouse user logout`) ends
// the sessions another process holds in its own memory store
// (sessions.store: memory) once that process applies the announcement:
// the sessions that began before it, not one begun after. A shared store
// (no WithLocalStore) is not asked to end anything twice.
func TestUserSessionsEventEndsEarlierSessionsInAProcessLocalStore(t *testing.T) {
	ctx := t.Context()
	clock := clocktest.New(time.Now())
	served := session.NewManager(memory.New(memory.WithClock(clock.Now)), session.WithClock(clock.Now), session.WithLocalStore())
	_, before, err := served.Create(ctx, "u1", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := served.Create(ctx, "u2", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	var feed eventLog
	command := session.NewManager(memory.New(memory.WithClock(clock.Now)), session.WithClock(clock.Now),
		session.WithLocalStore(), session.WithPublisher(&feed))
	if err := command.RevokeUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	_, after, err := served.Create(ctx, "u1", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	var ended []string
	for range 2 { // the feed may hand an event over twice
		for _, ev := range feed.events {
			ids, err := served.EndRevokedSessions(ctx, ev)
			if err != nil {
				t.Fatalf("EndRevokedSessions(%+v): %v", ev, err)
			}
			ended = append(ended, ids...)
		}
	}
	if len(ended) != 1 || ended[0] != before.ID {
		t.Errorf("ended %v, want only the session begun before the revocation (%s)", ended, before.ID)
	}
	for _, tc := range []struct {
		rec  session.Record
		live bool
	}{{before, false}, {after, true}, {other, true}} {
		_, err := served.LookupID(ctx, tc.rec.ID)
		if live := err == nil; live != tc.live {
			t.Errorf("session of %s created %s: live = %v (%v), want %v", tc.rec.UserID, tc.rec.CreatedAt, live, err, tc.live)
		}
	}

	shared := session.NewManager(memory.New(), session.WithPublisher(&feed))
	if err := shared.RevokeUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	for _, ev := range feed.events {
		if ev.Kind == revocation.KindUserSessions && ev.Until.IsZero() {
			t.Errorf("event without Until: %+v", ev)
		}
	}
	if n := len(feed.events); n != 3 {
		t.Errorf("events after a local and a shared store's RevokeUser = %d (%+v), want 3: user, user_sessions, user", n, feed.events)
	}
}
