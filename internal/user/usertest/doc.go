// Package usertest is the conformance suite every user.Store backend runs,
// so that SQLite, PostgreSQL and any future store behave the same: field
// round trips, NameKey uniqueness ("Alice", "ALICE" and "ａｌｉｃｅ" are one
// account), not-found and conflict errors.
package usertest
