// Package ratelimittest is the conformance suite every ratelimit.Store
// passes: the in-memory one and the Redis one.
package ratelimittest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// RunStoreTests checks a Store's token bucket. Limits refill slowly (one
// token an hour) so that the wall clock, which the Redis store uses, cannot
// change the outcome while the test runs.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) ratelimit.Store) {
	ctx := context.Background()
	slow := ratelimit.Limit{Rate: 1, Burst: 5, Window: time.Hour}
	now := time.Now()

	t.Run("burst then refused with Retry-After", func(t *testing.T) {
		s := newStore(t)
		for i := range slow.Burst {
			r, err := s.Take(ctx, "k", slow, 1, now)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Allowed || r.Remaining != slow.Burst-1-i {
				t.Fatalf("take %d = %+v, want allowed with %d left", i+1, r, slow.Burst-1-i)
			}
		}
		r, err := s.Take(ctx, "k", slow, 1, now)
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed || r.Remaining != 0 {
			t.Fatalf("take past the burst = %+v, want refused", r)
		}
		if r.RetryAfter <= 0 || r.RetryAfter > time.Hour {
			t.Errorf("RetryAfter = %v, want within (0, 1h]", r.RetryAfter)
		}
		if r.Reset < 4*time.Hour || r.Reset > 5*time.Hour {
			t.Errorf("Reset = %v, want about 5h (five tokens at one an hour)", r.Reset)
		}
	})

	t.Run("cost 0 looks without taking", func(t *testing.T) {
		s := newStore(t)
		one := ratelimit.Limit{Rate: 1, Burst: 1, Window: time.Hour}
		for range 3 {
			if r, err := s.Take(ctx, "peek", one, 0, now); err != nil || !r.Allowed {
				t.Fatalf("peek = %+v, %v; want allowed", r, err)
			}
		}
		if r, _ := s.Take(ctx, "peek", one, 1, now); !r.Allowed {
			t.Fatal("the only token was gone after peeking")
		}
		if r, _ := s.Take(ctx, "peek", one, 0, now); r.Allowed {
			t.Fatal("peek at an empty bucket allowed")
		}
	})

	t.Run("buckets are independent", func(t *testing.T) {
		s := newStore(t)
		one := ratelimit.Limit{Rate: 1, Burst: 1, Window: time.Hour}
		for _, k := range []string{"a", "b", ratelimit.Key("r", "sub", "a")} {
			if r, _ := s.Take(ctx, k, one, 1, now); !r.Allowed {
				t.Errorf("first take on %q refused", k)
			}
		}
	})

	t.Run("a refill between writes is kept", func(t *testing.T) {
		// One token per 1000 hours: the 50 ms slept between the first two
		// takes refill about 1.4e-8 of a token, which the bucket must keep
		// across its next write. A store that rounds its tokens when it
		// writes them (six decimals) lost such a fraction at every write, so
		// a bucket taken from more often than that precision never refilled.
		s := newStore(t)
		l := ratelimit.Limit{Rate: 1, Burst: 2, Window: 1000 * time.Hour}
		const slept = 50 * time.Millisecond
		steps := []struct {
			name      string
			cost      int
			allowed   bool
			remaining int
		}{
			{"first take", 1, true, 1},
			{"second take, after the sleep", 1, true, 0},
			{"look", 0, false, 0},
		}
		var last ratelimit.Result
		for i, st := range steps {
			if i == 1 {
				time.Sleep(slept)
			}
			r, err := s.Take(ctx, "frac", l, st.cost, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if r.Allowed != st.allowed || r.Remaining != st.remaining {
				t.Fatalf("%s = %+v, want allowed %v with %d left", st.name, r, st.allowed, st.remaining)
			}
			last = r
		}
		// Two tokens taken, at least the slept time refilled since the first.
		if limit := 2*l.Window - slept + time.Millisecond; last.Reset > limit {
			t.Errorf("Reset = %v, want at most %v: the refill before the second take was lost", last.Reset, limit)
		}
	})

	t.Run("concurrent takes never exceed the burst", func(t *testing.T) {
		s := newStore(t)
		l := ratelimit.Limit{Rate: 1, Burst: 50, Window: time.Hour}
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					r, err := s.Take(ctx, "shared", l, 1, now)
					if err != nil {
						t.Error(err)
						return
					}
					if r.Allowed {
						allowed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if got := allowed.Load(); got != int64(l.Burst) {
			t.Errorf("allowed %d of 100 concurrent takes, want exactly %d", got, l.Burst)
		}
	})
}
