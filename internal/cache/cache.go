package cache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Tag names a group of entries that one revocation drops together, such as
// {"sid", "abc"} for every cached token of session abc.
type Tag struct{ Kind, Key string }

// Cache maps keys to values until each value's deadline, holding at most the
// maximum number of entries it was created with (otter's W-TinyLFU picks what
// to evict). It is safe for concurrent use. Reads take no lock of Cache's
// own; only cache misses (Put) and revocations touch the locks.
type Cache[K comparable, V any] struct {
	c   *otter.Cache[K, *entry[V]]
	now func() time.Time

	// write serialises Put with Delete, Invalidate and Clear, so that a
	// revocation either runs before a Put (which then sees gen changed) or
	// finds the value stored: never in between.
	write sync.Mutex
	// gen counts revocations. A value is checked against the store before
	// it is put, and a revocation can land between the check and the Put;
	// the revocation then finds nothing to drop, and without gen the Put
	// would store a value it had just revoked, served until its deadline.
	gen atomic.Uint64
	// mu guards idx and is never held while calling otter, because otter
	// calls unindex under its own bucket locks.
	mu  sync.Mutex
	idx map[Tag]*tagged[K, V]
}

// entry is one cached value. The index refers to entries by pointer, so a
// deletion event for a value that was since replaced under the same key
// cannot unindex its successor.
type entry[V any] struct {
	v        V
	deadline time.Time
	tags     []Tag
}

// New returns a Cache of at most max entries (max must be positive) whose
// deadlines are measured with now (nil: time.Now).
func New[K comparable, V any](max int, now func() time.Time) *Cache[K, V] {
	if now == nil {
		now = time.Now
	}
	c := &Cache[K, V]{now: now, idx: make(map[Tag]*tagged[K, V])}
	c.c = otter.Must(&otter.Options[K, *entry[V]]{
		MaximumSize:     max,
		InitialCapacity: min(max, 1024),
		// Writing, not Creating: a Put over a live entry stores the new
		// value until its own deadline (Creating would keep the replaced
		// entry's). Reads leave the expiry alone either way.
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[K, *entry[V]]) time.Duration {
			return e.Value.deadline.Sub(now())
		}),
		// Synchronous, so that the index never outlives an entry and no
		// goroutine is started per deletion (InvalidateAll would start one
		// per entry).
		OnAtomicDeletion: c.unindex,
		Clock:            clock(now),
		// Maintenance (replaying the reads and writes otter buffers into
		// its eviction policy) runs on the goroutine whose read or write
		// filled a buffer. otter's default starts a goroutine for each
		// pass (one per 16 to 60 reads in the gateway's benchmarks), and
		// the thread woken to run it then spins looking for more work:
		// ≈ 0.8 µs of CPU per cached forward-auth decision (issue 15,
		// docs/benchmarks.md).
		// Safe here: unindex, the one callback, takes only mu, which is
		// never held while calling otter; there is no loader, refresh or
		// OnDeletion.
		Executor: runHere,
	})
	return c
}

// Get returns the value stored under k if its deadline has not passed.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	e, ok := c.c.GetIfPresent(k)
	if !ok {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Generation returns the number of revocations (Delete, Invalidate, Clear)
// so far. Read it before checking what Put is to store.
func (c *Cache[K, V]) Generation() uint64 { return c.gen.Load() }

// Put stores v under k until deadline, findable by each of tags, unless a
// revocation ran since gen was read (Generation, before v was checked): v
// may then be what it revoked, and the next Get checks afresh. A value
// whose deadline has already passed is not stored either.
func (c *Cache[K, V]) Put(gen uint64, k K, v V, deadline time.Time, tags ...Tag) {
	if !deadline.After(c.now()) {
		return
	}
	e := &entry[V]{v: v, deadline: deadline, tags: tags}
	c.write.Lock()
	defer c.write.Unlock()
	if c.gen.Load() != gen {
		return
	}
	// Indexed before it is stored: an eviction right after Set then finds
	// it and unindexes it; the other order could leave it indexed forever.
	c.mu.Lock()
	for _, t := range tags {
		s := c.idx[t]
		if s == nil {
			s = new(tagged[K, V])
			c.idx[t] = s
		}
		s.add(k, e)
	}
	c.mu.Unlock()
	c.c.Set(k, e)
}

// Delete drops the entry stored under k, if any.
func (c *Cache[K, V]) Delete(k K) {
	c.write.Lock()
	defer c.write.Unlock()
	c.gen.Add(1)
	c.c.Invalidate(k)
}

// Invalidate drops every entry tagged t and returns how many it found. Its
// cost is proportional to that number, not to the size of the cache.
func (c *Cache[K, V]) Invalidate(t Tag) int {
	c.write.Lock()
	defer c.write.Unlock()
	c.gen.Add(1)
	c.mu.Lock()
	s := c.idx[t]
	delete(c.idx, t)
	c.mu.Unlock()
	if s == nil {
		return 0
	}
	// s is out of the index, so unindex no longer changes it.
	if s.e != nil {
		c.c.Invalidate(s.key)
	}
	for k := range s.more {
		c.c.Invalidate(k)
	}
	return s.len()
}

// Clear drops every entry.
func (c *Cache[K, V]) Clear() {
	c.write.Lock()
	defer c.write.Unlock()
	c.gen.Add(1)
	c.c.InvalidateAll()
	c.mu.Lock()
	clear(c.idx)
	c.mu.Unlock()
}

// Len returns the number of entries stored, after otter's pending
// maintenance (evictions past the maximum, expirations) has run.
func (c *Cache[K, V]) Len() int {
	c.c.CleanUp()
	return c.c.EstimatedSize()
}

// indexed returns the number of tags in the index (tests check that
// deletions unindex their entries, so the index stays bounded too).
func (c *Cache[K, V]) indexed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idx)
}

// unindex removes a deleted entry from the tag index. otter calls it under
// the lock of the entry's bucket, so it must not call the cache. A replaced
// entry is indexed under the same key by its successor, which stays.
func (c *Cache[K, V]) unindex(ev otter.DeletionEvent[K, *entry[V]]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range ev.Value.tags {
		if s := c.idx[t]; s != nil && s.remove(ev.Key, ev.Value) && s.len() == 0 {
			delete(c.idx, t)
		}
	}
}

// tagged is the set of entries of one tag. Most tags name a single entry (a
// token's jti and mostly its sid; in the session cache, a user with one
// session), which is kept inline: a map per tag cost ≈ 350 bytes, twice
// for every cached token. The map is made for a second entry (the tokens
// of one user).
type tagged[K comparable, V any] struct {
	key  K
	e    *entry[V] // the inline entry, nil when there is none
	more map[K]*entry[V]
}

// add indexes e under k. An entry it replaces may stay indexed beside it
// for a moment: otter's deletion event for the replaced entry unindexes it
// (remove compares entries, not keys).
func (s *tagged[K, V]) add(k K, e *entry[V]) {
	if s.e == nil || s.key == k {
		s.key, s.e = k, e
		return
	}
	if s.more == nil {
		s.more = make(map[K]*entry[V], 1)
	}
	s.more[k] = e
}

// remove unindexes k if e is what is indexed under it (a replaced entry's
// successor stays) and reports whether it did.
func (s *tagged[K, V]) remove(k K, e *entry[V]) bool {
	switch {
	case s.e == e && s.key == k:
		var zero K
		s.key, s.e = zero, nil
	case s.more[k] == e:
		delete(s.more, k)
	default:
		return false
	}
	return true
}

// len is the number of entries indexed.
func (s *tagged[K, V]) len() int {
	if s.e != nil {
		return len(s.more) + 1
	}
	return len(s.more)
}

// runHere is an otter Executor that runs a task on the calling goroutine.
func runHere(task func()) { task() }

// clock makes otter expire entries on the caller's clock, so that a test
// clock moves entries past their deadline like real time does.
type clock func() time.Time

func (f clock) NowNano() int64 { return f().UnixNano() }

// Tick drives otter's periodic clean-up, which frees expired entries that
// nobody reads any more. The goroutine that reads it holds the cache only
// weakly and ends when the cache is collected; the ticker is then collected
// with it.
func (f clock) Tick(d time.Duration) <-chan time.Time { return time.NewTicker(d).C }
