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
		{"small heap gets the headroom", 10 * mib, 64 * mib, 640},
		{"rounds up so the headroom is never short", 7 * mib, 64 * mib, 915},
		{"live heap under the runtime's 4 MiB floor", 3*mib + 512<<10, 64 * mib, 1600},
		{"heap as large as the headroom keeps Go's default", 64 * mib, 64 * mib, 100},
		{"large heap keeps Go's default", 512 * mib, 64 * mib, 100},
		{"tiny heap: the runtime's floor carries the headroom", 100 << 10, 64 * mib, 1600},
		{"nothing measured yet", 0, 64 * mib, 1600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Percent(tt.live, tt.headroom)
			if got != tt.want {
				t.Fatalf("Percent(%d, %d) = %d, want %d", tt.live, tt.headroom, got, tt.want)
			}
			// The runtime's heap goal at that percent (runtime/mgcpacer.go):
			// at least the headroom above the live heap, or Go's default
			// when the live heap is larger than the headroom; and never far
			// above live + headroom.
			p := uint64(got)
			goal := max(tt.live+tt.live*p/100, runtimeHeapMinimum*p/100)
			if got > 100 && goal < tt.headroom {
				t.Errorf("heap goal %d MiB is under the headroom", goal/mib)
			}
			if goal > tt.live+tt.headroom+tt.live/50+mib && got > 100 {
				t.Errorf("heap goal %d MiB is above live + headroom (%d MiB)", goal/mib, (tt.live+tt.headroom)/mib)
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
