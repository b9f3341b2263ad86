package clocktest_test

import (
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

func TestClockMovesOnlyWhenAdvanced(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := clocktest.New(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want %v", got, start)
	}
	c.Advance(90 * time.Second)
	c.Advance(-30 * time.Second)
	if got, want := c.Now(), start.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("Now() after advancing = %v, want %v", got, want)
	}
}

func TestClockConcurrentUse(t *testing.T) {
	c := clocktest.New(time.Unix(0, 0))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), time.Unix(800, 0); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
}

func TestWithin(t *testing.T) {
	tests := []struct {
		name  string
		after int // cond holds from this call on; -1 never
		want  bool
	}{
		{"HoldsAtOnce", 0, true},
		{"HoldsLater", 3, true},
		{"NeverHolds", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			got := clocktest.Within(200*time.Millisecond, func() bool {
				calls++
				return tt.after >= 0 && calls > tt.after
			})
			if got != tt.want {
				t.Errorf("Within = %v, want %v (after %d calls)", got, tt.want, calls)
			}
		})
	}
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	clocktest.Eventually(t, "the third call", func() bool { calls++; return calls == 3 })
	if calls != 3 {
		t.Errorf("cond called %d times, want 3", calls)
	}
}
