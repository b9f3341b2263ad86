// Package revocationtest is the conformance suite that every
// revocation.Store backend (memory, SQLite, PostgreSQL, Redis) runs. Events
// always end in the future of the wall clock, because some stores (Redis)
// expire keys in real time; expiry is exercised by passing explicit later
// times as now.
package revocationtest
