package cache

import (
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestCache(t *testing.T, max int) (*Cache[string, int], *clocktest.Clock) {
	t.Helper()
	clock := clocktest.New(start)
	return New[string, int](max, clock.Now), clock
}

func TestGetReturnsWhatPutStored(t *testing.T) {
	c, _ := newTestCache(t, 10)
	c.Put(c.Generation(), "a", 1, start.Add(time.Hour))
	if got, ok := c.Get("a"); !ok || got != 1 {
		t.Fatalf("Get(a) = %d, %v; want 1, true", got, ok)
	}
	if _, ok := c.Get("b"); ok {
		t.Fatal("Get(b) found a value never stored")
	}
}

func TestEvictionKeepsTheBound(t *testing.T) {
	const max = 50
	c, _ := newTestCache(t, max)
	for i := range 20 * max {
		k := strconv.Itoa(i)
		c.Put(c.Generation(), k, i, start.Add(time.Hour), Tag{"user", "u" + strconv.Itoa(i%7)}, Tag{"jti", k})
	}
	if got := c.Len(); got > max {
		t.Fatalf("Len() = %d after %d puts, want at most %d", got, 20*max, max)
	}
	// Evicted entries leave the index too: at most one jti tag per entry,
	// plus the 7 user tags.
	if got, limit := c.indexed(), max+7; got > limit {
		t.Errorf("index holds %d tags for at most %d entries, want at most %d", got, max, limit)
	}
}

func TestEntriesDieAtTheirDeadline(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
		found   bool
	}{
		{"BeforeDeadline", time.Minute - time.Nanosecond, true},
		{"AtDeadline", time.Minute, false},
		{"AfterDeadline", time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clock := newTestCache(t, 10)
			c.Put(c.Generation(), "a", 1, start.Add(time.Minute), Tag{"sid", "s1"})
			clock.Advance(tt.advance)
			if _, ok := c.Get("a"); ok != tt.found {
				t.Errorf("Get after %s: found = %v, want %v", tt.advance, ok, tt.found)
			}
		})
	}
}

func TestPutIgnoresPastDeadlines(t *testing.T) {
	c, _ := newTestCache(t, 10)
	c.Put(c.Generation(), "now", 1, start)
	c.Put(c.Generation(), "past", 2, start.Add(-time.Second))
	if got := c.Len(); got != 0 {
		t.Fatalf("Len() = %d after storing dead values, want 0", got)
	}
}

// A value checked before a revocation and put after it may be the revoked
// one: Put drops it when any revocation ran since its generation was read,
// whatever key or tag the revocation named.
func TestPutAfterARevocationIsDropped(t *testing.T) {
	tests := []struct {
		name   string
		revoke func(c *Cache[string, int])
	}{
		{"Delete", func(c *Cache[string, int]) { c.Delete("a") }},
		{"DeleteOtherKey", func(c *Cache[string, int]) { c.Delete("b") }},
		{"Invalidate", func(c *Cache[string, int]) { c.Invalidate(Tag{"sid", "s1"}) }},
		{"InvalidateUnknownTag", func(c *Cache[string, int]) { c.Invalidate(Tag{"sid", "s9"}) }},
		{"Clear", func(c *Cache[string, int]) { c.Clear() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, 10)
			gen := c.Generation()
			tt.revoke(c)
			c.Put(gen, "a", 1, start.Add(time.Hour), Tag{"sid", "s1"})
			if _, ok := c.Get("a"); ok {
				t.Error("a value read before the revocation was stored after it")
			}
			if c.indexed() != 0 {
				t.Errorf("the dropped value left %d tags in the index", c.indexed())
			}
			c.Put(c.Generation(), "a", 2, start.Add(time.Hour), Tag{"sid", "s1"})
			if got, ok := c.Get("a"); !ok || got != 2 {
				t.Errorf("Get(a) after a Put with the current generation = %d, %v; want 2, true", got, ok)
			}
		})
	}
}

func TestExpiredEntriesLeaveTheIndex(t *testing.T) {
	c, clock := newTestCache(t, 10)
	c.Put(c.Generation(), "a", 1, start.Add(time.Minute), Tag{"sid", "s1"})
	clock.Advance(2 * time.Minute)
	c.Get("a") // a read of an expired entry schedules its removal
	clocktest.Eventually(t, "the expired entry is unindexed", func() bool { return c.Len() == 0 && c.indexed() == 0 })
}

func TestInvalidateDropsExactlyTheTaggedEntries(t *testing.T) {
	type put struct {
		key  string
		tags []Tag
	}
	puts := []put{
		{"t1", []Tag{{"jti", "j1"}, {"sid", "s1"}, {"user", "u1"}}},
		{"t2", []Tag{{"jti", "j2"}, {"sid", "s1"}, {"user", "u1"}}},
		{"t3", []Tag{{"jti", "j3"}, {"sid", "s2"}, {"user", "u1"}}},
		{"t4", []Tag{{"jti", "j4"}, {"sid", "s3"}, {"user", "u2"}}},
	}
	tests := []struct {
		tag  Tag
		gone []string
	}{
		{Tag{"jti", "j2"}, []string{"t2"}},
		{Tag{"sid", "s1"}, []string{"t1", "t2"}},
		{Tag{"user", "u1"}, []string{"t1", "t2", "t3"}},
		{Tag{"user", "nobody"}, nil},
		{Tag{"sid", "j1"}, nil}, // same key, other kind
	}
	for _, tt := range tests {
		t.Run(tt.tag.Kind+"="+tt.tag.Key, func(t *testing.T) {
			c, _ := newTestCache(t, 10)
			for i, p := range puts {
				c.Put(c.Generation(), p.key, i, start.Add(time.Hour), p.tags...)
			}
			if got, want := c.Invalidate(tt.tag), len(tt.gone); got != want {
				t.Errorf("Invalidate(%v) = %d, want %d", tt.tag, got, want)
			}
			gone := map[string]bool{}
			for _, k := range tt.gone {
				gone[k] = true
			}
			for _, p := range puts {
				if _, ok := c.Get(p.key); ok == gone[p.key] {
					t.Errorf("after Invalidate(%v): %s cached = %v, want %v", tt.tag, p.key, ok, !gone[p.key])
				}
			}
		})
	}
}

// A value replaced under the same key stays revocable: the old value's
// deletion must not unindex its successor.
func TestReplacedEntryStaysIndexed(t *testing.T) {
	c, _ := newTestCache(t, 10)
	c.Put(c.Generation(), "a", 1, start.Add(time.Hour), Tag{"sid", "s1"})
	c.Put(c.Generation(), "a", 2, start.Add(time.Hour), Tag{"sid", "s1"})
	if got, want := c.Invalidate(Tag{"sid", "s1"}), 1; got != want {
		t.Fatalf("Invalidate = %d, want %d", got, want)
	}
	if _, ok := c.Get("a"); ok {
		t.Fatal("replaced entry survived the invalidation of its tag")
	}
}

// A tag's first entry is indexed inline and the rest in a map (tagged); the
// index must stay exact whichever of them is removed or replaced.
func TestTagIndexFollowsChanges(t *testing.T) {
	u1 := Tag{"user", "u1"}
	tests := []struct {
		name    string
		steps   func(c *Cache[string, int])
		left    []string // what Invalidate(u1) must then drop
		indexed int      // tags indexed before it
	}{
		{"one entry", func(c *Cache[string, int]) { c.Put(c.Generation(), "a", 1, start.Add(time.Hour), u1) }, []string{"a"}, 1},
		{"one entry deleted", func(c *Cache[string, int]) {
			c.Put(c.Generation(), "a", 1, start.Add(time.Hour), u1)
			c.Delete("a")
		}, nil, 0},
		{"first of three deleted", func(c *Cache[string, int]) {
			for i, k := range []string{"a", "b", "c"} {
				c.Put(c.Generation(), k, i, start.Add(time.Hour), u1)
			}
			c.Delete("a")
		}, []string{"b", "c"}, 1},
		{"second replaced after the first left", func(c *Cache[string, int]) {
			c.Put(c.Generation(), "a", 1, start.Add(time.Hour), u1)
			c.Put(c.Generation(), "b", 2, start.Add(time.Hour), u1)
			c.Delete("a")
			c.Put(c.Generation(), "b", 3, start.Add(time.Hour), u1)
		}, []string{"b"}, 1},
		{"all deleted, last first", func(c *Cache[string, int]) {
			c.Put(c.Generation(), "a", 1, start.Add(time.Hour), u1)
			c.Put(c.Generation(), "b", 2, start.Add(time.Hour), u1)
			c.Delete("b")
			c.Delete("a")
		}, nil, 0},
		{"re-added after all left", func(c *Cache[string, int]) {
			c.Put(c.Generation(), "a", 1, start.Add(time.Hour), u1)
			c.Put(c.Generation(), "b", 2, start.Add(time.Hour), u1)
			c.Delete("a")
			c.Delete("b")
			c.Put(c.Generation(), "b", 4, start.Add(time.Hour), u1)
			c.Put(c.Generation(), "a", 5, start.Add(time.Hour), u1)
		}, []string{"a", "b"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, 10)
			c.Put(c.Generation(), "other", 0, start.Add(time.Hour), Tag{"user", "u2"})
			tt.steps(c)
			if got, want := c.indexed(), tt.indexed+1; got != want {
				t.Errorf("tags indexed = %d, want %d", got, want)
			}
			if got, want := c.Invalidate(u1), len(tt.left); got != want {
				t.Errorf("Invalidate(u1) = %d, want %d", got, want)
			}
			for _, k := range tt.left {
				if _, ok := c.Get(k); ok {
					t.Errorf("%s survived Invalidate(u1)", k)
				}
			}
			if _, ok := c.Get("other"); !ok {
				t.Error("Invalidate(u1) dropped u2's entry")
			}
			if got := c.indexed(); got != 1 {
				t.Errorf("tags indexed after Invalidate(u1) = %d, want 1 (u2)", got)
			}
		})
	}
}

func TestDeleteAndClear(t *testing.T) {
	c, _ := newTestCache(t, 10)
	for i := range 3 {
		c.Put(c.Generation(), strconv.Itoa(i), i, start.Add(time.Hour), Tag{"user", "u1"})
	}
	c.Delete("0")
	if _, ok := c.Get("0"); ok {
		t.Fatal("Delete(0) left the entry")
	}
	c.Clear()
	if got := c.Len(); got != 0 {
		t.Fatalf("Len() after Clear = %d, want 0", got)
	}
	if got := c.indexed(); got != 0 {
		t.Fatalf("index after Clear holds %d tags, want 0", got)
	}
}

// A hot entry's reads fill otter's read buffers again and again; the
// maintenance that drains them must run on the reading goroutine, not start
// a goroutine each time (the thread woken for it cost a cached forward-auth
// decision ≈ 0.8 µs of CPU). The reads come in bursts of a buffer's size
// with pauses between, as requests do, so that each drain finishes before
// the buffer fills again.
func TestReadsStartNoGoroutines(t *testing.T) {
	c, _ := newTestCache(t, 100)
	c.Put(c.Generation(), "hot", 1, start.Add(time.Hour))
	const bursts, readBuffer = 200, 16
	created := goroutinesCreated()
	for range bursts {
		for range readBuffer {
			if _, ok := c.Get("hot"); !ok {
				t.Fatal("the hot entry is gone")
			}
		}
		time.Sleep(20 * time.Microsecond)
	}
	// A goroutine per drain would be about one per burst; allow a few
	// for the test runtime.
	if n := goroutinesCreated() - created; n > 5 {
		t.Errorf("%d bursts of %d reads of one entry started %d goroutines, want none", bursts, readBuffer, n)
	}
}

func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Readers, writers and revocations at once, for the race detector; after a
// revocation of a session no entry of it may stay.
func TestConcurrentUse(t *testing.T) {
	c, _ := newTestCache(t, 100)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				k := strconv.Itoa(w*1000 + i%150)
				c.Put(c.Generation(), k, i, start.Add(time.Hour), Tag{"sid", "s" + strconv.Itoa(i%5)}, Tag{"jti", k})
				c.Get(strconv.Itoa(i % 150))
				if i%50 == 0 {
					c.Invalidate(Tag{"sid", "s" + strconv.Itoa(i%5)})
				}
			}
		})
	}
	wg.Wait()
	c.Invalidate(Tag{"sid", "s0"})
	for w := range 4 {
		for i := range 150 {
			if i%5 != 0 {
				continue
			}
			if _, ok := c.Get(strconv.Itoa(w*1000 + i)); ok {
				t.Fatalf("entry %d of revoked session s0 still cached", w*1000+i)
			}
		}
	}
	if got := c.Len(); got > 100 {
		t.Errorf("Len() = %d, want at most 100", got)
	}
}

// A Put over a live entry stores the new value until its own deadline, not
// the replaced one's: a value whose deadline is earlier (a session read
// again closer to its expiry) must not live on under the old deadline.
func TestReplacedEntryDiesAtItsOwnDeadline(t *testing.T) {
	tests := []struct {
		name          string
		first, second time.Duration // deadlines of the two Puts, from start
		advance       time.Duration
		found         bool
	}{
		{"EarlierDeadlineBefore", time.Hour, time.Minute, time.Minute - time.Nanosecond, true},
		{"EarlierDeadlineAt", time.Hour, time.Minute, time.Minute, false},
		{"LaterDeadlineAfterTheFirst", time.Minute, time.Hour, 2 * time.Minute, true},
		{"LaterDeadlineAt", time.Minute, time.Hour, time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clock := newTestCache(t, 10)
			c.Put(c.Generation(), "a", 1, start.Add(tt.first), Tag{"sid", "s1"})
			c.Put(c.Generation(), "a", 2, start.Add(tt.second), Tag{"sid", "s1"})
			clock.Advance(tt.advance)
			got, ok := c.Get("a")
			if ok != tt.found {
				t.Fatalf("Get after %s: found = %v, want %v", tt.advance, ok, tt.found)
			}
			if ok && got != 2 {
				t.Errorf("Get after %s = %d, want the second value 2", tt.advance, got)
			}
		})
	}
}
