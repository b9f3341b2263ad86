package mfa_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// mainStore is what the skew tests keep in the main store.
type mainStore interface {
	mfa.Store
	mfa.StepStore
	CreateUser(ctx context.Context, u auth.User) error
}

// mainStores are SQLite (the fixture's) and PostgreSQL: which records a
// purge removes is the store's query.
var mainStores = []struct {
	name string
	open func(t *testing.T) mainStore
}{
	{"sqlite", func(t *testing.T) mainStore { return newFixture(t).store }},
	{"postgres", func(t *testing.T) mainStore {
		s := pgtest.New(t)
		if err := s.CreateUser(t.Context(), auth.User{ID: "u1", Username: "alice", CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

// TestEndedPendingStaysEndedOnASlowerClock: instances' clocks differ by a
// few seconds. A pending login ended on one instance stays ended until the
// cookie expires on every instance, also after an instance whose clock is
// ahead purged spent records on the way (ending a pending login of its
// own): an instance whose clock is behind still opens the cookie for the
// skew, and must not let a copy of it earn a second session then.
func TestEndedPendingStaysEndedOnASlowerClock(t *testing.T) {
	for _, ms := range mainStores {
		for _, skew := range []time.Duration{time.Second, 5 * time.Second, 30 * time.Second} {
			t.Run(ms.name+"/"+skew.String(), func(t *testing.T) {
				testEndedPendingOnSlowerClock(t, ms.open(t), skew)
			})
		}
	}
}

func testEndedPendingOnSlowerClock(t *testing.T, store mainStore, skew time.Duration) {
	f := fixture{clock: clocktest.New(time.Date(2030, 1, 1, 12, 0, 10, 0, time.UTC)), user: auth.User{ID: "u1", Username: "alice"}}
	ahead := func() time.Time { return f.clock.Now().Add(skew) }
	key := bytes.Repeat([]byte{7}, 32)
	sl, err := seal.New(mfa.SealKey("an encryption key of at least 32 bytes!"), nil)
	if err != nil {
		t.Fatal(err)
	}
	slow := mfa.NewService(store, store, mfa.WithSealer(sl), mfa.WithClock(f.clock.Now))
	fast := mfa.NewService(store, store, mfa.WithSealer(sl), mfa.WithClock(ahead))
	slowCodec, err := mfa.NewPendingCodec(key, false, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	fastCodec, err := mfa.NewPendingCodec(key, false, ahead)
	if err != nil {
		t.Fatal(err)
	}
	set := func(c *mfa.PendingCodec) string {
		rec := httptest.NewRecorder()
		if err := c.Set(rec, f.user, []string{"pwd"}, "/", false); err != nil {
			t.Fatal(err)
		}
		return rec.Result().Cookies()[0].Value
	}

	value := set(slowCodec)
	if err := slow.EndPending(t.Context(), pendingOf(t, slowCodec, value)); err != nil {
		t.Fatalf("first second step: %v", err)
	}
	// 1s before the cookie expires on the slow clock; the fast one
	// is past it and ends a pending login of its own.
	f.clock.Advance(mfa.PendingTTL - time.Second)
	if err := fast.EndPending(t.Context(), pendingOf(t, fastCodec, set(fastCodec))); err != nil {
		t.Fatalf("another pending login on the fast instance: %v", err)
	}
	if err := slow.EndPending(t.Context(), pendingOf(t, slowCodec, value)); !errors.Is(err, mfa.ErrPendingEnded) {
		t.Fatalf("the ended pending login again, on the slow instance 1s before it expires there: %v, want ErrPendingEnded", err)
	}
}
