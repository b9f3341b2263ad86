// Package redis implements session.Store, revocation.Store and
// throttle.Store over Redis (github.com/redis/go-redis/v9), so that several
// gatehouse instances share sessions, hear each other's revocations within a
// second and count login failures together.
//
// Layout, under a configurable key prefix (default "gatehouse:"):
//
//	s:<id>             hash, one session; TTL = min(idle, absolute expiry) - now
//	u:<user id>        hash whose fields are the user's session IDs (UserSessions,
//	                   DeleteUserSessions); a hash, not a set, because small hashes
//	                   are listpack-encoded and cost a fraction of a set
//	s-exp              sorted set of session ID by expiry (DeleteExpiredSessions)
//	rev:<kind>:<key>   the Until of the longest active revocation; PXAT Until
//	revocations        stream of every revocation (the feed watchers follow)
//	thr:<key>          sorted set of failure timestamps (sliding window)
//
// A session costs about 700 bytes of Redis memory with a short User-Agent
// and about 1.3 KB with a typical 110-byte browser one, because a hash value
// longer than hash-max-listpack-value (default 64) switches the hash to a
// hashtable; raising that setting to 256 keeps sessions compact.
//
// Keys hold only public session IDs (already SHA-256 of the cookie), never a
// cookie value. Writes that touch several keys run as one Lua script, so
// they are atomic. The scripts build key names from the prefix, so the store
// needs a single Redis (optionally with replicas), not Redis Cluster.
//
// Errors: redis.Nil maps to auth.ErrNotFound; every other failure (refused
// dial, timeout, closed client, error reply) is wrapped with
// auth.ErrUnavailable so that callers fail closed.
package redis
