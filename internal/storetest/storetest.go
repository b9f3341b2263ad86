// Package storetest runs conformance suites: the per-interface packages
// (sessiontest, usertest, tokentest, …) list their cases, and every store
// backend runs the same cases through Run.
package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

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

// Now is the current time at the stores' resolution (UTC, whole
// microseconds), so that a time read back equals the one stored.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// EnsureUser creates user id when s also stores users, so that stores with
// referential integrity (sessions, refresh tokens, identities, factors die
// with their user) accept records of that user. An existing user is fine.
func EnsureUser(t *testing.T, s any, id string, at time.Time) {
	t.Helper()
	us, ok := s.(user.Store)
	if !ok {
		return
	}
	err := us.CreateUser(context.Background(), auth.User{ID: id, Username: id, CreatedAt: at, UpdatedAt: at})
	if err != nil && !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("CreateUser(%s): %v", id, err)
	}
}

// Workers is how many goroutines the concurrent conformance cases start.
const Workers = 16

// Together runs f(0) … f(n-1) in n goroutines released at the same moment
// (all are started and waiting before any runs) and waits for them: the
// concurrent cases race real store calls, not goroutine start-up.
func Together(n int, f func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Go(func() {
			ready.Done()
			<-start
			f(i)
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
}

// RaceConflicts runs call(0) … call(n-1) Together and returns how many
// succeeded and how many failed with auth.ErrConflict; any other error
// fails the test. The at-most-once cases check ok == 1.
func RaceConflicts(t *testing.T, n int, call func(i int) error) (ok, conflicts int) {
	t.Helper()
	var mu sync.Mutex
	Together(n, func(i int) {
		err := call(i)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			ok++
		case errors.Is(err, auth.ErrConflict):
			conflicts++
		default:
			t.Errorf("call %d: %v, want nil or auth.ErrConflict", i, err)
		}
	})
	return ok, conflicts
}
