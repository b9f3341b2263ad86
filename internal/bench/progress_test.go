package bench

import (
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestProgress(t *testing.T) {
	run := func(tty bool) string {
		var b strings.Builder
		clock := &fakeClock{t: time.Unix(0, 0)}
		p := newProgress(&b, tty, clock.now)
		p.plan(4 * time.Second)
		for round := 1; round <= 2; round++ {
			for _, mode := range []string{"bare-proxy", "token-ES256"} {
				p.status("round " + string(rune('0'+round)) + "/2: " + mode)
				clock.t = clock.t.Add(time.Second) // the run keeps to its plan
				p.advance(time.Second)
			}
			p.roundDone(round, 2)
		}
		p.linef("token-ES256 … 1,000 req/s")
		return b.String()
	}
	t.Run("not a terminal: plain lines with the ETA", func(t *testing.T) {
		out := run(false)
		if strings.ContainsAny(out, "\r\x1b") {
			t.Errorf("plain progress has control characters: %q", out)
		}
		want := "bench: round 1/2 done, ETA 2s\nbench: round 2/2 done, ETA 0s\nbench: token-ES256 … 1,000 req/s\n"
		if out != want {
			t.Errorf("progress =\n%q\nwant\n%q", out, want)
		}
	})
	t.Run("terminal: one status line rewritten in place", func(t *testing.T) {
		out := run(true)
		for _, want := range []string{
			"\r\x1b[Kbench: round 1/2: bare-proxy · 0% · ETA 4s",
			"\r\x1b[Kbench: round 2/2: token-ES256 · 75% · ETA 1s",
			"\r\x1b[Kbench: token-ES256 … 1,000 req/s\n", // a result line clears the status line
		} {
			if !strings.Contains(out, want) {
				t.Errorf("terminal progress lacks %q:\n%q", want, out)
			}
		}
		if strings.Contains(out, "round 1/2 done") {
			t.Errorf("terminal progress printed plain round lines: %q", out)
		}
		if got := strings.Count(out, "\n"); got != 1 {
			t.Errorf("terminal progress has %d newlines, want 1 (status lines are rewritten): %q", got, out)
		}
	})
}

func TestSpread(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"one round has no spread", []float64{100}, 0},
		{"steady rounds", []float64{100, 100, 100}, 0},
		{"max minus min over the median", []float64{90, 100, 120}, 0.3},
		{"even count uses the middle pair", []float64{80, 100, 100, 120}, 0.4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := spread(tt.in); got < tt.want-1e-9 || got > tt.want+1e-9 {
				t.Errorf("spread(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	// Field 2 may hold spaces and parentheses; utime 250 and stime 50 ticks.
	line := "4242 (gate house) (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 0 0\n"
	got, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("parseStat = %v, want %v", got, want)
	}
	if _, err := parseStat("4242 (x) S 1"); err == nil {
		t.Error("parseStat accepted a short line")
	}
}
