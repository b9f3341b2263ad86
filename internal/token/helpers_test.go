package token_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

const (
	testIssuer = "https://auth.example.test"
	accessTTL  = 10 * time.Minute
	leeway     = 30 * time.Second
	hmacSecret = "an-hmac-secret-of-at-least-32-bytes!!"
)

var algorithms = []string{keys.HS256, keys.RS256, keys.ES256, keys.EdDSA}

func newClock() *clocktest.Clock { return clocktest.New(time.Now().UTC().Truncate(time.Second)) }

// env is one gatehouse instance's token machinery over real stores: SQLite
// (or another main store: newEnvOn) for keys, users and refresh tokens; a
// revocation.Watcher over the in-memory revocation store as deny-list and
// publisher.
type env struct {
	clock    *clocktest.Clock
	db       mainStore
	keys     *keys.Set
	issuer   *token.Issuer
	verifier *token.Verifier
	grants   *token.Grants
	deny     *flaky
	refresh  token.RefreshStore
	users    *users
	audit    *auditLog
}

// mainStore is what env keeps in its main store (SQLite or PostgreSQL).
type mainStore interface {
	user.Store
	token.RefreshStore
	keys.Store
}

func newEnv(t testing.TB, alg string, opts ...token.Option) *env {
	t.Helper()
	return newEnvOn(t, alg, sqlitetest.New(t), opts...)
}

// newEnvOn is newEnv over db, a migrated main store of its own.
func newEnvOn(t testing.TB, alg string, db mainStore, opts ...token.Option) *env {
	t.Helper()
	c := newClock()
	e := &env{clock: c, audit: &auditLog{}}
	e.db = db
	e.users = newUsers(t, e.db, c)
	e.refresh = e.db
	e.keys = newKeySet(t, alg, c, e.db)
	w := revocation.NewWatcher(memory.New(memory.WithClock(c.Now)), revocation.WithClock(c.Now),
		revocation.WithPollInterval(10*time.Millisecond))
	e.deny = &flaky{w: w}
	base := []token.Option{token.WithIssuer(testIssuer), token.WithAudience([]string{"gatehouse"}),
		token.WithTTL(accessTTL), token.WithLeeway(leeway), token.WithClock(c.Now), token.WithCacheTrust(w.Fresh),
		token.WithAudit(audit.New(e.audit, discardLog(), c.Now))}
	opts = append(base, opts...)
	e.issuer = token.NewIssuer(e.keys, opts...)
	e.verifier = token.NewVerifier(e.keys, e.deny, opts...)
	e.grants = token.NewGrants(e.issuer, e.refresh, e.users.store, e.deny, opts...)
	w.OnEvent(func(ev revocation.Event) { e.verifier.Forget(ev.Kind, ev.Key) })
	runWatcher(t, w)
	return e
}

func runWatcher(t testing.TB, w *revocation.Watcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func newKeySet(t testing.TB, alg string, c *clocktest.Clock, store keys.Store) *keys.Set {
	t.Helper()
	ks, err := keys.NewSet(context.Background(), store, alg, keys.WithClock(c.Now),
		keys.WithVerifyGrace(accessTTL+leeway), keys.WithHMACSecret([]byte(hmacSecret)))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func (e *env) issue(t testing.TB) (string, token.Claims) {
	t.Helper()
	raw, c, err := e.issuer.Issue(token.Subject{UserID: "u-alice", Username: "alice", Roles: []string{"user"},
		Scope: "openid", ClientID: "cli", SessionID: "fam-1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return raw, c
}

// flaky passes deny-list lookups and publications to the real watcher,
// or fails them all with fail, to play a revocation store that went away.
type flaky struct {
	w    *revocation.Watcher
	mu   sync.Mutex
	fail error
}

func (f *flaky) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail
}

func (f *flaky) Publish(ctx context.Context, ev revocation.Event) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.w.Publish(ctx, ev)
}

func (f *flaky) Revoked(ctx context.Context, kind, key string) (bool, error) {
	if err := f.err(); err != nil {
		return false, err
	}
	return f.w.Revoked(ctx, kind, key)
}

func (f *flaky) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

// users manages test users in the real user store.
type users struct {
	store user.Store
	now   func() time.Time
}

func newUsers(t testing.TB, store user.Store, c *clocktest.Clock) *users {
	t.Helper()
	u := &users{store: store, now: c.Now}
	u.add(t, "u-alice", "alice")
	return u
}

func (u *users) add(t testing.TB, id, name string) {
	t.Helper()
	now := u.now()
	if err := u.store.CreateUser(context.Background(), auth.User{ID: id, Username: name, Roles: []string{"user"},
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
}

func (u *users) update(t testing.TB, id string, f func(*auth.User)) {
	t.Helper()
	usr := u.get(t, id)
	prev := usr.UpdatedAt
	f(&usr)
	if err := u.store.UpdateUser(context.Background(), usr, prev); err != nil {
		t.Fatal(err)
	}
}

func (u *users) get(t testing.TB, id string) auth.User {
	t.Helper()
	usr, err := u.store.UserByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return usr
}

// auditLog is an in-test audit.Store.
type auditLog struct {
	mu     sync.Mutex
	events []audit.Event
}

func (a *auditLog) AppendAudit(_ context.Context, e audit.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return nil
}

func (a *auditLog) ListAudit(context.Context, audit.Filter) ([]audit.Event, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Event(nil), a.events...), nil
}

// PurgeAudit deletes the events older than before, as audit.Store says.
func (a *auditLog) PurgeAudit(_ context.Context, before time.Time) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	kept := a.events[:0]
	for _, e := range a.events {
		if !e.Time.Before(before) {
			kept = append(kept, e)
		}
	}
	n := len(a.events) - len(kept)
	a.events = kept
	return n, nil
}

func (a *auditLog) count(typ string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, e := range a.events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func revocationEvent(kind, key string, until time.Time) revocation.Event {
	return revocation.Event{Kind: kind, Key: key, Until: until}
}
