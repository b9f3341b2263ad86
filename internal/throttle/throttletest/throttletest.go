package throttletest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/throttle"
)

const window = 15 * time.Minute

// RunStoreTests runs the throttle.Store conformance suite. newStore must
// return an empty store of its own and register its cleanup with t.Cleanup.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) throttle.Store) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[throttle.Store]{
		{Name: "AddFailureCountsWithinWindow", Run: testAddFailure},
		{Name: "FailuresReportsCountAndLatest", Run: testFailures},
		{Name: "KeysAreIndependent", Run: testKeysIndependent},
		{Name: "ResetFailuresForgetsKey", Run: testReset},
		{Name: "ConcurrentFailuresAllCount", Run: testConcurrent},
		{Name: "ConcurrentFailuresCountDistinctly", Run: testConcurrentCounts},
		{Name: "RemoveFailureTakesBackOne", Run: testRemove},
		{Name: "AddFailureCountsLaterStamps", Run: testAddFailureLaterStamps},
	})
}

func base() time.Time { return time.Now().Truncate(time.Millisecond) }

func add(t *testing.T, s throttle.Store, key string, at time.Time) int {
	t.Helper()
	n, err := s.AddFailure(context.Background(), key, at, window)
	if err != nil {
		t.Fatalf("AddFailure(%s): %v", key, err)
	}
	return n
}

func failures(t *testing.T, s throttle.Store, key string, at time.Time) (int, time.Time) {
	t.Helper()
	n, latest, err := s.Failures(context.Background(), key, at, window)
	if err != nil {
		t.Fatalf("Failures(%s): %v", key, err)
	}
	return n, latest
}

func testAddFailure(t *testing.T, s throttle.Store) {
	now := base()
	tests := []struct {
		name string
		at   time.Time
		want int
	}{
		{"First", now, 1},
		{"Second", now.Add(time.Minute), 2},
		{"Third", now.Add(2 * time.Minute), 3},
		// now+W+90s: the first two (now, now+1m) have left the window.
		{"AfterWindowSlides", now.Add(window + 90*time.Second), 2},
	}
	for _, tt := range tests {
		if got := add(t, s, "acct-ip:alice|192.0.2.1", tt.at); got != tt.want {
			t.Fatalf("%s: AddFailure = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func testFailures(t *testing.T, s throttle.Store) {
	now := base()
	key := "acct:alice"
	n, latest := failures(t, s, key, now)
	if n != 0 || !latest.IsZero() {
		t.Fatalf("Failures(unknown) = %d, %v; want 0, zero time", n, latest)
	}
	add(t, s, key, now)
	add(t, s, key, now.Add(time.Minute))
	add(t, s, key, now.Add(2*time.Minute))

	tests := []struct {
		name       string
		at         time.Time
		wantN      int
		wantLatest time.Time
	}{
		{"AllInWindow", now.Add(3 * time.Minute), 3, now.Add(2 * time.Minute)},
		{"OldestLeft", now.Add(window + 30*time.Second), 2, now.Add(2 * time.Minute)},
		{"AllLeft", now.Add(window + 3*time.Minute), 0, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, latest := failures(t, s, key, tt.at)
			if got, want := n, tt.wantN; got != want {
				t.Errorf("count = %d, want %d", got, want)
			}
			if got, want := latest, tt.wantLatest; !got.Equal(want) {
				t.Errorf("latest = %v, want %v", got, want)
			}
		})
	}
}

func testKeysIndependent(t *testing.T, s throttle.Store) {
	now := base()
	add(t, s, "ip:192.0.2.1", now)
	add(t, s, "ip:192.0.2.1", now)
	add(t, s, "ip:192.0.2.2", now)
	for key, want := range map[string]int{"ip:192.0.2.1": 2, "ip:192.0.2.2": 1, "ip:192.0.2.3": 0} {
		if got, _ := failures(t, s, key, now); got != want {
			t.Errorf("Failures(%s) = %d, want %d", key, got, want)
		}
	}
}

func testReset(t *testing.T, s throttle.Store) {
	now := base()
	add(t, s, "acct-ip:alice|192.0.2.1", now)
	add(t, s, "acct-ip:alice|192.0.2.1", now)
	add(t, s, "acct:alice", now)
	if err := s.ResetFailures(context.Background(), "acct-ip:alice|192.0.2.1"); err != nil {
		t.Fatalf("ResetFailures: %v", err)
	}
	if got, _ := failures(t, s, "acct-ip:alice|192.0.2.1", now); got != 0 {
		t.Errorf("Failures after reset = %d, want 0", got)
	}
	if got, _ := failures(t, s, "acct:alice", now); got != 1 {
		t.Errorf("Failures(other key) after reset = %d, want 1", got)
	}
	if err := s.ResetFailures(context.Background(), "never-failed"); err != nil {
		t.Errorf("ResetFailures(unknown key): %v", err)
	}
	if got := add(t, s, "acct-ip:alice|192.0.2.1", now); got != 1 {
		t.Errorf("AddFailure after reset = %d, want 1", got)
	}
}

func testConcurrent(t *testing.T, s throttle.Store) {
	const workers = 20
	now := base() // the same instant for all: failures must not collapse
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.AddFailure(context.Background(), "ip:192.0.2.9", now, window); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("AddFailure: %v", errs)
	}
	if got, _ := failures(t, s, "ip:192.0.2.9", now); got != workers {
		t.Fatalf("Failures = %d, want %d", got, workers)
	}
}

// testConcurrentCounts: the counts AddFailure returns to concurrent callers
// are 1..N, each once. Limiter.Attempt relies on it: of N attempts at once
// only those whose count fits under the limit go ahead.
func testConcurrentCounts(t *testing.T, s throttle.Store) {
	const workers = 20
	now := base()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts []int
		errs   []error
	)
	for range workers {
		wg.Go(func() {
			n, err := s.AddFailure(context.Background(), "acct-ip:alice|192.0.2.9", now, window)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			counts = append(counts, n)
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("AddFailure: %v", errs)
	}
	slices.Sort(counts)
	for i, n := range counts {
		if n != i+1 {
			t.Fatalf("counts returned to %d concurrent AddFailure calls = %v, want 1..%d each once", workers, counts, workers)
		}
	}
}

// testRemove: RemoveFailure takes back one failure of that instant and
// leaves the others (of that instant too) and other keys alone; an
// instant or key without failures is no error.
func testRemove(t *testing.T, s throttle.Store) {
	ctx := context.Background()
	now := base()
	key := "acct:alice"
	add(t, s, key, now)
	add(t, s, key, now.Add(time.Second))
	add(t, s, key, now.Add(time.Second))
	add(t, s, "acct:bob", now.Add(time.Second))
	at := now.Add(2 * time.Second)

	if err := s.RemoveFailure(ctx, key, now.Add(time.Second)); err != nil {
		t.Fatalf("RemoveFailure: %v", err)
	}
	if n, latest := failures(t, s, key, at); n != 2 || !latest.Equal(now.Add(time.Second)) {
		t.Fatalf("after removing one of two at one instant: %d failures, latest %v; want 2, %v", n, latest, now.Add(time.Second))
	}
	if err := s.RemoveFailure(ctx, key, now.Add(time.Second)); err != nil {
		t.Fatalf("RemoveFailure: %v", err)
	}
	if n, latest := failures(t, s, key, at); n != 1 || !latest.Equal(now) {
		t.Fatalf("after removing both: %d failures, latest %v; want 1, %v", n, latest, now)
	}
	if n, _ := failures(t, s, "acct:bob", at); n != 1 {
		t.Fatalf("other key after RemoveFailure = %d failures, want 1", n)
	}
	for _, tt := range []struct {
		name, key string
		at        time.Time
	}{
		{"NoFailureThen", key, now.Add(time.Minute)},
		{"UnknownKey", "acct:nobody", now},
	} {
		if err := s.RemoveFailure(ctx, tt.key, tt.at); err != nil {
			t.Errorf("%s: RemoveFailure = %v, want nil", tt.name, err)
		}
	}
	if n, _ := failures(t, s, key, at); n != 1 {
		t.Fatalf("after removing nothing: %d failures, want 1", n)
	}
	if err := s.RemoveFailure(ctx, key, now); err != nil {
		t.Fatalf("RemoveFailure: %v", err)
	}
	if got := add(t, s, key, at); got != 1 {
		t.Fatalf("AddFailure after removing every failure = %d, want 1", got)
	}
}

// testAddFailureLaterStamps: concurrent attempts read the clock before they
// count, so an attempt stamped earlier can count after one stamped later;
// its count must include the later one, or both pass a limit of one.
func testAddFailureLaterStamps(t *testing.T, s throttle.Store) {
	now := base()
	const key = "acct-ip:alice|192.0.2.1"
	if got := add(t, s, key, now.Add(time.Second)); got != 1 {
		t.Fatalf("AddFailure stamped now+1s = %d, want 1", got)
	}
	if got := add(t, s, key, now); got != 2 {
		t.Errorf("AddFailure stamped now, after one stamped now+1s = %d, want 2", got)
	}
}
