package soak

import (
	"fmt"
	"html"
	"slices"
	"sort"
	"strings"
	"time"
)

// growthCheck says whether one instance's memory or goroutines grew.
type growthCheck struct {
	instance, what, detail string
	growing                bool
}

// growth compares, per instance, the median of the last quarter of the
// samples with the median of the second quarter (the first is warm-up).
// Growing means more than +50% and more than 32 MiB (RSS) or 100
// goroutines: a leak, not noise. An instance that restarted is judged on
// its samples before the restart.
func (r *Result) growth() []growthCheck {
	var out []growthCheck
	for _, name := range r.Instances {
		var rss, gor []float64
		for _, s := range r.samplesBeforeRestart(name) {
			rss = append(rss, s.RSSBytes)
			gor = append(gor, s.Goroutines)
		}
		if len(rss) < 8 {
			continue
		}
		for _, m := range []struct {
			what  string
			v     []float64
			floor float64
			unit  func(float64) string
		}{
			{"RSS", rss, 32 << 20, func(v float64) string { return fmt.Sprintf("%.0f MiB", v/(1<<20)) }},
			{"goroutines", gor, 100, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
		} {
			q := len(m.v) / 4
			early, late := median(m.v[q:2*q]), median(m.v[len(m.v)-q:])
			out = append(out, growthCheck{
				instance: name, what: m.what,
				detail:  fmt.Sprintf("%s → %s", m.unit(early), m.unit(late)),
				growing: late > early*1.5 && late-early > m.floor,
			})
		}
	}
	return out
}

// samplesBeforeRestart returns name's samples up to the first drop of its
// RSS to under half (a restart), or all of them.
func (r *Result) samplesBeforeRestart(name string) []Sample {
	var out []Sample
	for _, s := range r.Samples {
		if s.Instance != name {
			continue
		}
		if n := len(out); n > 0 && s.RSSBytes < out[n-1].RSSBytes/2 {
			break
		}
		out = append(out, s)
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(int(p*float64(len(s))), len(s)-1)]
}

func (r *Result) markdown(svgName string) string {
	var b strings.Builder
	verdict := "PASS"
	if len(r.Failures()) > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "# Soak test: %s\n\n", verdict)
	fmt.Fprintf(&b, "`make soak` (issue 17): three `gatehouse serve` processes on a private 6-node Redis Cluster "+
		"(3 primaries + 3 replicas) and PostgreSQL behind PgBouncer (transaction pooling), a mixed load of logins, "+
		"gateway calls with sessions and tokens, refreshes (one in three raced on two instances), access-token "+
		"revocations and logouts, while faults hit on a schedule. Run of %s (%s).\n\n",
		r.End.Sub(r.Start).Round(time.Second), r.Start.UTC().Format("2006-01-02 15:04 UTC"))
	b.WriteString("| check | result | pass when |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| requests allowed after an acknowledged logout/revocation | %d (of %d revocations checked on every instance) | 0 |\n", r.WronglyAllowed, r.Revocations)
	fmt.Fprintf(&b, "| refresh tokens with two successors | %d (of %d concurrent double refreshes) | 0 |\n", r.DoubleSuccessors, r.RefreshRaces)
	fmt.Fprintf(&b, "| 5xx / transport errors outside fault windows | %d (%d inside windows, expected) | 0 |\n", r.ErrorsOutside, r.ErrorsInside)
	for _, g := range r.growth() {
		state := "flat"
		if g.growing {
			state = "GROWING"
		}
		fmt.Fprintf(&b, "| %s %s (2nd quarter → last quarter, median) | %s, %s | flat |\n", g.instance, g.what, g.detail, state)
	}
	fmt.Fprintf(&b, "\nRequests: %d. Revocation propagation to the other instances (acknowledgement → first refusal, %d measurements): "+
		"p50 %s, p99 %s, max %s (contract: ≤ 1 s).\n\n",
		r.Requests, len(r.Propagation), ms(percentile(r.Propagation, 0.5)),
		ms(percentile(r.Propagation, 0.99)), ms(percentile(r.Propagation, 1)))
	b.WriteString("## Faults\n\n| fault | at | error window |\n|---|---|---|\n")
	for _, f := range r.Faults {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", f.Name, f.Start.Sub(r.Start).Round(time.Second), f.End.Sub(f.Start).Round(100*time.Millisecond))
	}
	b.WriteString("\nA window lasts from the fault until every instance's `/readyz` answers 200 again " +
		"(and, for Redis, every primary has a replica again, since logouts wait for one), plus 2 s. " +
		"Inside it, requests that need the failed part answer 503 — never an allow.\n")
	if len(r.ErrorExamples) > 0 {
		b.WriteString("\nErrors outside fault windows (first few):\n\n")
		for _, e := range r.ErrorExamples {
			fmt.Fprintf(&b, "- `%s`\n", e)
		}
	}
	fmt.Fprintf(&b, "\n## Memory and goroutines\n\n![RSS and goroutines per instance over time, fault windows shaded](%s)\n", svgName)
	return b.String()
}

// svg draws RSS (MiB) and goroutines per instance over time, one panel each,
// with the fault windows shaded.
func (r *Result) svg() string {
	const w, ph, left, top, gap = 900, 220, 70, 30, 60
	total := r.End.Sub(r.Start).Seconds()
	if total <= 0 {
		total = 1
	}
	colors := []string{"#1f77b4", "#d62728", "#2ca02c"}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w+left+20, top+2*ph+gap+50)
	x := func(sec float64) float64 { return left + sec/total*w }
	for p, panel := range []struct {
		title string
		val   func(Sample) float64
	}{
		{"RSS (MiB)", func(s Sample) float64 { return s.RSSBytes / (1 << 20) }},
		{"goroutines", func(s Sample) float64 { return s.Goroutines }},
	} {
		y0 := float64(top + p*(ph+gap))
		maxV := 1.0
		for _, s := range r.Samples {
			maxV = max(maxV, panel.val(s))
		}
		maxV *= 1.1
		y := func(v float64) float64 { return y0 + ph - v/maxV*ph }
		for _, f := range r.Faults {
			a, e := f.Start.Sub(r.Start).Seconds(), f.End.Sub(r.Start).Seconds()
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="#f5c6cb" opacity="0.6"/>`+"\n", x(a), y0, max(x(e)-x(a), 2), ph)
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", left, y0, w, ph)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f">%s</text>`+"\n", left, y0-8, html.EscapeString(panel.title))
		for _, frac := range []float64{0, 0.5, 1} {
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%.0f</text>`+"\n", left-6, y(maxV*frac)+4, maxV*frac)
		}
		for k, name := range r.Instances {
			var pts []string
			for _, s := range r.Samples {
				if s.Instance == name {
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.At.Seconds()), y(panel.val(s))))
				}
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", colors[k%len(colors)], strings.Join(pts, " "))
		}
	}
	yAxis := top + 2*ph + gap + 20
	for _, frac := range []float64{0, 0.25, 0.5, 0.75, 1} {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(total*frac), yAxis-5, time.Duration(total*frac*float64(time.Second)).Round(time.Second).String())
	}
	for k, name := range r.Instances {
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s</text>`+"\n", left+k*160, yAxis+20, colors[k%len(colors)], html.EscapeString(name))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#a94442">shaded: fault windows</text>`+"\n", left+3*160, yAxis+20)
	b.WriteString("</svg>\n")
	return b.String()
}
