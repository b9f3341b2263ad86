// Package storetest runs conformance suites: the per-interface packages
// (sessiontest, usertest, tokentest, …) list their cases, and every store
// backend runs the same cases through Run.
package storetest

import "testing"

// Case is one conformance check, run on a fresh, empty store.
type Case[S any] struct {
	Name string
	Run  func(t *testing.T, s S)
}

// Run runs every case as a subtest, each on a store of its own from
// newStore (which registers its cleanup with t.Cleanup).
func Run[S any](t *testing.T, newStore func(t *testing.T) S, cases []Case[S]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) { c.Run(t, newStore(t)) })
	}
}
