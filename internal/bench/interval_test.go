package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// rounds builds a mode's per-round figures: CPU/req of each round, at
// 1,000 req/s unless rps says otherwise.
func rounds(cpu []float64, rps ...float64) ModeResult {
	m := ModeResult{RoundCPUMicros: cpu}
	for i := range cpu {
		r := 1000.0
		if i < len(rps) {
			r = rps[i]
		}
		m.RoundRPS = append(m.RoundRPS, r)
	}
	return m
}

func TestEfficiencyInterval(t *testing.T) {
	steady := rounds([]float64{60, 60, 60, 60, 60, 60, 60, 60, 60, 60})
	// The machine's load doubles the CPU/req of every process in some
	// rounds; the mode costs 10 % more than the reference in each round.
	drifting := rounds([]float64{50, 100, 50, 100, 70, 50, 100, 60, 90, 50})
	tracking := rounds([]float64{55, 110, 55, 110, 77, 55, 110, 66, 99, 55})
	// The same figures, not in step with the reference's rounds.
	shuffled := rounds([]float64{110, 55, 110, 55, 55, 110, 55, 99, 66, 77})
	tests := []struct {
		name      string
		ref, m    ModeResult
		want      []float64 // nil: no interval
		widerThan float64   // when want is not given: the interval is at least this wide
	}{
		// The interval is rounded outward to two decimals: 0.8996 gives
		// [0.89, 0.90], never [0.90, 0.90], which would claim 0.90.
		{"steady rounds: the interval is the point", steady, rounds([]float64{66.7, 66.7, 66.7, 66.7, 66.7, 66.7, 66.7, 66.7, 66.7, 66.7}),
			[]float64{0.89, 0.9}, 0},
		{"load that moves both sides cancels out", drifting, tracking, []float64{0.9, 0.91}, 0},
		{"rounds out of step with the reference give a wide interval", drifting, shuffled, nil, 0.1},
		{"rounds of unequal requests are weighted by them",
			rounds([]float64{60, 60, 60, 60, 60}), rounds([]float64{60, 60, 60, 60, 120}, 1000, 1000, 1000, 1000, 0.001),
			[]float64{0.99, 1}, 0},
		{"too few rounds", rounds([]float64{60, 60, 60, 60}), rounds([]float64{66, 66, 66, 66}), nil, -1},
		{"unequal numbers of rounds", steady, rounds([]float64{66, 66, 66, 66, 66}), nil, -1},
		{"a round without CPU", steady, ModeResult{RoundRPS: steady.RoundRPS, RoundCPUMicros: steady.RoundCPUMicros[1:]}, nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := efficiencyInterval(tt.ref, tt.m)
			switch {
			case tt.want != nil:
				if !slices.Equal(got, tt.want) {
					t.Errorf("interval = %v, want %v", got, tt.want)
				}
			case tt.widerThan < 0:
				if got != nil {
					t.Errorf("interval = %v, want none", got)
				}
			default:
				if len(got) != 2 || got[1]-got[0] < tt.widerThan || got[0] > 0.91 || got[1] < 0.91 {
					t.Errorf("interval = %v, want one at least %.2f wide around 0.91", got, tt.widerThan)
				}
			}
			if again := efficiencyInterval(tt.ref, tt.m); !slices.Equal(again, got) {
				t.Errorf("second computation = %v, first %v: the interval must be reproducible", again, got)
			}
		})
	}
}

// Efficiency is the report's point figure (total CPU over total requests on
// each side) with efficiencyInterval's interval, from bare rounds.
func TestEfficiency(t *testing.T) {
	toRounds := func(m ModeResult) []Round {
		var rs []Round
		for i := range m.RoundCPUMicros {
			rs = append(rs, Round{Requests: m.RoundRPS[i], CPUMicros: m.RoundCPUMicros[i]})
		}
		return rs
	}
	ref := rounds([]float64{50, 100, 50, 100, 70, 50, 100, 60, 90, 50})
	m := rounds([]float64{55, 110, 55, 110, 77, 55, 110, 66, 99, 55})
	eff, interval, ok := Efficiency(toRounds(ref), toRounds(m))
	if !ok || round2(eff) != 0.91 || !slices.Equal(interval, efficiencyInterval(ref, m)) {
		t.Errorf("Efficiency = %v %v %v, want 0.91 with efficiencyInterval's %v", eff, interval, ok, efficiencyInterval(ref, m))
	}
	// Weighted by requests: a round that served almost nothing barely counts.
	eff, _, _ = Efficiency([]Round{{1000, 60}, {1000, 60}}, []Round{{1000, 60}, {0.001, 600}})
	if round2(eff) != 1 {
		t.Errorf("Efficiency with a near-empty slow round = %v, want 1", eff)
	}
	if _, interval, ok := Efficiency([]Round{{1000, 60}}, []Round{{1000, 66}}); !ok || interval != nil {
		t.Errorf("one round: interval %v, ok %v; want no interval, ok", interval, ok)
	}
	if _, _, ok := Efficiency([]Round{{1000, 60}}, []Round{{0, 0}}); ok {
		t.Error("a mode without CPU figures: ok, want not ok")
	}
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

func TestJudge(t *testing.T) {
	tests := []struct {
		interval []float64
		want     Verdict
	}{
		{[]float64{0.90, 0.95}, Met},
		{[]float64{0.91, 0.95}, Met},
		{[]float64{0.85, 0.89}, Missed},
		{[]float64{0.85, 0.90}, Undecided},
		{[]float64{0.88, 0.93}, Undecided},
		{nil, Undecided},
	}
	for _, tt := range tests {
		if got := Judge(tt.interval, 0.90); got != tt.want {
			t.Errorf("Judge(%v, 0.90) = %v, want %v", tt.interval, got, tt.want)
		}
	}
}

func TestRounds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{100 * time.Millisecond, 1},
		{time.Second, 2},
		{5 * time.Second, 10},
		{10 * time.Second, 10}, // the default
		{11 * time.Second, 11},
		{60 * time.Second, 60},
		{time.Hour, maxRounds},
	}
	for _, tt := range tests {
		if got := (Options{Duration: tt.d}).rounds(); got != tt.want {
			t.Errorf("rounds for %s = %d, want %d", tt.d, got, tt.want)
		}
	}
}

func TestTargetNote(t *testing.T) {
	mode := func(name, kind string, lo, hi float64) ModeResult {
		return ModeResult{Name: name, Kind: kind, CPUEfficiency: (lo + hi) / 2, CPUEfficiencyInterval: []float64{lo, hi}}
	}
	rep := &Report{Modes: []ModeResult{
		{Name: ModeBare, Kind: KindBaseline, CPUEfficiency: 1},
		mode("none", KindNone, 0.95, 1.02),
		mode("token-HS256", KindToken, 0.86, 0.97),
		mode("session-sqlite", KindSession, 0.80, 0.89),
		{Name: "token-RS256", Kind: KindToken, CPUEfficiency: 0.91}, // no interval: not judged
		mode("token-ES256-nocache", KindToken, 0.30, 0.34),          // no cache: not a default setup
		{Name: "session-redis", Kind: KindSession, Skipped: "no Redis"},
	}}
	got := targetNote(rep)
	want := "Issue 15's CPU efficiency targets against bare-proxy, judged by the 95 % interval: met: none (≥ 0.95); " +
		"missed: session-sqlite (≥ 0.90); neither met nor missed (the target is inside the interval): token-HS256 (≥ 0.90)."
	if got != want {
		t.Errorf("note =\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(got, "RS256") || strings.Contains(got, "nocache") {
		t.Error("a mode without an interval or without its cache was judged")
	}
	if got := targetNote(&Report{Modes: rep.Modes[4:]}); got != "" {
		t.Errorf("note without intervals = %q, want none", got)
	}
}

// The printed interval is rounded to two decimals; the verdict must not
// claim more than the bootstrap found. A mode at 0.897 in every round (no
// noise) is below 0.90, so it cannot have met 0.90.
func TestVerdictNotDecidedByRounding(t *testing.T) {
	steady := func(cpu float64) []Round {
		var rs []Round
		for range 10 {
			rs = append(rs, Round{Requests: 1000, CPUMicros: cpu})
		}
		return rs
	}
	tests := []struct {
		name     string
		ref, m   float64 // CPU µs per request, every round
		target   float64
		not      Verdict // the verdict that would be wrong
		contains float64 // the printed interval must contain the true efficiency
	}{
		{"0.897 has not met 0.90", 89.7, 100, 0.90, Met, 0.897},
		{"0.947 has not met 0.95", 94.7, 100, 0.95, Met, 0.947},
		{"0.904 has not missed 0.903", 90.4, 100, 0.903, Missed, 0.904},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, interval, ok := Efficiency(steady(tt.ref), steady(tt.m))
			if !ok || len(interval) != 2 {
				t.Fatalf("Efficiency: interval %v, ok %v", interval, ok)
			}
			if got := Judge(interval, tt.target); got == tt.not {
				t.Errorf("Judge(%v, %.3f) = %v for an efficiency of %.4f", interval, tt.target, got, tt.contains)
			}
			if interval[0] > tt.contains || interval[1] < tt.contains {
				t.Errorf("interval %v does not contain the efficiency %.4f", interval, tt.contains)
			}
		})
	}
}

// A mode whose requests failed (401, 404, 502 answered fast) or whose
// reference's did is not judged against its target: failures are cheap,
// and counted as requests they make a mode look efficient.
func TestTargetNoteSkipsFailedRequests(t *testing.T) {
	mode := func(name, kind string, lo, hi float64, errs int64) ModeResult {
		return ModeResult{Name: name, Kind: kind, CPUEfficiency: (lo + hi) / 2, CPUEfficiencyInterval: []float64{lo, hi},
			Requests: 1000, Errors: errs, FirstError: "status 401"}
	}
	rep := &Report{Modes: []ModeResult{
		{Name: ModeBare, Kind: KindBaseline, CPUEfficiency: 1, Requests: 1000},
		mode("none", KindNone, 0.96, 1.02, 0),
		mode("token-ES256", KindToken, 1.40, 1.60, 600),
	}}
	got := targetNote(rep)
	if strings.Contains(got, "token-ES256 (≥ 0.90)") && !strings.Contains(got, "not judged") {
		t.Errorf("a mode with failed requests was judged:\n%s", got)
	}
	if !strings.Contains(got, "met: none (≥ 0.95)") {
		t.Errorf("the mode without failures was not judged:\n%s", got)
	}
	if !strings.Contains(got, "not judged") || !strings.Contains(got, "token-ES256") {
		t.Errorf("the note does not say token-ES256 was not judged:\n%s", got)
	}

	rep.Modes[0].Errors = 10 // the reference failed: nothing is judged against it
	got = targetNote(rep)
	if strings.Contains(got, "met:") || strings.Contains(got, "missed:") {
		t.Errorf("modes judged against a reference with failed requests:\n%s", got)
	}
}

// The token modes' access token is issued once, at set-up, and sent on
// every request of the run: it must not expire before the run ends, or
// the rounds after access_ttl (10 minutes by default; --duration 60s with
// every mode runs for more than 15) measure 401s, which cost far less
// than a proxied request and make a token mode look efficient.
func TestTokenModesOutliveTheRun(t *testing.T) {
	for _, d := range []time.Duration{10 * time.Second, time.Minute, 10 * time.Minute} {
		opt := Options{Duration: d}.withDefaults()
		r := &runner{opt: opt, upstream: &proc{URL: "http://127.0.0.1:1"}, dir: t.TempDir(), hmacSecret: "secret"}
		run := time.Duration(len(allModes())) * (opt.Warmup + opt.Duration)
		for _, m := range allModes() {
			if m.kind != KindToken {
				continue
			}
			cfg, err := r.baseConfig(m.name)
			if err != nil {
				t.Fatal(err)
			}
			m.configure(&cfg, r)
			if ttl := cfg.Tokens.AccessTTL.D(); ttl <= run {
				t.Errorf("--duration %s: %s's access_ttl %s is shorter than the run (%s of load alone)", d, m.name, ttl, run)
			}
		}
	}
}
