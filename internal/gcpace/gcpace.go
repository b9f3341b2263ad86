package gcpace

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// runtimeHeapMinimum is the runtime's heap goal floor at GC percent 100
// (defaultHeapMinimum in runtime/mgcpacer.go). The runtime scales it with
// the percent: at percent P no collection starts below 4 MiB × P/100.
const runtimeHeapMinimum = 4 << 20

// Percent is the GC percent that puts the next collection's heap goal at
// the live heap plus headroom, and never below Go's default of 100 (a live
// heap larger than the headroom keeps Go's pacing). The runtime's goal at
// percent P is max(live × (1 + P/100), 4 MiB × P/100); dividing by the
// live heap but by no less than 4 MiB keeps that second term at the
// headroom, so a tiny (or not yet measured) live heap does not get a huge
// percent and with it a huge floor.
func Percent(live, headroom uint64) int {
	base := max(live, runtimeHeapMinimum)
	p := (headroom*100 + base - 1) / base // round up: at least the headroom
	switch {
	case p < 100:
		return 100
	case p > math.MaxInt32:
		return math.MaxInt32
	}
	return int(p)
}

// liveHeap is the metric the runtime's own pacer starts from: heap bytes
// marked live by the last collection.
const liveHeap = "/gc/heap/live:bytes"

// Run sets the GC percent from the live heap now and then every period
// until ctx ends, and restores the previous setting when it returns.
// headroom 0 returns at once, leaving Go's pacing alone.
func Run(ctx context.Context, headroom uint64, period time.Duration) {
	if headroom == 0 {
		return
	}
	sample := []metrics.Sample{{Name: liveHeap}}
	set := func() int {
		metrics.Read(sample)
		var live uint64
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = sample[0].Value.Uint64()
		}
		return debug.SetGCPercent(Percent(live, headroom))
	}
	before := set()
	defer debug.SetGCPercent(before)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			set()
		}
	}
}
