// Package session is gatehouse's server-side session manager: 256-bit random
// cookie values, stored only as SHA-256, idle and absolute expiry enforced
// here, a fresh ID at every login, and a short-lived local cache that
// revocation events invalidate. Persistence is the byte/TTL-level Store
// interface that memory, SQLite, PostgreSQL and Redis implement.
package session
