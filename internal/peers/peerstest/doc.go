// Package peerstest is the conformance suite that every peers.Store
// backend (memory, SQLite, PostgreSQL, Redis) runs. Records always expire
// in the future of the wall clock, because Redis expires its key in real
// time; expiry is exercised by passing explicit later times as now.
package peerstest
