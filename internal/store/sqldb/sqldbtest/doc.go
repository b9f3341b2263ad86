// Package sqldbtest runs everything a SQL backend of gatehouse must pass —
// every store conformance suite plus the SQL-specific behaviour (migrations,
// cascades, unavailability after Close) — and the store benchmarks, so that
// store/sqlite and store/postgres test themselves with one call each.
package sqldbtest
