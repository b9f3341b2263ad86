package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// sweepEvery is how many Takes pass between sweeps of full buckets.
const sweepEvery = 4096

// DefaultMaxBuckets bounds a Memory's buckets unless WithMaxBuckets says
// otherwise: as many as the in-memory login throttle keeps keys.
const DefaultMaxBuckets = 500_000

// Memory is a Store in this process's memory. It is safe for concurrent use.
// Buckets that have refilled completely are dropped (a full bucket and a
// missing one are the same), so memory follows the number of recently
// limited keys, not of all keys ever seen; and it holds at most its cap
// (DefaultMaxBuckets), however many keys a client rotates through.
type Memory struct {
	mu      sync.Mutex
	buckets map[string]*memBucket
	takes   int
	max     int
	// refills is no later than the earliest time a held bucket is full
	// again: before it, sweeping a full store would free nothing.
	refills time.Time
}

type memBucket struct {
	tokens float64
	ts     time.Time
	full   time.Time // when the bucket will be full again
}

var _ Store = (*Memory)(nil)

// MemoryOption configures a Memory.
type MemoryOption func(*Memory)

// WithMaxBuckets bounds the number of buckets (default DefaultMaxBuckets;
// n < 1 keeps the default). When the store is full and no bucket has
// refilled, Take of a new key fails with a wrapped auth.ErrUnavailable,
// as a rate limit store that does not answer: the gateway then answers 503,
// or lets the request through on a fail_open route. Evicting a bucket that
// is still counting would hand its client a fresh burst.
func WithMaxBuckets(n int) MemoryOption {
	return func(m *Memory) {
		if n >= 1 {
			m.max = n
		}
	}
}

// NewMemory returns an empty in-memory Store.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{buckets: map[string]*memBucket{}, max: DefaultMaxBuckets}
	for _, opt := range opts {
		opt(m)
	}
	return m
}

// Take implements Store. It fails only when the store is full (see
// WithMaxBuckets) and key is new and would be stored (cost > 0).
func (m *Memory) Take(_ context.Context, key string, l Limit, cost int, now time.Time) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.takes++; m.takes%sweepEvery == 0 {
		m.sweep(now)
	}
	b, ok := m.buckets[key]
	if !ok {
		if cost > 0 && len(m.buckets) >= m.max {
			if !now.Before(m.refills) {
				m.sweep(now)
			}
			if len(m.buckets) >= m.max {
				return Result{}, fmt.Errorf("memory rate limit store: full (limit %d buckets): %w", m.max, auth.ErrUnavailable)
			}
		}
		b = &memBucket{tokens: float64(l.Burst), ts: now}
	}
	tokens, r := bucket(b.tokens, b.ts, now, l, cost)
	if cost > 0 {
		if now.After(b.ts) {
			b.ts = now
		}
		b.tokens, b.full = tokens, now.Add(r.Reset)
		m.buckets[key] = b
		if b.full.Before(m.refills) {
			m.refills = b.full
		}
	}
	return r, nil
}

// Len is the number of buckets held (tests, metrics).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

// sweep drops the buckets that are full at now and notes when the next of
// the others will be.
func (m *Memory) sweep(now time.Time) {
	m.refills = time.Time{}
	for k, b := range m.buckets {
		switch {
		case !now.Before(b.full):
			delete(m.buckets, k)
		case m.refills.IsZero() || b.full.Before(m.refills):
			m.refills = b.full
		}
	}
}
