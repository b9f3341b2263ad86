package metrics_test

import (
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/metrics"
)

// gathered returns, for each series of the family name, its labels as
// name=value joined with "," (in the registry's order: by name) and its
// count (a counter's value, a histogram's sample count).
func gathered(t *testing.T, m *metrics.Metrics, name string) map[string]float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			key := ""
			for i, l := range s.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += l.GetName() + "=" + l.GetValue()
			}
			switch {
			case s.GetCounter() != nil:
				out[key] = s.GetCounter().GetValue()
			case s.GetHistogram() != nil:
				out[key] = float64(s.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// TestResolvedSeriesCount: the decision counter and the store latency
// histogram count every call under its own label values, however often a
// pair repeats and in whatever order pairs first appear.
func TestResolvedSeriesCount(t *testing.T) {
	m := metrics.New()
	for range 3 {
		m.Decision("token", "allow")
	}
	m.Decision("session", "unauthorized")
	m.StoreOp("redis", "get", time.Millisecond)
	m.StoreOp("redis", "get", 2*time.Millisecond)
	m.StoreOp("sqlite", "get", time.Millisecond)
	for name, want := range map[string]map[string]float64{
		"gatehouse_auth_decisions_total":   {"method=token,outcome=allow": 3, "method=session,outcome=unauthorized": 1},
		"gatehouse_store_duration_seconds": {"op=get,store=redis": 2, "op=get,store=sqlite": 1},
	} {
		got := gathered(t, m, name)
		if len(got) != len(want) {
			t.Errorf("%s: series %v, want %v", name, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s{%s} = %v, want %v", name, k, got[k], v)
			}
		}
	}
}

// TestResolvedSeriesDoNotAllocate: once a pair is resolved, counting it
// allocates nothing (it runs on every gateway request).
func TestResolvedSeriesDoNotAllocate(t *testing.T) {
	m := metrics.New()
	m.Decision("token", "allow")
	if n := testing.AllocsPerRun(100, func() { m.Decision("token", "allow") }); n != 0 {
		t.Errorf("Decision allocates %v times per call, want 0", n)
	}
}

// BenchmarkDecisionParallel is the decision counter of every gateway
// request and forward-auth decision, on every core at once (compare -cpu
// 1,2).
func BenchmarkDecisionParallel(b *testing.B) {
	m := metrics.New()
	b.ReportAllocs()
	b.ResetTimer() // building the registry is set-up, not a decision
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Decision("token", "allow")
		}
	})
}
