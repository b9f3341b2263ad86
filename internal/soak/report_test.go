package soak

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// result builds a run of 40 samples of one instance with RSS from rss(i).
func result(rss func(i int) float64) *Result {
	start := time.Unix(1_800_000_000, 0)
	r := &Result{Start: start, End: start.Add(200 * time.Second), Instances: []string{"gatehouse-1"}}
	for i := range 40 {
		r.Samples = append(r.Samples, Sample{At: time.Duration(i) * 5 * time.Second, Instance: "gatehouse-1", RSSBytes: rss(i), Goroutines: 30})
	}
	r.Faults = []*Fault{{Name: "kill Redis primary", Start: start.Add(40 * time.Second), End: start.Add(55 * time.Second)}}
	return r
}

func TestFailures(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name    string
		r       *Result
		failing string // "" = passes
	}{
		{"flat", result(func(int) float64 { return 80 * mib }), ""},
		{"noise", result(func(i int) float64 { return float64(80+i%7) * mib }), ""},
		{"leak", result(func(i int) float64 { return float64(80+4*i) * mib }), "RSS grows"},
		{"restart drops memory", result(func(i int) float64 {
			if i > 30 {
				return 20 * mib
			}
			return 80 * mib
		}), ""},
		{"wrongly allowed", func() *Result {
			r := result(func(int) float64 { return 80 * mib })
			r.WronglyAllowed = 1
			return r
		}(), "allowed after an acknowledged"},
		{"double successor", func() *Result {
			r := result(func(int) float64 { return 80 * mib })
			r.DoubleSuccessors = 1
			return r
		}(), "two successors"},
		{"5xx outside windows", func() *Result {
			r := result(func(int) float64 { return 80 * mib })
			r.ErrorsOutside = 3
			return r
		}(), "outside fault windows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(tt.r.Failures(), "; ")
			if tt.failing == "" && got != "" {
				t.Fatalf("Failures = %q, want none", got)
			}
			if !strings.Contains(got, tt.failing) {
				t.Fatalf("Failures = %q, want one about %q", got, tt.failing)
			}
			md := tt.r.markdown("soak.svg")
			if want := map[bool]string{true: "# Soak test: PASS", false: "# Soak test: FAIL"}[tt.failing == ""]; !strings.HasPrefix(md, want) {
				t.Errorf("report starts %q, want %q", md[:min(len(md), 30)], want)
			}
		})
	}
}

// TestSVGIsXML: the chart is a well-formed SVG document naming every
// instance.
func TestSVGIsXML(t *testing.T) {
	r := result(func(i int) float64 { return float64(80+i) * (1 << 20) })
	doc := r.svg()
	d := xml.NewDecoder(strings.NewReader(doc))
	var root string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" || !strings.Contains(doc, "gatehouse-1") {
		t.Fatalf("root %q, instance named: %v", root, strings.Contains(doc, "gatehouse-1"))
	}
}

func TestInWindow(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	l := &load{res: &Result{Faults: []*Fault{
		{Start: start.Add(10 * time.Second), End: start.Add(20 * time.Second)},
		{Start: start.Add(50 * time.Second)}, // still going
	}}}
	tests := []struct {
		from, to time.Duration
		want     bool
	}{
		{0, 5 * time.Second, false},
		{5 * time.Second, 11 * time.Second, true}, // ends inside
		{19 * time.Second, 30 * time.Second, true},
		{21 * time.Second, 30 * time.Second, false},
		{60 * time.Second, 61 * time.Second, true}, // open window
	}
	for _, tt := range tests {
		if got := l.inWindow(start.Add(tt.from), start.Add(tt.to)); got != tt.want {
			t.Errorf("inWindow(%v, %v) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}
