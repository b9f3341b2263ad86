package password

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// The hashing thread runs under SCHED_IDLE, so that request threads always
// run first (issue 15: a login flood must not starve the gateway); other
// threads keep their policy.
func TestLowerPriorityIsSchedIdle(t *testing.T) {
	policy := make(chan uint32, 2)
	go func() {
		runtime.LockOSThread() // the thread ends with the goroutine, as in idKey
		attr, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			t.Error(err)
			policy <- 0
			policy <- 0
			return
		}
		policy <- attr.Policy
		lowerPriority()
		if attr, err = unix.SchedGetAttr(0, 0); err != nil {
			t.Error(err)
		}
		policy <- attr.Policy
	}()
	before, after := <-policy, <-policy
	if before == unix.SCHED_IDLE {
		t.Fatal("a new thread already runs under SCHED_IDLE")
	}
	if after != unix.SCHED_IDLE {
		t.Fatalf("hashing thread policy = %d, want SCHED_IDLE (%d)", after, unix.SCHED_IDLE)
	}
}
