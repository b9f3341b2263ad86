package session_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// users is a fixed user table.
type users map[string]auth.User

func (u users) UserByID(_ context.Context, id string) (auth.User, error) {
	if usr, ok := u[id]; ok {
		return usr, nil
	}
	return auth.User{}, auth.ErrNotFound
}

// cacheEnv is an Authenticator with a local cache over a memory store. The
// tests delete sessions from the store behind the Authenticator's back: a
// session that still authenticates then came from the cache.
type cacheEnv struct {
	clock *clocktest.Clock
	store *memory.Store
	auth  *session.Authenticator
}

func newCacheEnv(t *testing.T, ttl, idle, absolute time.Duration, trust func() bool) cacheEnv {
	t.Helper()
	clock := clocktest.New(time.Now().UTC().Truncate(time.Second))
	store := memory.New(memory.WithClock(clock.Now))
	m := session.NewManager(store, session.WithClock(clock.Now), session.WithTimeouts(idle, absolute),
		session.WithTouchEvery(time.Hour))
	u := users{"u1": {ID: "u1", Username: "alice"}, "u2": {ID: "u2", Username: "bob"}}
	return cacheEnv{clock: clock, store: store, auth: session.NewAuthenticator(m, u, ttl, trust)}
}

// login creates a session for userID, authenticates it once (filling the
// cache) and returns its cookie value and ID.
func (e cacheEnv) login(t *testing.T, userID string) (string, string) {
	t.Helper()
	value, rec, err := e.auth.Manager().Create(t.Context(), userID, session.Meta{Method: "password"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.auth.Authenticate(t.Context(), value); err != nil {
		t.Fatal(err)
	}
	return value, rec.ID
}

// dropFromStore deletes a session from the store without telling the
// Authenticator, as another instance's logout does before its event arrives.
func (e cacheEnv) dropFromStore(t *testing.T, id string) {
	t.Helper()
	if err := e.store.DeleteSession(t.Context(), id); err != nil {
		t.Fatal(err)
	}
}

func (e cacheEnv) cached(t *testing.T, value string) bool {
	t.Helper()
	_, _, err := e.auth.Authenticate(t.Context(), value)
	if err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatal(err)
	}
	return err == nil
}

// A cached session lives until the earliest of cache_ttl, the idle expiry
// and the absolute expiry, never longer.
func TestCacheEntryLifetime(t *testing.T) {
	tests := []struct {
		name                string
		ttl, idle, absolute time.Duration
		advance             time.Duration
		cached              bool
	}{
		{"WithinCacheTTL", 5 * time.Second, time.Hour, 2 * time.Hour, 5*time.Second - time.Millisecond, true},
		{"AtCacheTTL", 5 * time.Second, time.Hour, 2 * time.Hour, 5 * time.Second, false},
		{"AtIdleExpiry", time.Hour, time.Minute, 2 * time.Hour, time.Minute, false},
		{"AtAbsoluteExpiry", time.Hour, 2 * time.Hour, time.Minute, time.Minute, false},
		{"CacheOff", 0, time.Hour, 2 * time.Hour, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCacheEnv(t, tt.ttl, tt.idle, tt.absolute, nil)
			value, id := e.login(t, "u1")
			e.dropFromStore(t, id)
			e.clock.Advance(tt.advance)
			if got := e.cached(t, value); got != tt.cached {
				t.Errorf("after %s: authenticated = %v, want %v", tt.advance, got, tt.cached)
			}
		})
	}
}

// While the revocation feed is out of sync the cache is bypassed: the store
// decides, so a session deleted elsewhere is refused at once.
func TestCacheBypassedWhileUntrusted(t *testing.T) {
	trusted := true
	e := newCacheEnv(t, time.Minute, time.Hour, 2*time.Hour, func() bool { return trusted })
	value, id := e.login(t, "u1")
	e.dropFromStore(t, id)
	trusted = false
	if e.cached(t, value) {
		t.Fatal("deleted session authenticated from the cache while the feed was untrusted")
	}
}

func TestForgetDropsWhatTheEventNames(t *testing.T) {
	tests := []struct {
		name, kind string
		key        func(ids []string) string
		left       []bool // per session: u1, u1, u2
	}{
		{"Session", revocation.KindSession, func(ids []string) string { return ids[1] }, []bool{true, false, true}},
		{"User", revocation.KindUser, func([]string) string { return "u1" }, []bool{false, false, true}},
		{"OtherUser", revocation.KindUser, func([]string) string { return "u9" }, []bool{true, true, true}},
		{"TokenKind", revocation.KindSID, func(ids []string) string { return ids[0] }, []bool{true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCacheEnv(t, time.Minute, time.Hour, 2*time.Hour, nil)
			var values, ids []string
			for _, u := range []string{"u1", "u1", "u2"} {
				v, id := e.login(t, u)
				values, ids = append(values, v), append(ids, id)
			}
			for _, id := range ids {
				e.dropFromStore(t, id)
			}
			e.auth.Forget(revocation.Event{Kind: tt.kind, Key: tt.key(ids)})
			for i, v := range values {
				if got := e.cached(t, v); got != tt.left[i] {
					t.Errorf("session %d (%s) still cached = %v, want %v", i, ids[i], got, tt.left[i])
				}
			}
		})
	}
}

// Lookups and revocations at once, for the race detector; a session revoked
// after the last lookup stays refused.
func TestCacheConcurrentUse(t *testing.T) {
	e := newCacheEnv(t, time.Minute, time.Hour, 2*time.Hour, nil)
	values := make([]string, 8)
	ids := make([]string, 8)
	for i := range values {
		values[i], ids[i] = e.login(t, "u"+strconv.Itoa(1+i%2))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				_, _, _ = e.auth.Authenticate(context.Background(), values[(w+i)%len(values)])
				if i%40 == 0 {
					e.auth.Forget(revocation.Event{Kind: revocation.KindUser, Key: "u" + strconv.Itoa(1+w%2)})
				}
			}
		})
	}
	wg.Wait()
	e.dropFromStore(t, ids[0])
	e.auth.Forget(revocation.Event{Kind: revocation.KindSession, Key: ids[0]})
	if e.cached(t, values[0]) {
		t.Fatal("revoked session still authenticates")
	}
}

// pausedUsers is a user table whose next lookup, once paused, waits until
// it is resumed: a revocation can then land between the Authenticator's
// store read and its cache fill.
type pausedUsers struct {
	users
	paused, resume chan struct{}
}

func (u *pausedUsers) UserByID(ctx context.Context, id string) (auth.User, error) {
	if u.paused != nil {
		close(u.paused)
		u.paused = nil
		<-u.resume
	}
	return u.users.UserByID(ctx, id)
}

// A logout or user revocation that lands while a cache miss is being
// answered must not be undone by that miss filling the cache: the session
// would then authenticate for up to cache_ttl after it ended.
func TestRevocationDuringALookupIsNotCached(t *testing.T) {
	tests := []struct {
		name string
		ev   func(sessionID string) revocation.Event
	}{
		{"Session", func(id string) revocation.Event { return revocation.Event{Kind: revocation.KindSession, Key: id} }},
		{"User", func(string) revocation.Event { return revocation.Event{Kind: revocation.KindUser, Key: "u1"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := memory.New()
			m := session.NewManager(store)
			u := &pausedUsers{users: users{"u1": {ID: "u1", Username: "alice"}}}
			a := session.NewAuthenticator(m, u, time.Minute, nil)
			value, rec, err := m.Create(t.Context(), "u1", session.Meta{Method: "password"})
			if err != nil {
				t.Fatal(err)
			}
			u.paused, u.resume = make(chan struct{}), make(chan struct{})
			paused := u.paused
			done := make(chan error, 1)
			go func() { _, _, err := a.Authenticate(t.Context(), value); done <- err }()
			<-paused // the request has read the live session from the store
			// The revocation, as the watcher applies it: the store first, then the cache.
			if err := store.DeleteSession(t.Context(), rec.ID); err != nil {
				t.Fatal(err)
			}
			a.Forget(tt.ev(rec.ID))
			close(u.resume)
			if err := <-done; err != nil {
				t.Fatalf("the request that began before the revocation: %v", err)
			}
			if _, _, err := a.Authenticate(t.Context(), value); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("the next request after the revocation: err = %v, want ErrUnauthenticated", err)
			}
		})
	}
}

// Requests answered from the cache are activity too: a user active every
// few minutes stays logged in however long cache_ttl is. A cached session
// used to live until its idle expiry, no request reached the store to
// record activity meanwhile, and with cache_ttl close to or above
// idle_timeout the first request after that found the session idle and
// logged an active user out.
func TestCachedRequestsKeepTheSessionAlive(t *testing.T) {
	const idle = 30 * time.Minute
	tests := []struct {
		name string
		ttl  time.Duration
	}{
		{"ShortCache", 5 * time.Second},
		{"CacheJustBelowIdleTimeout", idle - time.Minute},
		{"CacheLongerThanIdleTimeout", 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktest.New(time.Now().UTC().Truncate(time.Second))
			store := memory.New(memory.WithClock(clock.Now))
			m := session.NewManager(store, session.WithClock(clock.Now), session.WithTimeouts(idle, 24*time.Hour))
			a := session.NewAuthenticator(m, users{"u1": {ID: "u1", Username: "alice"}}, tt.ttl, nil)
			value, _, err := m.Create(t.Context(), "u1", session.Meta{Method: "password"})
			if err != nil {
				t.Fatal(err)
			}
			// A request every 10 minutes for two hours.
			for elapsed := time.Duration(0); elapsed <= 2*time.Hour; elapsed += 10 * time.Minute {
				if _, _, err := a.Authenticate(t.Context(), value); err != nil {
					t.Fatalf("request %v after login, the previous one 10m before: %v", elapsed, err)
				}
				clock.Advance(10 * time.Minute)
			}
		})
	}
}
