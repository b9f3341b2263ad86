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
