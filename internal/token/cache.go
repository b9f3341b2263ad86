package token

import (
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// cacheEntry is a verified token: its principal, the kid it was signed
// with (re-checked on every hit, so a retired key's tokens leave at once)
// and its exp, after which the entry is never used.
type cacheEntry struct {
	p   auth.Principal
	kid string
	exp time.Time
}

// cache maps SHA-256(raw token) to a verification result. It is bounded;
// when full, a random entry is evicted (Go's map iteration order), which is
// O(1) and good enough for a cache whose misses only cost a signature
// check. Keys are hashes so the cache holds no usable token.
type cache struct {
	mu  sync.RWMutex
	max int
	m   map[[32]byte]cacheEntry
}

func newCache(max int) *cache {
	return &cache{max: max, m: make(map[[32]byte]cacheEntry, min(max, 1024))}
}

func (c *cache) get(k [32]byte, now time.Time) (cacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok {
		return cacheEntry{}, false
	}
	if !now.Before(e.exp) {
		c.drop(k)
		return cacheEntry{}, false
	}
	return e, true
}

func (c *cache) put(k [32]byte, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = e
}

func (c *cache) drop(k [32]byte) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// forget scans the cache: revocations are rare and the cache is bounded, so
// a scan beats keeping three secondary indexes consistent.
func (c *cache) forget(kind, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if kind == kindKeys {
		clear(c.m)
		return
	}
	for k, e := range c.m {
		if (kind == kindJTI && e.p.TokenID == key) || (kind == kindSID && e.p.SessionID == key) || (kind == kindUser && e.p.Subject == key) {
			delete(c.m, k)
		}
	}
}
