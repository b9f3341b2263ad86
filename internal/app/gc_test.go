package app_test

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// gatehouse serve paces the garbage collector with gc_headroom_mib (issue
// 15: Go's default pacing collected every few MB of requests), unless the
// operator set GOGC or turned it off; the previous setting comes back when
// serving ends.
func TestPaceGC(t *testing.T) {
	tests := []struct {
		name     string
		headroom int
		gogc     string
		paced    bool
	}{
		// A headroom far above the live heap of this test process, whose
		// parallel tests may hold more than the default 64 MiB (under
		// -race): at or below the live heap, pacing is Go's own (100).
		{"headroom paces", 4096, "", true},
		{"GOGC set: left alone", 4096, "200", false},
		{"GOGC=off: left alone", 4096, "off", false},
		{"headroom 0: left alone", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := debug.SetGCPercent(100)
			t.Cleanup(func() { debug.SetGCPercent(before) })
			a := &app.App{Config: config.Default()}
			a.Config.GCHeadroomMiB = tt.headroom
			ctx, cancel := context.WithCancel(context.Background())
			a.PaceGC(ctx, func(key string) string {
				if key == "GOGC" {
					return tt.gogc
				}
				return ""
			})
			wait := 300 * time.Millisecond
			if tt.paced {
				wait = 5 * time.Second
			}
			paced := eventuallyAbove100(wait)
			cancel()
			if paced != tt.paced {
				t.Fatalf("GC percent above Go's default while serving = %v, want %v (now %d)", paced, tt.paced, gcPercent())
			}
			deadline := time.Now().Add(5 * time.Second)
			for gcPercent() != 100 {
				if time.Now().After(deadline) {
					t.Fatalf("GC percent after serving = %d, want the previous 100", gcPercent())
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// eventuallyAbove100 reports whether the GC percent goes above 100 within d.
func eventuallyAbove100(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if gcPercent() > 100 {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

func gcPercent() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
