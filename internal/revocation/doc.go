// Package revocation spreads revocations — logout, "log out everywhere",
// revoked tokens, refresh-token reuse, key rotation — to every gatehouse
// instance, and answers "is this credential revoked?" from memory.
//
// Store is the shared, durable feed (SQL table or Redis stream). Watcher is
// each instance's follower of it: it loads every active event at start,
// follows new ones, calls the OnEvent hooks that drop cached sessions and
// tokens, and keeps the deny-list of jti/sid/user events in memory. Its
// rule is to fail closed: while it has not heard from the store within
// StaleAfter it is not Fresh, caches are untrusted, and Revoked asks the
// store itself — so a dead store yields errors (503), never a stale "allow".
package revocation
