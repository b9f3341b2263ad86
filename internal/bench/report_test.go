package bench_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/bench"
)

// hostileReport has text that breaks XML and Markdown tables if written
// unescaped.
func hostileReport() *bench.Report {
	return &bench.Report{
		Machine: bench.Machine{CPUModel: `Fast & "Cheap" <CPU>`, Cores: 2, GoVersion: "go1.26", Version: "v1|x", Date: time.Unix(0, 0)},
		Modes: []bench.ModeResult{
			{Name: bench.ModeBare, Kind: bench.KindBaseline, Requests: 12345, RPS: 12345.4, P50Ms: 0.5, P99Ms: 2, Ratio: 1},
			{Name: "session-<x>&y", Kind: bench.KindSession, Description: "a|b", Requests: 10, Errors: 3,
				FirstError: "status 401", RPS: 9000, P50Ms: 0.6, P99Ms: 3, Ratio: 0.73},
			{Name: "session-redis", Kind: bench.KindSession, Skipped: "Redis at redis://h/0 did not answer <PING>"},
		},
	}
}

func TestSVGEscapesText(t *testing.T) {
	var b bytes.Buffer
	if err := hostileReport().WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, b.String())
	for _, want := range []string{"session-<x>&y", "skipped: Redis at redis://h/0 did not answer <PING>"} {
		if !containsText(texts, want) {
			t.Errorf("SVG text %q not found in %q", want, texts)
		}
	}
}

func TestMarkdownKeepsTableRowsIntact(t *testing.T) {
	var b bytes.Buffer
	if err := hostileReport().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| bare-proxy |  | 12,345 | 1.00× |", // thousands separators
		`| a\|b |`,                           // a pipe in a cell is escaped
		"**3 ⚠** (status 401)",               // a mode with errors is flagged
		"skipped: Redis at redis://h/0 did not answer <PING>",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}

func containsText(texts []string, want string) bool {
	for _, s := range texts {
		if s == want {
			return true
		}
	}
	return false
}
