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
	tests := []struct {
		name     string
		start    int // the thread's nice before lowerPriority; -1: as inherited
		wantNice func(inherited int) int
	}{
		{"as inherited", -1, func(n int) int { return min(n+niceStep, 19) }},
		{"nice 5", 5, func(int) int { return 5 + niceStep }},
		{"capped at 19", 15, func(int) int { return 19 }},
		{"already lowest", 19, func(int) int { return 19 }},
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
	if inherited, _, _ := onNewThread(t, -1); inherited != int(mustAttr(t).Nice) {
		t.Errorf("a new thread inherited nice %d, want the test thread's %d", inherited, mustAttr(t).Nice)
	}
}

// onNewThread runs lowerPriority on a fresh locked OS thread (which ends
// with its goroutine, as in idKey), after setting its nice to start unless
// start is -1, and returns the inherited nice and the attributes before and
// after.
func onNewThread(t *testing.T, start int) (inherited int, before, after *unix.SchedAttr) {
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
		if start >= 0 {
			if err = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), start); err != nil {
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
