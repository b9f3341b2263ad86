package keys_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// rotateEvery is keys.rotate_every in these tests.
const rotateEvery = 24 * time.Hour

// kidOf is the kid Signing returns.
func kidOf(s *keys.Set) string {
	kid, _, _ := s.Signing()
	return kid
}

// infoOf returns List's entry for kid.
func infoOf(t *testing.T, s *keys.Set, kid string) keys.Info {
	t.Helper()
	for _, in := range s.List() {
		if in.KID == kid {
			return in
		}
	}
	t.Fatalf("List has no key %s: %+v", kid, s.List())
	return keys.Info{}
}

// pendingKIDs returns the kids List shows as pending.
func pendingKIDs(s *keys.Set) []string {
	var out []string
	for _, in := range s.List() {
		if in.State == keys.StatePending {
			out = append(out, in.KID)
		}
	}
	return out
}

// storedPending counts the store's pending keys.
func storedPending(t *testing.T, st keys.Store) int {
	t.Helper()
	n := 0
	for _, k := range storedRows(t, st) {
		if k.Pending {
			n++
		}
	}
	return n
}

func TestPublishLead(t *testing.T) {
	tests := []struct {
		every, want time.Duration
	}{
		{0, 0},
		{24 * time.Hour, keys.PublishAhead},
		{time.Hour, keys.PublishAhead},
		{20 * time.Minute, 10 * time.Minute},
		{10 * time.Minute, 5 * time.Minute},
	}
	for _, tt := range tests {
		if got := keys.PublishLead(tt.every); got != tt.want || (tt.every > 0 && got >= tt.every) {
			t.Errorf("PublishLead(%s) = %s, want %s (and less than rotate_every)", tt.every, got, tt.want)
		}
	}
	if keys.PublishAhead < 10*keys.JWKSMaxAge {
		t.Errorf("PublishAhead %s is shorter than 10 x the JWKS max-age %s", keys.PublishAhead, keys.JWKSMaxAge)
	}
}

// A scheduled rotation publishes the next key in the JWKS PublishLead
// before it signs; the old key signs until the due time, then the new one,
// and the old one keeps verifying, and stays in the JWKS, for access_ttl +
// leeway after that.
func TestScheduledRotationPublishesTheNextKeyFirst(t *testing.T) {
	ctx := context.Background()
	lead := keys.PublishLead(rotateEvery)
	for _, b := range backends {
		for _, alg := range asymmetric {
			t.Run(b.name+"/"+alg, func(t *testing.T) {
				c := newClock()
				st := b.open(t)()
				s := newSet(t, st, alg, c, rightKey)
				old := kidOf(s)
				due := c.Now().Add(rotateEvery)

				c.Advance(rotateEvery - lead - time.Microsecond)
				keys.Tick(ctx, s, rotateEvery)
				if got := jwksKIDs(t, s); !equal(got, []string{old}) {
					t.Fatalf("1µs before the lead: JWKS = %v, want only %s", got, old)
				}

				c.Advance(time.Microsecond)
				keys.Tick(ctx, s, rotateEvery)
				got := jwksKIDs(t, s)
				if len(got) != 2 || got[0] != old {
					t.Fatalf("at the lead: JWKS = %v, want %s and the next key", got, old)
				}
				next := got[1]
				if kidOf(s) != old {
					t.Errorf("at the lead: signing with %s, want still %s", kidOf(s), old)
				}
				if in := infoOf(t, s, next); in.State != keys.StatePending || !in.ActivatedAt.Equal(due) || !in.RetiresAt.IsZero() {
					t.Errorf("next key in List = %+v, want pending, activating at %v", in, due)
				}
				if _, err := s.VerificationKey(next); err != nil {
					t.Errorf("VerificationKey(pending) = %v, want known", err)
				}

				c.Advance(lead - time.Microsecond)
				keys.Tick(ctx, s, rotateEvery)
				if kidOf(s) != old {
					t.Errorf("1µs before the due time: signing with %s, want still %s", kidOf(s), old)
				}

				c.Advance(time.Microsecond)
				keys.Tick(ctx, s, rotateEvery)
				if kidOf(s) != next {
					t.Fatalf("at the due time: signing with %s, want the published %s", kidOf(s), next)
				}
				if in := infoOf(t, s, old); in.State != keys.StateVerifying || !in.RetiresAt.Equal(due.Add(grace)) {
					t.Errorf("old key in List = %+v, want verifying until %v", in, due.Add(grace))
				}
				if in := infoOf(t, s, next); in.State != keys.StateActive || !in.ActivatedAt.Equal(due) {
					t.Errorf("new key in List = %+v, want active since %v", in, due)
				}
				if got := jwksKIDs(t, s); !equal(got, []string{next, old}) {
					t.Errorf("after the due time: JWKS = %v, want [%s %s]", got, next, old)
				}
				if got, want := len(storedRows(t, st)), 2; got != want {
					t.Errorf("stored keys = %d, want %d", got, want)
				}

				c.Advance(grace - time.Microsecond)
				keys.Tick(ctx, s, rotateEvery)
				if _, err := s.VerificationKey(old); err != nil || !slices.Contains(jwksKIDs(t, s), old) {
					t.Errorf("1µs before access_ttl+leeway: old key err = %v, JWKS %v", err, jwksKIDs(t, s))
				}
				c.Advance(time.Microsecond)
				if _, err := s.VerificationKey(old); !errors.Is(err, keys.ErrRetiredKey) || slices.Contains(jwksKIDs(t, s), old) {
					t.Errorf("at access_ttl+leeway: old key err = %v, JWKS %v; want retired and gone", err, jwksKIDs(t, s))
				}
			})
		}
	}
}

// A rotation overdue when the schedule is first looked at (every instance
// was stopped at the due time) is still published PublishLead ahead.
func TestOverdueRotationIsStillPublishedFirst(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := newSet(t, &memStore{}, keys.ES256, c)
	old := kidOf(s)
	c.Advance(3 * rotateEvery)
	keys.Tick(ctx, s, rotateEvery)
	if kidOf(s) != old || len(pendingKIDs(s)) != 1 {
		t.Fatalf("overdue: signing %s, pending %v; want still %s and one pending key", kidOf(s), pendingKIDs(s), old)
	}
	next := pendingKIDs(s)[0]
	if in := infoOf(t, s, next); !in.ActivatedAt.Equal(c.Now().Add(keys.PublishLead(rotateEvery))) {
		t.Errorf("pending key activates at %v, want now + the lead", in.ActivatedAt)
	}
	c.Advance(keys.PublishLead(rotateEvery))
	keys.Tick(ctx, s, rotateEvery)
	if kidOf(s) != next {
		t.Errorf("after the lead: signing %s, want %s", kidOf(s), next)
	}
}

// Several instances over one store announce one next key and activate it
// once, whichever of them ticks first, also all at once; an instance
// restarted in between announces no second key and activates the stored one.
func TestScheduledRotationAcrossInstances(t *testing.T) {
	ctx := context.Background()
	lead := keys.PublishLead(rotateEvery)
	tickAll := func(sets []*keys.Set) {
		var wg sync.WaitGroup
		for _, s := range sets {
			wg.Go(func() { keys.Tick(ctx, s, rotateEvery) })
		}
		wg.Wait()
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			open := b.open(t)
			st := open()
			c := newClock()
			sets := []*keys.Set{newSet(t, st, keys.ES256, c, rightKey), newSet(t, open(), keys.ES256, c, rightKey), newSet(t, open(), keys.ES256, c, rightKey)}
			old := kidOf(sets[0])

			c.Advance(rotateEvery - lead)
			tickAll(sets)
			if got := storedPending(t, st); got != 1 {
				t.Fatalf("after every instance ticked at the lead: %d pending keys stored, want 1", got)
			}
			tickAll(sets) // the losers reload and publish the winner's key
			next := pendingKIDs(sets[0])
			if len(next) != 1 {
				t.Fatalf("pending keys = %v, want one", next)
			}
			for i, s := range sets {
				if got := jwksKIDs(t, s); !equal(got, []string{old, next[0]}) || kidOf(s) != old {
					t.Errorf("instance %d: JWKS %v signing %s; want [%s %s] signing %s", i, got, kidOf(s), old, next[0], old)
				}
			}

			// Instance 2 restarts half-way to the due time.
			c.Advance(lead / 2)
			restarted := newSet(t, open(), keys.ES256, c, rightKey)
			sets[2] = restarted
			tickAll(sets)
			if got := storedPending(t, st); got != 1 || !equal(pendingKIDs(restarted), next) {
				t.Fatalf("after a restart: %d pending keys stored, restarted instance sees %v; want one, %v", got, pendingKIDs(restarted), next)
			}

			c.Advance(lead - lead/2)
			tickAll(sets)
			tickAll(sets)
			for i, s := range sets {
				if kidOf(s) != next[0] {
					t.Errorf("instance %d signs with %s after the due time, want %s", i, kidOf(s), next[0])
				}
			}
			rows := storedRows(t, st)
			if len(rows) != 2 {
				t.Fatalf("stored keys after one scheduled rotation on %d instances = %s, want 2", len(sets), summary(rows))
			}
			for _, k := range rows {
				if k.ID == old && !k.RetiresAt.Equal(c.Now().Add(grace)) {
					t.Errorf("old key retires at %v, want %v: activated exactly once", k.RetiresAt, c.Now().Add(grace))
				}
			}
		})
	}
}

// `gatehouse keys rotate` while a key is pending activates the pending key
// at once (it has been published) and creates no other key — from the
// instance that published it and from one started after (the CLI loads the
// store when it starts). An instance that has not reloaded since (at most
// its reload interval; a "keys" event makes it reload at once) does not
// know the pending key: its new key becomes active, as a manual rotation
// always did, and the pending key is retired with the previous one, so it
// keeps verifying until access_ttl + leeway.
func TestManualRotateWhilePending(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		rotator  func(t *testing.T, announcer, stale *keys.Set, open func() keys.Store, c *clocktest.Clock) *keys.Set
		activate bool
	}{
		{"the publishing instance", func(t *testing.T, a, _ *keys.Set, _ func() keys.Store, _ *clocktest.Clock) *keys.Set { return a }, true},
		{"an instance started after", func(t *testing.T, _, _ *keys.Set, open func() keys.Store, c *clocktest.Clock) *keys.Set {
			return newSet(t, open(), keys.EdDSA, c, rightKey)
		}, true},
		{"an instance that has not reloaded", func(t *testing.T, _, stale *keys.Set, _ func() keys.Store, _ *clocktest.Clock) *keys.Set {
			return stale
		}, false},
	}
	for _, b := range backends {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				open := b.open(t)
				st := open()
				c := newClock()
				a := newSet(t, st, keys.EdDSA, c, rightKey)
				stale := newSet(t, open(), keys.EdDSA, c, rightKey)
				old := kidOf(a)
				c.Advance(rotateEvery - keys.PublishLead(rotateEvery))
				keys.Tick(ctx, a, rotateEvery)
				next := pendingKIDs(a)
				if len(next) != 1 {
					t.Fatalf("pending = %v, want one key", next)
				}
				c.Advance(time.Minute)
				r := tt.rotator(t, a, stale, open, c)
				kid, err := r.Rotate(ctx)
				if err != nil {
					t.Fatalf("Rotate: %v", err)
				}
				if got := kid == next[0]; got != tt.activate || kidOf(r) != kid {
					t.Errorf("Rotate made %s active (signing %s); pending was %s, want it activated: %v", kid, kidOf(r), next[0], tt.activate)
				}
				rows := storedRows(t, st)
				if want := map[bool]int{true: 2, false: 3}[tt.activate]; len(rows) != want || storedPending(t, st) != 0 {
					t.Fatalf("stored keys = %s, want %d, none pending", summary(rows), want)
				}
				if err := a.Reload(ctx); err != nil {
					t.Fatal(err)
				}
				retiring := []string{old}
				if !tt.activate {
					retiring = append(retiring, next[0])
				}
				for _, id := range retiring {
					if in := infoOf(t, a, id); in.State != keys.StateVerifying || !in.RetiresAt.Equal(c.Now().Add(grace)) {
						t.Errorf("key %s = %+v, want verifying until now + grace", id, in)
					}
					if _, err := a.VerificationKey(id); err != nil {
						t.Errorf("VerificationKey(%s) = %v", id, err)
					}
				}
				if in := infoOf(t, a, kid); in.State != keys.StateActive || !in.ActivatedAt.Equal(c.Now()) {
					t.Errorf("activated key = %+v, want active since now", in)
				}
				// The schedule starts again from the manual rotation.
				keys.Tick(ctx, a, rotateEvery)
				if got := pendingKIDs(a); len(got) != 0 {
					t.Errorf("pending right after a manual rotation = %v, want none", got)
				}
			})
		}
	}
}
