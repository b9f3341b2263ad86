package gcpace

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// maxPercent bounds the GC percent the pacer sets: with a live heap under
// headroom/maxPercent×100 the heap may grow by less than the headroom,
// which only happens for toy heaps (under 640 KiB at 64 MiB headroom).
const maxPercent = 10000

// Percent is the GC percent that lets a heap with live bytes grow by at
// least headroom bytes before the next collection, and never less than
// Go's default of 100 (a large heap keeps Go's pacing).
func Percent(live, headroom uint64) int {
	if live == 0 {
		return maxPercent
	}
	p := (headroom*100 + live - 1) / live // round up: at least headroom
	switch {
	case p < 100:
		return 100
	case p > maxPercent:
		return maxPercent
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
