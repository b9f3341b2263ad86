package password

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// The hashing thread runs niceStep below the priority it inherited (at most
// at nice 19), so that request threads run first under contention (issue
// 15: a login flood must not starve the gateway), keeping its scheduling
// policy; other threads keep their priority.
func TestLowerPriority(t *testing.T) {
	// Starting values are above the inherited nice value: raising it needs
	// no privilege, so the test does not depend on running as root.
	tests := []struct {
		name     string
		start    func(inherited int) int // the thread's nice before lowerPriority; nil: as inherited
		wantNice func(inherited int) int
	}{
		{"as inherited", nil, func(n int) int { return min(n+niceStep, 19) }},
		{"started 5 lower", func(n int) int { return min(n+5, 19) }, func(n int) int { return min(n+5+niceStep, 19) }},
		{"capped at 19", func(n int) int { return max(n, 15) }, func(int) int { return 19 }},
		{"already lowest", func(int) int { return 19 }, func(int) int { return 19 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inherited, before, after := onNewThread(t, tt.start)
			if after.Policy != before.Policy {
				t.Errorf("policy changed from %d to %d", before.Policy, after.Policy)
			}
			if want := tt.wantNice(inherited); int(after.Nice) != want {
				t.Errorf("nice after lowerPriority = %d (was %d), want %d", after.Nice, before.Nice, want)
			}
		})
	}
	// The thread that ran lowerPriority ended with its goroutine: a new one
	// starts at the process's priority again.
	if inherited, _, _ := onNewThread(t, nil); inherited != int(mustAttr(t).Nice) {
		t.Errorf("a new thread inherited nice %d, want the test thread's %d", inherited, mustAttr(t).Nice)
	}
}

// onNewThread runs lowerPriority on a fresh locked OS thread (which ends
// with its goroutine, as in idKey), after setting its nice to
// start(inherited) unless start is nil, and returns the inherited nice and
// the attributes before and after.
func onNewThread(t *testing.T, start func(int) int) (inherited int, before, after *unix.SchedAttr) {
	t.Helper()
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		runtime.LockOSThread()
		var a *unix.SchedAttr
		if a, err = unix.SchedGetAttr(0, 0); err != nil {
			return
		}
		inherited = int(a.Nice)
		if start != nil {
			if err = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), start(inherited)); err != nil {
				return
			}
		}
		if before, err = unix.SchedGetAttr(0, 0); err != nil {
			return
		}
		lowerPriority()
		after, err = unix.SchedGetAttr(0, 0)
	}()
	<-done
	if err != nil {
		t.Fatalf("thread attributes: %v", err)
	}
	return inherited, before, after
}

func mustAttr(t *testing.T) *unix.SchedAttr {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
