package ratelimit_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit/ratelimittest"
)

func TestMemoryStore(t *testing.T) {
	ratelimittest.RunStoreTests(t, func(*testing.T) ratelimit.Store { return ratelimit.NewMemory() })
}

func TestMemoryRefillsWithTheClock(t *testing.T) {
	ctx, m := context.Background(), ratelimit.NewMemory()
	l := ratelimit.Limit{Rate: 10, Burst: 2, Window: time.Second} // one token per 100 ms
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		at      time.Duration
		allowed bool
	}{
		{0, true}, {0, true}, {0, false},
		{50 * time.Millisecond, false},
		{100 * time.Millisecond, true},
		{100 * time.Millisecond, false},
		{time.Hour, true}, {time.Hour, true}, {time.Hour, false}, // refill stops at the burst
	}
	for i, s := range steps {
		r, _ := m.Take(ctx, "k", l, 1, t0.Add(s.at))
		if r.Allowed != s.allowed {
			t.Errorf("step %d at +%v: allowed = %v, want %v", i, s.at, r.Allowed, s.allowed)
		}
	}
}

func TestMemoryForgetsFullBuckets(t *testing.T) {
	ctx, m := context.Background(), ratelimit.NewMemory()
	l := ratelimit.Limit{Rate: 1, Burst: 1, Window: time.Second}
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 5000 { // one take each from many clients, then a sweep much later
		at := t0
		if i >= 4000 {
			at = t0.Add(time.Minute)
		}
		_, _ = m.Take(ctx, ratelimit.Key("ip", string(rune('a'+i%26)), time.Duration(i).String()), l, 1, at)
	}
	if got := m.Len(); got > 1100 {
		t.Errorf("%d buckets kept after a sweep, want only the ones not yet full (~1000)", got)
	}
}

func TestHeaders(t *testing.T) {
	l := ratelimit.Limit{Rate: 100, Burst: 200, Window: time.Minute}
	tests := []struct {
		name                   string
		r                      ratelimit.Result
		limit, policy, retryAt string
	}{
		{"allowed", ratelimit.Result{Allowed: true, Remaining: 150, Reset: 30 * time.Second},
			`"orders";r=150;t=30`, `"orders";q=200;w=120`, ""},
		{"refused", ratelimit.Result{Remaining: 0, RetryAfter: 600 * time.Millisecond, Reset: 2 * time.Minute},
			`"orders";r=0;t=1`, `"orders";q=200;w=120`, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			ratelimit.SetHeaders(h, "orders", l, tt.r)
			for k, want := range map[string]string{"RateLimit": tt.limit, "RateLimit-Policy": tt.policy, "Retry-After": tt.retryAt} {
				if got := h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestKeyEscapesSeparators(t *testing.T) {
	if a, b := ratelimit.Key("r", "sub", "a:b"), ratelimit.Key("r", "sub:a", "b"); a == b {
		t.Errorf("Key collides: %q", a)
	}
}

// TestMemoryCapsBuckets: a client rotating keys (addresses) cannot grow the
// store past its cap. Full, it refuses a new key with a wrapped
// auth.ErrUnavailable (the gateway answers 503, or lets the request through
// on a fail_open route, as when Redis is down) rather than dropping buckets
// that are still counting; the keys it holds stay limited, and buckets that
// have refilled make room again.
func TestMemoryCapsBuckets(t *testing.T) {
	ctx, m := context.Background(), ratelimit.NewMemory(ratelimit.WithMaxBuckets(3))
	l := ratelimit.Limit{Rate: 1, Burst: 2, Window: time.Hour}
	t0 := time.Unix(1_700_000_000, 0)
	for _, k := range []string{"a", "b", "c"} {
		if r, err := m.Take(ctx, k, l, 1, t0); err != nil || !r.Allowed {
			t.Fatalf("take %s = %+v, %v; want allowed", k, r, err)
		}
	}
	if _, err := m.Take(ctx, "d", l, 1, t0); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("new key in a full store: err = %v, want auth.ErrUnavailable", err)
	}
	if got := m.Len(); got != 3 {
		t.Errorf("%d buckets held, want the cap 3", got)
	}
	// Looking (cost 0) stores nothing, so it needs no room.
	if r, err := m.Take(ctx, "d", l, 0, t0); err != nil || !r.Allowed {
		t.Errorf("peek at a new key in a full store = %+v, %v; want allowed", r, err)
	}
	// A held key keeps its count: one token left, then refused.
	if r, err := m.Take(ctx, "a", l, 1, t0); err != nil || !r.Allowed {
		t.Errorf("held key's second take = %+v, %v; want allowed", r, err)
	}
	if r, err := m.Take(ctx, "a", l, 1, t0); err != nil || r.Allowed {
		t.Errorf("held key past its burst = %+v, %v; want refused", r, err)
	}
	// Once b and c have refilled, a new key gets one of their places.
	later := t0.Add(90 * time.Minute) // b, c full again after 1h; a after 2h
	if r, err := m.Take(ctx, "d", l, 1, later); err != nil || !r.Allowed {
		t.Fatalf("new key after buckets refilled = %+v, %v; want allowed", r, err)
	}
	if r, _ := m.Take(ctx, "a", l, 1, later); !r.Allowed || r.Remaining != 0 {
		t.Errorf("held key after 90 min = %+v, want allowed with 0 left (1.5 tokens refilled)", r)
	}
}
