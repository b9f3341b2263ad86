package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress reports how far a run is. On a terminal it keeps one status
// line up to date (the current mode and the time left, rewritten in place);
// elsewhere (a log file, CI) it writes plain lines only: one per finished
// round and the per-mode results, never carriage returns or escape codes.
type progress struct {
	w   io.Writer
	tty bool
	now func() time.Time

	total   time.Duration // planned load time (warm-up and measured slices)
	done    time.Duration // planned load time already run
	started time.Time     // when the first load began
	shown   bool          // a status line is on the terminal
}

func newProgress(w io.Writer, tty bool, now func() time.Time) *progress {
	return &progress{w: w, tty: tty, now: now}
}

// plan sets the total load time the run will take.
func (p *progress) plan(total time.Duration) {
	p.total, p.done, p.started = total, 0, p.now()
}

// advance records that d of the planned load time has run.
func (p *progress) advance(d time.Duration) { p.done += d }

// eta estimates the time left: the planned load time left, scaled by how
// much longer than planned the run has taken so far (connection set-up,
// garbage collection between slices).
func (p *progress) eta() time.Duration {
	left := max(p.total-p.done, 0)
	if p.done <= 0 {
		return left.Round(time.Second)
	}
	elapsed := p.now().Sub(p.started)
	return time.Duration(float64(left) * float64(elapsed) / float64(p.done)).Round(time.Second)
}

// status shows what is running now, with the ETA, on a terminal only.
func (p *progress) status(what string) {
	if !p.tty {
		return
	}
	if p.total <= 0 { // set-up: the measurement is not planned yet
		fmt.Fprintf(p.w, "\r\x1b[Kbench: %s …", what)
	} else {
		fmt.Fprintf(p.w, "\r\x1b[Kbench: %s · %d%% · ETA %s", what, int(100*p.done/p.total), p.eta())
	}
	p.shown = true
}

// roundDone reports a finished round: a plain line when not on a terminal
// (on a terminal the status line already says it).
func (p *progress) roundDone(round, rounds int) {
	if p.tty {
		return
	}
	p.linef("round %d/%d done, ETA %s", round, rounds, p.eta())
}

// clear removes the status line, if one is shown.
func (p *progress) clear() {
	if p.shown {
		_, _ = io.WriteString(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// linef writes a line that stays, clearing the status line first.
func (p *progress) linef(format string, args ...any) {
	var b strings.Builder
	if p.shown {
		b.WriteString("\r\x1b[K")
		p.shown = false
	}
	b.WriteString("bench: ")
	fmt.Fprintf(&b, format, args...)
	b.WriteByte('\n')
	_, _ = io.WriteString(p.w, b.String())
}
