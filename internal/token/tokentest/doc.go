// Package tokentest is the conformance suite every token.RefreshStore
// backend runs: round trips, the rotation rules (used → reuse, revoked
// family, expired, unknown), family revocation racing rotation, purging, and
// N concurrent rotations of one token of which exactly one may win.
//
// Stores that keep referential integrity (the SQL stores) also implement
// user.Store; the suite then creates the users its tokens belong to through
// it, and checks that deleting a user removes their tokens.
package tokentest
