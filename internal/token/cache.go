package token

import (
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/cache"
)

// cacheEntry is a verified token: its principal and the kid it was signed
// with (re-checked on every hit, so a retired key's tokens leave at once).
type cacheEntry struct {
	p   auth.Principal
	kid string
}

// tokenCache maps SHA-256(raw token) to a verification result until the
// token's exp. Keys are hashes so the cache holds no usable token. Entries
// are tagged with their jti, sid and subject, so that Forget drops exactly
// the revoked ones without scanning.
type tokenCache = cache.Cache[[32]byte, cacheEntry]

func newCache(max int, now func() time.Time) *tokenCache {
	return cache.New[[32]byte, cacheEntry](max, now)
}

// putVerified caches p until its exp.
func putVerified(c *tokenCache, sum [32]byte, p auth.Principal, kid string) {
	tags := make([]cache.Tag, 0, 3)
	tags = append(tags, cache.Tag{Kind: kindJTI, Key: p.TokenID}, cache.Tag{Kind: kindUser, Key: p.Subject})
	if p.SessionID != "" {
		tags = append(tags, cache.Tag{Kind: kindSID, Key: p.SessionID})
	}
	c.Put(sum, cacheEntry{p: p, kid: kid}, p.ExpiresAt, tags...)
}

// forget applies a revocation kind to the cache: "keys" drops everything,
// "jti", "sid" and "user" the entries tagged with key, other kinds nothing.
func forget(c *tokenCache, kind, key string) {
	switch kind {
	case kindKeys:
		c.Clear()
	case kindJTI, kindSID, kindUser:
		c.Invalidate(cache.Tag{Kind: kind, Key: key})
	}
}
