package gcpace

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name           string
		live, headroom uint64
		want           int
	}{
		{"small heap gets the headroom", 4 * mib, 64 * mib, 1600},
		{"rounds up so the headroom is never short", 3 * mib, 64 * mib, 2134},
		{"heap as large as the headroom keeps Go's default", 64 * mib, 64 * mib, 100},
		{"large heap keeps Go's default", 512 * mib, 64 * mib, 100},
		{"toy heap is capped", 100 << 10, 64 * mib, maxPercent},
		{"nothing measured yet is capped", 0, 64 * mib, maxPercent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Percent(tt.live, tt.headroom)
			if got != tt.want {
				t.Fatalf("Percent(%d, %d) = %d, want %d", tt.live, tt.headroom, got, tt.want)
			}
			if got < maxPercent && tt.live*uint64(got)/100 < tt.headroom && got != 100 {
				t.Fatalf("Percent(%d, %d) = %d leaves less than the headroom", tt.live, tt.headroom, got)
			}
		})
	}
}

// TestRunSetsAndRestores checks the setting a process sees: while Run runs
// the GC percent is above Go's default for this test binary's small heap,
// and the previous value comes back when it ends.
func TestRunSetsAndRestores(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Run(ctx, 1<<30, time.Millisecond) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if p := gcPercent(); p > 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GC percent still %d while Run runs with 1 GiB headroom", gcPercent())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if p := gcPercent(); p != 100 {
		t.Fatalf("GC percent after Run = %d, want the previous 100", p)
	}
}

// gcPercent reads the setting without changing it (debug.SetGCPercent
// would, for a moment, and race with Run).
func gcPercent() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestRunZeroHeadroomLeavesPacingAlone(t *testing.T) {
	before := debug.SetGCPercent(150)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	Run(context.Background(), 0, time.Millisecond) // returns at once
	if p := gcPercent(); p != 150 {
		t.Fatalf("GC percent = %d after Run with headroom 0, want 150 untouched", p)
	}
}
