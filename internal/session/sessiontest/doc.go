// Package sessiontest is the conformance suite that every session.Store
// backend (memory, SQLite, PostgreSQL, Redis) runs, so that they differ only
// in storage and never in behaviour. It works for stores whose expiry is
// real-time (Redis TTLs) as well as for SQL: records always expire in the
// future of the wall clock, and expiry is exercised through
// DeleteExpiredSessions with explicit times instead of sleeping.
package sessiontest
