package token

import (
	"crypto/sha256"
	"strings"
	"time"
	"unsafe"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/cache"
)

// cacheEntry is a verified token: its principal, the kid it was signed
// with (re-checked on every hit, so a retired key's tokens leave at once)
// and its signed part, which a hit must match byte for byte.
type cacheEntry struct {
	p      auth.Principal
	kid    string
	signed string
}

// tokenCache maps the SHA-256 of a token's signature to a verification
// result until the token's exp (cacheKey). Entries are tagged with their
// jti, sid and subject, so that Forget drops exactly the revoked ones
// without scanning.
type tokenCache = cache.Cache[[32]byte, cacheEntry]

// cacheKey splits a compact JWS for the cache: key is the SHA-256 of its
// signature, the part that makes a token usable, and signed (header.payload)
// is what a hit must equal. Hashing the signature alone is one or two
// SHA-256 blocks instead of the whole token's six to nine (≈ 0.5 µs of a
// 500-byte token, on every cached request; issue 15), and a hit is still
// exactly the token that was verified: the same signature (collision
// resistance) over the same bytes (compared). The cache holds the signed
// part, which anyone can read off a token and which is useless without its
// signature, and never the signature: it still holds nothing an attacker
// could present without the token. ok is false when raw has no '.' or an
// empty signature, which verify refuses anyway.
func cacheKey(raw string) (key [32]byte, signed string, ok bool) {
	i := strings.LastIndexByte(raw, '.')
	if i < 0 || i == len(raw)-1 {
		return key, "", false
	}
	sig := raw[i+1:]
	// Hashed in place: a []byte(sig) copy would be an allocation on every
	// gateway request (Sum256 only reads it).
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(sig), len(sig))), raw[:i], true
}

func newCache(max int, now func() time.Time) *tokenCache {
	return cache.New[[32]byte, cacheEntry](max, now)
}

// putVerified caches p until its exp, unless a revocation ran since gen was
// read (cache.Put). signed is copied: as a slice of the request's
// Authorization value it would keep the whole token, signature included,
// alive as long as the entry.
func putVerified(c *tokenCache, gen uint64, key [32]byte, signed string, p auth.Principal, kid string) {
	tags := make([]cache.Tag, 0, 3)
	tags = append(tags, cache.Tag{Kind: kindJTI, Key: p.TokenID}, cache.Tag{Kind: kindUser, Key: p.Subject})
	if p.SessionID != "" {
		tags = append(tags, cache.Tag{Kind: kindSID, Key: p.SessionID})
	}
	c.Put(gen, key, cacheEntry{p: p, kid: kid, signed: strings.Clone(signed)}, p.ExpiresAt, tags...)
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
