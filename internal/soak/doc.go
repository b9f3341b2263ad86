// Package soak runs gatehouse the way a scaled-out deployment runs it — three
// `gatehouse serve` processes on a 6-node Redis Cluster (3 primaries + 3
// replicas) and PostgreSQL behind PgBouncer in transaction pooling, all
// private to the run — under a mixed load (logins, gateway calls with
// sessions and tokens, refreshes, logouts, revocations) while faults hit on
// a schedule: a Redis primary is killed, PostgreSQL restarts, an instance is
// reloaded with SIGHUP and another restarted (issue 17).
//
// It counts what must never happen — a request allowed after its logout or
// revocation was acknowledged (beyond the 1 s broadcast bound), a refresh
// token with two successors, a 5xx or transport error outside a fault
// window — samples each instance's RSS and goroutines, measures how long a
// revocation takes to reach the other instances, and writes a Markdown
// report with an SVG time series. `make soak` runs it; it is not part of
// `make test`.
package soak
