// Package redis implements session.Store, revocation.Store, throttle.Store
// and ratelimit.Store over Redis (github.com/redis/go-redis/v9), so that several
// gatehouse instances share sessions, hear each other's revocations within a
// second and count login failures together. It runs on a single node, on a
// Sentinel-managed primary (go-redis failover client) and on Redis Cluster
// (cluster client); OpenTopology builds the right client in one place.
//
// Layout, under a configurable key prefix (default "gatehouse:"):
//
//	s:<id>                 hash, one session; TTL = min(idle, absolute expiry) - now
//	u:<user id>            hash whose fields are the user's session IDs (UserSessions,
//	                       DeleteUserSessions); a hash, not a set, because small hashes
//	                       are listpack-encoded and cost a fraction of a set
//	s-exp:<0..15>          sorted sets of "<session id>\x00<user id>" by expiry
//	                       (DeleteExpiredSessions, which also drops the user's index
//	                       entry of a session its TTL removed), 16 buckets by FNV-1a
//	                       of the ID so that a Cluster spreads them
//	{rev}:<kind>:<key>     the Until of the longest active revocation; PXAT Until
//	                       + 5 min (clockSlack: instance clocks behind Redis's)
//	{rev}:stream           stream of the revocations (the feed watchers follow): every
//	                       active one, and ended ones for about an hour (the purge
//	                       re-appends older active ones, then trims by age)
//	thr:<key>              sorted set of failure timestamps (sliding window)
//	rl:<route>:<per>:<v>   hash, one rate limit token bucket (tokens, last update);
//	                       PEXPIRE = until the bucket is full again
//	totp-step:<user id>    the user's last accepted TOTP step; PX = until no code
//	                       of that step is valid
//
// Every key but the stream and the expiry buckets has a TTL, and each is
// state that must not vanish early: Redis must run with maxmemory-policy
// noeviction (docs/deploy.md), under which a full Redis refuses writes and
// gatehouse answers 503. MemoryPolicies reads the policy of every node, so
// that the app can warn at start when one evicts.
//
// Redis Cluster: every command and script touches one key, except the
// revocation publish script, whose two keys share the {rev} hash tag; the
// prefix may not contain braces, so it cannot move them apart. CROSSSLOT is
// therefore impossible by construction. A session's key cannot carry its
// user's hash tag (Session looks it up by ID alone), so multi-key changes
// are ordered instead of atomic: a session is written before its index
// entry and deleted before it, so an index entry without a session is only
// ever stale (IDs are never reused), and every session handed out is
// indexed, hence reached by "log out everywhere".
//
// Failover: WithWait makes logouts and revocations wait (WAIT) until
// replicas acknowledge them, on the connection that wrote them, and fail
// with ErrNotReplicated (auth.ErrUnavailable, 503) otherwise; a revocation
// feed cursor whose entry a failover lost restarts from every active event.
// On a Cluster, those writes go to the key's primary directly, so they
// follow MOVED and ASK themselves (a reshard), and the cluster client
// reloads its slot map whenever a node cannot be reached (go-redis alone
// waits for a MOVED, which a dead primary never sends, or 60 s).
//
// A session costs about 700 bytes of Redis memory with a short User-Agent
// and about 1.3 KB with a typical 110-byte browser one, because a hash value
// longer than hash-max-listpack-value (default 64) switches the hash to a
// hashtable; raising that setting to 256 keeps sessions compact.
//
// Keys hold only public session IDs (already SHA-256 of the cookie), never a
// cookie value.
//
// Errors: redis.Nil maps to auth.ErrNotFound; every other failure (refused
// dial, timeout, closed client, error reply, CLUSTERDOWN during a failover)
// is wrapped with auth.ErrUnavailable so that callers fail closed.
package redis
