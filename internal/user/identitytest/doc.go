// Package identitytest is the conformance suite every user.IdentityStore backend
// runs: round trips, issuer+subject uniqueness, per-user listing, touching.
//
// Stores that keep referential integrity (the SQL stores) also implement
// user.Store; the suite then creates the users identities link to through
// it, and checks that deleting a user removes their identities.
package identitytest
