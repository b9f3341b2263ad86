package memory_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/peers"
	"github.com/gatehouse-auth/gatehouse/internal/peers/peerstest"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/revocation/revocationtest"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/session/sessiontest"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
	"github.com/gatehouse-auth/gatehouse/internal/throttle"
	"github.com/gatehouse-auth/gatehouse/internal/throttle/throttletest"
)

func TestSessionStore(t *testing.T) {
	sessiontest.RunStoreTests(t, func(t *testing.T) session.Store { return memory.New() })
}

func TestRevocationStore(t *testing.T) {
	revocationtest.RunStoreTests(t, func(t *testing.T) revocation.Store { return memory.New() })
}

func TestThrottleStore(t *testing.T) {
	throttletest.RunStoreTests(t, func(t *testing.T) throttle.Store { return memory.New() })
}

func TestPeerStore(t *testing.T) {
	peerstest.RunStoreTests(t, func(t *testing.T) peers.Store { return memory.New() })
}

func record(id string, now time.Time) session.Record {
	return session.Record{
		ID: id, UserID: "alice", CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour),
	}
}

// TestBoundsFailClosed: a full store refuses new records with
// auth.ErrUnavailable, and frees room for them once old records expire.
func TestBoundsFailClosed(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := memory.New(memory.WithClock(clock), memory.WithMaxSessions(2),
		memory.WithMaxRevocations(2), memory.WithMaxThrottleKeys(2))

	tests := []struct {
		name string
		add  func(i int) error
	}{
		{"Sessions", func(i int) error { return s.CreateSession(ctx, record(string(rune('a'+i)), now)) }},
		{"Revocations", func(i int) error {
			return s.PublishRevocation(ctx, revocation.Event{Kind: revocation.KindJTI, Key: string(rune('a' + i)), Until: now.Add(time.Minute)})
		}},
		{"ThrottleKeys", func(i int) error {
			_, err := s.AddFailure(ctx, string(rune('a'+i)), now, time.Minute)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 2 {
				if err := tt.add(i); err != nil {
					t.Fatalf("add %d: %v", i, err)
				}
			}
			if err := tt.add(2); !errors.Is(err, auth.ErrUnavailable) {
				t.Fatalf("add beyond limit error = %v, want auth.ErrUnavailable", err)
			}
		})
	}

	now = now.Add(2 * time.Hour) // everything above has expired
	for _, tt := range tests {
		if err := tt.add(3); err != nil {
			t.Errorf("%s: add after expiry: %v", tt.name, err)
		}
	}
}

// TestSelfPurge: expired records disappear on later writes without anyone
// calling the Delete* methods.
func TestSelfPurge(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := memory.New(memory.WithClock(func() time.Time { return now }), memory.WithPurgeInterval(time.Minute))
	old := record("old", now)
	if err := s.CreateSession(ctx, old); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	now = now.Add(2 * time.Hour)
	if err := s.CreateSession(ctx, record("new", now)); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if _, err := s.Session(ctx, "old"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("Session(expired) after a later write error = %v, want auth.ErrNotFound", err)
	}
}

// TestRevocationsWaitWakesOnPublish: a follower blocked in Revocations gets
// an event published meanwhile instead of waiting out its wait.
func TestRevocationsWaitWakesOnPublish(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	now := time.Now()
	_, cursor, err := s.Revocations(ctx, "", now, 0)
	if err != nil {
		t.Fatalf("Revocations: %v", err)
	}
	type result struct {
		evs []revocation.Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		evs, _, err := s.Revocations(ctx, cursor, now, 30*time.Second)
		done <- result{evs, err}
	}()
	ev := revocation.Event{Kind: revocation.KindSession, Key: "s1", Until: now.Add(time.Minute)}
	if err := s.PublishRevocation(ctx, ev); err != nil {
		t.Fatalf("PublishRevocation: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("waiting Revocations: %v", r.err)
	}
	if got, want := len(r.evs), 1; got != want || r.evs[0].Key != ev.Key {
		t.Fatalf("waiting Revocations returned %v, want [%v]", r.evs, ev)
	}
}

// TestFullThrottleStoreSweepsOnlyWhenAKeyCanGo: a store full of throttle
// keys refuses a flood of new keys without sweeping all of them per
// request (a sweep at the default cap is 500,000 keys); it sweeps again
// once the earliest key goes idle, including one made earlier by
// RemoveFailure, and then admits a new key.
func TestFullThrottleStoreSweepsOnlyWhenAKeyCanGo(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(50 * time.Second)
	s := memory.New(memory.WithClock(func() time.Time { return now }), memory.WithMaxThrottleKeys(3),
		memory.WithPurgeInterval(time.Hour))
	add := func(key string, at time.Time) error {
		_, err := s.AddFailure(ctx, key, at, time.Minute)
		return err
	}
	for _, f := range []struct {
		key string
		at  time.Time
	}{{"a", t0}, {"a", now}, {"b", now}, {"c", now}} {
		if err := add(f.key, f.at); err != nil {
			t.Fatalf("AddFailure(%s): %v", f.key, err)
		}
	}
	if err := add("first-over", now); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("AddFailure beyond the cap = %v, want auth.ErrUnavailable", err)
	}
	sweeps := s.FailureSweeps()
	for i := range 100 {
		if err := add("flood-"+strconv.Itoa(i), now); !errors.Is(err, auth.ErrUnavailable) {
			t.Fatalf("AddFailure beyond the cap = %v, want auth.ErrUnavailable", err)
		}
	}
	if got := s.FailureSweeps(); got != sweeps {
		t.Errorf("a flood of 100 new keys while no key can go swept %d times, want 0", got-sweeps)
	}

	// Taking back a's latest failure leaves a idle at t0+1m, not now+1m.
	if err := s.RemoveFailure(ctx, "a", now); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(time.Minute)
	if err := add("after-a-idles", now); err != nil {
		t.Fatalf("AddFailure once a key is idle: %v", err)
	}
	if got := s.FailureSweeps(); got != sweeps+1 {
		t.Errorf("sweeps once a key could go = %d, want %d", got, sweeps+1)
	}
}

// TestFullStoreSweepsOnlyWhenARecordCanGo: a store full of sessions or of
// revocation events refuses a flood of new ones without sweeping every
// record per request; it sweeps again once the earliest record expires
// (a session touched to expire earlier included) and then admits one.
func TestFullStoreSweepsOnlyWhenARecordCanGo(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	late := t0.Add(time.Hour)
	tests := []struct {
		name   string
		add    func(s *memory.Store, key string, until time.Time) error
		sweeps func(s *memory.Store) int
		// shorten makes key expire at until once the store is full.
		shorten func(s *memory.Store, key string, until time.Time) error
	}{
		{
			name: "Sessions",
			add: func(s *memory.Store, key string, until time.Time) error {
				r := record(key, t0)
				r.IdleExpiresAt, r.ExpiresAt = until, late
				return s.CreateSession(ctx, r)
			},
			sweeps: (*memory.Store).SessionSweeps,
			shorten: func(s *memory.Store, key string, until time.Time) error {
				return s.TouchSession(ctx, key, t0, until)
			},
		},
		{
			name: "Revocations",
			add: func(s *memory.Store, key string, until time.Time) error {
				return s.PublishRevocation(ctx, revocation.Event{Kind: revocation.KindJTI, Key: key, Until: until})
			},
			sweeps: (*memory.Store).RevocationSweeps,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(50 * time.Second)
			s := memory.New(memory.WithClock(func() time.Time { return now }), memory.WithMaxSessions(3),
				memory.WithMaxRevocations(3), memory.WithPurgeInterval(2*time.Hour))
			soon := t0.Add(time.Minute)
			firstUntil := soon
			if tt.shorten != nil {
				firstUntil = late
			}
			for i, until := range []time.Time{firstUntil, late, late} {
				if err := tt.add(s, "r"+strconv.Itoa(i), until); err != nil {
					t.Fatalf("add %d: %v", i, err)
				}
			}
			if err := tt.add(s, "first-over", late); !errors.Is(err, auth.ErrUnavailable) {
				t.Fatalf("add beyond the cap = %v, want auth.ErrUnavailable", err)
			}
			sweeps := tt.sweeps(s)
			for i := range 100 {
				if err := tt.add(s, "flood-"+strconv.Itoa(i), late); !errors.Is(err, auth.ErrUnavailable) {
					t.Fatalf("add beyond the cap = %v, want auth.ErrUnavailable", err)
				}
			}
			if got := tt.sweeps(s); got != sweeps {
				t.Errorf("a flood of 100 adds while nothing can go swept %d times, want 0", got-sweeps)
			}
			if tt.shorten != nil {
				if err := tt.shorten(s, "r0", soon); err != nil {
					t.Fatal(err)
				}
			}
			now = soon.Add(time.Second)
			if err := tt.add(s, "after-expiry", late); err != nil {
				t.Fatalf("add once a record has expired: %v", err)
			}
			if got := tt.sweeps(s); got != sweeps+1 {
				t.Errorf("sweeps once a record could go = %d, want %d", got, sweeps+1)
			}
		})
	}
}
