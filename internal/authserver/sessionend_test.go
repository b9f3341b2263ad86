package authserver_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
)

// heldEnds is a real SQLite logout store whose EndSession waits for the
// test to release it, recording the sessions it was called for and how
// many calls ran at once.
type heldEnds struct {
	authserver.LogoutStore
	entered chan string
	release chan struct{}

	mu       sync.Mutex
	inFlight int
	most     int
	ended    []string
	cut      []string // calls whose context had ended when they returned
}

func newHeldEnds(t *testing.T) *heldEnds {
	t.Helper()
	return &heldEnds{LogoutStore: sqlitetest.New(t), entered: make(chan string, 100), release: make(chan struct{})}
}

func (h *heldEnds) EndSession(ctx context.Context, id string, now, deadline time.Time) ([]authserver.SessionGrant, error) {
	h.mu.Lock()
	h.inFlight++
	h.most = max(h.most, h.inFlight)
	h.mu.Unlock()
	h.entered <- id
	<-h.release
	grants, err := h.LogoutStore.EndSession(ctx, id, now, deadline)
	h.mu.Lock()
	h.inFlight--
	h.ended = append(h.ended, id)
	if ctx.Err() != nil {
		h.cut = append(h.cut, id)
	}
	h.mu.Unlock()
	return grants, err
}

// await reports whether the next EndSession is for want (within 5s). It
// only marks the test failed, so that goroutines may call it too.
func (h *heldEnds) await(t *testing.T, want string) bool {
	t.Helper()
	select {
	case got := <-h.entered:
		if got != want {
			t.Errorf("EndSession(%q), want %q next", got, want)
			return false
		}
		return true
	case <-time.After(5 * time.Second):
		t.Errorf("no EndSession(%q) within 5s", want)
		return false
	}
}

// step waits for the call for want and lets it run.
func (h *heldEnds) step(t *testing.T, want string) bool {
	t.Helper()
	if !h.await(t, want) {
		return false
	}
	h.release <- struct{}{}
	return true
}

// A restart replays the last hour's session ends through the watcher's
// hook, thousands on a busy site. They are ended one at a time, in order,
// each once however often it was queued, so that the replay cannot take
// every store connection (SQLite's single writer) from logins; shutdown
// lets the call in flight finish and leaves the rest for FinishSessionEnds.
func TestSessionEndsRunOneAtATime(t *testing.T) {
	h := newHeldEnds(t)
	s := authserver.New(authserver.Deps{Logouts: h})
	for _, id := range []string{"s1", "s2", "s1", "s3", "s4", "s2"} {
		s.EndSessionLater(id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.RunSessionEnds(ctx) }()

	if !h.await(t, "s1") {
		t.FailNow()
	}
	time.Sleep(50 * time.Millisecond) // room for a second call, if one were started
	h.release <- struct{}{}
	if !h.await(t, "s2") {
		t.FailNow()
	}
	s.EndSessionLater("s2") // ends again while in flight: queued again
	h.release <- struct{}{}
	if !h.await(t, "s3") {
		t.FailNow()
	}
	cancel() // shutdown while s3 is in flight
	h.release <- struct{}{}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunSessionEnds did not return after its context ended")
	}

	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	go func() { _ = h.step(t, "s4") && h.step(t, "s2") }()
	s.FinishSessionEnds(fctx)

	h.mu.Lock()
	defer h.mu.Unlock()
	if want := []string{"s1", "s2", "s3", "s4", "s2"}; !slices.Equal(h.ended, want) {
		t.Errorf("sessions ended %v, want %v", h.ended, want)
	}
	if h.most != 1 {
		t.Errorf("%d EndSession calls ran at once, want 1", h.most)
	}
	if len(h.cut) != 0 {
		t.Errorf("calls cut short by the shutdown: %v", h.cut)
	}
}

// FinishSessionEnds stops when its context ends: Close bounds how long a
// process spends on them (the rest is replayed from the feed).
func TestFinishSessionEndsStopsWhenItsContextEnds(t *testing.T) {
	h := newHeldEnds(t)
	s := authserver.New(authserver.Deps{Logouts: h})
	s.EndSessionLater("s1")
	s.EndSessionLater("s2")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		ok := h.await(t, "s1")
		cancel()
		if !ok {
			close(h.release) // let whatever runs finish: the test has failed
			return
		}
		h.release <- struct{}{}
	}()
	s.FinishSessionEnds(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	if want := []string{"s1"}; !slices.Equal(h.ended, want) {
		t.Errorf("sessions ended %v, want %v", h.ended, want)
	}
}
