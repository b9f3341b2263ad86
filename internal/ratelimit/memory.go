package ratelimit

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is how many Takes pass between sweeps of full buckets.
const sweepEvery = 4096

// Memory is a Store in this process's memory. It is safe for concurrent use.
// Buckets that have refilled completely are dropped (a full bucket and a
// missing one are the same), so memory follows the number of recently
// limited keys, not of all keys ever seen.
type Memory struct {
	mu      sync.Mutex
	buckets map[string]*memBucket
	takes   int
}

type memBucket struct {
	tokens float64
	ts     time.Time
	full   time.Time // when the bucket will be full again
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory Store.
func NewMemory() *Memory { return &Memory{buckets: map[string]*memBucket{}} }

// Take implements Store; it never fails.
func (m *Memory) Take(_ context.Context, key string, l Limit, cost int, now time.Time) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.takes++; m.takes%sweepEvery == 0 {
		m.sweep(now)
	}
	b, ok := m.buckets[key]
	if !ok {
		b = &memBucket{tokens: float64(l.Burst), ts: now}
	}
	tokens, r := bucket(b.tokens, b.ts, now, l, cost)
	if cost > 0 {
		if now.After(b.ts) {
			b.ts = now
		}
		b.tokens, b.full = tokens, now.Add(r.Reset)
		m.buckets[key] = b
	}
	return r, nil
}

// Len is the number of buckets held (tests, metrics).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

func (m *Memory) sweep(now time.Time) {
	for k, b := range m.buckets {
		if !now.Before(b.full) {
			delete(m.buckets, k)
		}
	}
}
