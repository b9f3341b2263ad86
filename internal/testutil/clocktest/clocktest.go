// Package clocktest holds the settable clock and the condition wait that
// tests share. It imports only the standard library, so the tests of every
// package may use it, including the packages that internal/testutil itself
// depends on (testutil imports app, which imports nearly everything).
package clocktest

import (
	"sync"
	"testing"
	"time"
)

// Clock is a settable time source, safe for concurrent use: pass its Now
// method wherever code takes a clock, and move time with Advance instead of
// sleeping.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a Clock that reads start until it is moved.
func New(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d (backwards when d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Patience is how long Eventually waits: generous, because it is a
// condition wait on a shared 2-core machine, not a speed assertion.
const Patience = 10 * time.Second

// pollEvery is the pause between two checks of a condition.
const pollEvery = 10 * time.Millisecond

// Within checks cond every 10 ms until it holds, and reports whether it did
// before d passed. Use it where the deadline is part of the behaviour under
// test ("refused everywhere within 1 s"); use Eventually otherwise.
func Within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollEvery)
	}
	return true
}

// Eventually fails the test unless cond holds within Patience; what says
// what was awaited ("the watcher is fresh").
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Within(Patience, cond) {
		t.Fatalf("timed out after %s waiting until %s", Patience, what)
	}
}
