// Package cache is the bounded, TTL-aware concurrent cache behind the
// verified-token cache (internal/token) and the session cache
// (internal/session). It wraps github.com/maypok86/otter/v2 (see
// docs/benchmarks.md for why otter and not golang-lru/v2/expirable) and adds
// what both callers need on top: every entry has a hard deadline (a token's
// exp, a session's expiry) measured on an injected clock, and carries tags
// (jti, sid, user ID) so that a revocation drops exactly the entries it
// names through a secondary index, without scanning the cache, and a value
// checked before a revocation is not stored after it (Generation, Put). otter's
// maintenance runs on the goroutine whose read or write calls for it, never
// on a goroutine started for it (see New).
//
// It imports only otter and the standard library, so any package may use it.
package cache
