// Package pgtest gives each test its own PostgreSQL schema, so that tests
// and test packages running in parallel never see each other's rows. It is
// for tests only.
package pgtest
