package bench

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Interval bootstrap settings. The seed is fixed so that the same rounds
// always give the same interval: a report can be recomputed from its JSON.
const (
	intervalResamples = 2000
	intervalMinRounds = 5 // fewer rounds give no interval worth printing
	intervalSeed1     = 0x9e3779b97f4a7c15
	intervalSeed2     = 0x6a09e667f3bcc909
)

// efficiencyInterval is the 95 % interval of the CPU efficiency of m
// against ref (ref's CPU per request divided by m's), by a percentile
// bootstrap over the rounds: each resample draws rounds with replacement
// and keeps a round's two slices together, so that a load change on the
// machine, which moves both, cancels out as it does in the point figure.
// Each side's CPU per request over a resample is the mean of its rounds'
// CPU/req weighted by their requests (all slices of a run are equally
// long, so requests/s stands in for requests) — the point figure's own
// formula, total CPU over total requests.
//
// It returns nil when the two modes do not have the same number of rounds,
// each with its CPU known, or have fewer than intervalMinRounds: a run cut
// short by its request budget, an interruption or an unreadable /proc.
func efficiencyInterval(ref, m ModeResult) []float64 {
	n := len(m.RoundRPS)
	if n < intervalMinRounds || len(m.RoundCPUMicros) != n || len(ref.RoundRPS) != n || len(ref.RoundCPUMicros) != n {
		return nil
	}
	rng := rand.New(rand.NewPCG(intervalSeed1, intervalSeed2))
	ratios := make([]float64, 0, intervalResamples)
	for range intervalResamples {
		var refCPU, refReq, cpu, req float64
		for range n {
			i := rng.IntN(n)
			refCPU += ref.RoundCPUMicros[i] * ref.RoundRPS[i]
			refReq += ref.RoundRPS[i]
			cpu += m.RoundCPUMicros[i] * m.RoundRPS[i]
			req += m.RoundRPS[i]
		}
		if refReq <= 0 || req <= 0 || cpu <= 0 {
			return nil
		}
		ratios = append(ratios, (refCPU/refReq)/(cpu/req))
	}
	slices.Sort(ratios)
	lo, hi := ratios[intervalResamples/40], ratios[intervalResamples-1-intervalResamples/40]
	// Rounded outward, so that the two decimals the reports print still
	// hold the whole bootstrap interval and Judge, which reads these
	// figures, never calls a target met or missed that the unrounded
	// interval straddles (0.897 rounded to 0.90 "met" 0.90).
	return []float64{floor2(lo), ceil2(hi)}
}

// floor2 and ceil2 round to two decimals down and up; the slack absorbs
// binary fractions such as 0.9*100 = 90.00000000000001.
func floor2(v float64) float64 { return math.Floor(v*100+1e-9) / 100 }
func ceil2(v float64) float64  { return math.Ceil(v*100-1e-9) / 100 }

// Round is one mode's slice of an interleaved round: how many requests it
// served (requests per second serves as well: only proportions matter) and
// its CPU µs per request.
type Round struct{ Requests, CPUMicros float64 }

// Efficiency is the CPU efficiency of m against ref over rounds paired by
// index — ref's CPU per request divided by m's, each the total CPU over the
// total requests, as gatehouse bench reports it — and its 95 % interval
// (nil when the rounds allow none: fewer than five, unequal in number, or
// without requests or CPU): gatehouse bench's formula and its
// efficiencyInterval, for rounds measured elsewhere —
// scripts/bench-gateway.sh gets its figures from it through `gatehouse
// bench fixture efficiency`. ok is false when either side has no CPU figure.
func Efficiency(ref, m []Round) (eff float64, interval []float64, ok bool) {
	r, mm := roundsResult(ref), roundsResult(m)
	if r.CPUMicros <= 0 || mm.CPUMicros <= 0 {
		return 0, nil, false
	}
	return r.CPUMicros / mm.CPUMicros, efficiencyInterval(r, mm), true
}

// roundsResult is the part of a ModeResult that rounds determine: the
// per-round figures and the CPU per request over all of them.
func roundsResult(rounds []Round) ModeResult {
	var m ModeResult
	var cpu, req float64
	for _, r := range rounds {
		m.RoundRPS = append(m.RoundRPS, r.Requests)
		m.RoundCPUMicros = append(m.RoundCPUMicros, r.CPUMicros)
		cpu += r.CPUMicros * r.Requests
		req += r.Requests
	}
	if req > 0 {
		m.CPUMicros = cpu / req
	}
	return m
}

// Verdict is what a CPU efficiency's 95 % interval says of a target.
type Verdict int

// The verdicts: the whole interval at or above the target, the whole
// interval below it, or the target inside it.
const (
	Undecided Verdict = iota
	Met
	Missed
)

// Judge says whether interval (low, high) meets target; Undecided also
// when there is no interval.
func Judge(interval []float64, target float64) Verdict {
	switch {
	case len(interval) != 2:
		return Undecided
	case interval[0] >= target:
		return Met
	case interval[1] < target:
		return Missed
	}
	return Undecided
}

// String is the verdict as the reports print it.
func (v Verdict) String() string {
	switch v {
	case Met:
		return "met"
	case Missed:
		return "missed"
	}
	return "undecided"
}
