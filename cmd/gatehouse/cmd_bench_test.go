package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/bench"
)

// startFixture runs `gatehouse bench fixture …` until the test ends and
// returns the base URL it printed.
func startFixture(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"bench", "fixture"}, args...), func(string) string { return "" },
			strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("fixture %v: %v", args, err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("fixture %v printed no address: %v", args, err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("fixture %v printed %q", args, line)
	}
	return "http://" + addr
}

func TestBenchFixturesProxyToUpstream(t *testing.T) {
	up := startFixture(t, "upstream", "--listen", "127.0.0.1:0")
	bare := startFixture(t, "bare-proxy", "--listen", "127.0.0.1:0", "--upstream", up)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, base := range []string{up, bare} {
		resp, err := client.Get(base + "/bench/anything")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got, want := resp.StatusCode, http.StatusOK; got != want {
			t.Errorf("GET %s: status %d, want %d", base, got, want)
		}
		if got, want := string(body), "ok"; got != want {
			t.Errorf("GET %s: body %q, want %q", base, got, want)
		}
	}
}

func TestBenchUsageErrorsExitTwo(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"bare proxy without upstream", []string{"bench", "fixture", "bare-proxy", "--listen", "127.0.0.1:0"}},
		{"relative upstream", []string{"bench", "fixture", "bare-proxy", "--upstream", "/x"}},
		{"zero duration", []string{"bench", "--duration", "0s"}},
		{"a nanosecond", []string{"bench", "--duration", "1ns"}},
		{"under a second", []string{"bench", "--duration", "999ms"}},
		{"stray argument", []string{"bench", "now"}},
		{"unknown flag", []string{"bench", "--speed", "11"}},
		{"unknown log level", []string{"bench", "--log-level", "loud"}},
		{"negative noise threshold", []string{"bench", "--noise-threshold", "-1"}},
		{"unknown mode", []string{"bench", "--modes", "token-HS256,session-sql"}},
		{"session-postgres without --postgres", []string{"bench", "--modes", "session-postgres"}},
		{"--postgres not a PostgreSQL URL", []string{"bench", "--postgres", "mysql://127.0.0.1/test"}},
		{"--out in a missing directory", []string{"bench", "--out", filepath.Join(t.TempDir(), "missing", "report")}},
		{"--out a directory's name", []string{"bench", "--out", t.TempDir() + "/"}},
	}
	// Every mistake is refused before anything starts: the context is
	// already cancelled, so a bench that started anyway would fail (exit 1)
	// at once instead of running for minutes.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			err := run(ctx, tt.args, func(string) string { return "" }, strings.NewReader(""), io.Discard, &stderr)
			if got, want := exitCode(err, &stderr), 2; got != want {
				t.Errorf("gatehouse %v: exit %d, want %d (%s)", tt.args, got, want, stderr.String())
			}
			if n := strings.Count(stderr.String(), "\n"); n != 1 {
				t.Errorf("gatehouse %v: %d lines on stderr, want 1: %q", tt.args, n, stderr.String())
			}
		})
	}
}

// `gatehouse bench fixture efficiency` is scripts/bench-gateway.sh's way to
// gatehouse bench's efficiency, interval and verdict.
func TestBenchFixtureEfficiency(t *testing.T) {
	tenRounds := "1000 50 1000 55\n1000 100 1000 110\n1000 50 1000 55\n1000 100 1000 110\n1000 70 1000 77\n" +
		"1000 50 1000 55\n1000 100 1000 110\n1000 60 1000 66\n1000 90 1000 99\n1000 50 1000 55\n"
	tests := []struct {
		name, stdin string
		args        []string
		want        string
		code        int
	}{
		{"ten paired rounds", tenRounds, []string{"--target", "0.90"}, "0.91 0.90 0.91 met 0.91 [0.90–0.91]\n", 0},
		{"missed", tenRounds, []string{"--target", "0.95"}, "0.91 0.90 0.91 missed 0.91 [0.90–0.91]\n", 0},
		{"no target, blank lines", "\n" + tenRounds + "\n", nil, "0.91 0.90 0.91 - 0.91 [0.90–0.91]\n", 0},
		{"too few rounds for an interval", "1000 60 1000 66\n", []string{"--target", "0.90"}, "0.91 - - undecided 0.91\n", 0},
		{"no rounds", "", nil, "", 2},
		{"three fields", "1000 60 1000\n", nil, "", 2},
		{"not a number", "1000 60 many 66\n", nil, "", 2},
		{"negative", "1000 60 1000 -66\n", nil, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			args := append([]string{"bench", "fixture", "efficiency"}, tt.args...)
			err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(tt.stdin), &stdout, &stderr)
			if got := exitCode(err, &stderr); got != tt.code {
				t.Fatalf("exit %d, want %d (%s)", got, tt.code, stderr.String())
			}
			if got := stdout.String(); got != tt.want {
				t.Errorf("stdout = %q, want %q", got, tt.want)
			}
		})
	}
}

// watchWriter collects what is written and calls fn once, as soon as the
// output contains match.
type watchWriter struct {
	mu    sync.Mutex
	b     strings.Builder
	match string
	fn    func()
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if w.fn != nil && strings.Contains(w.b.String(), w.match) {
		w.fn()
		w.fn = nil
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// Ctrl-C (the command's context ending) during the measurement prints the
// report of the rounds completed so far, not "context canceled", and
// exits with status 1.
func TestBenchInterruptedPrintsPartialReport(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := filepath.Join(t.TempDir(), "report")
	stderr := &watchWriter{match: "bench: round 1/2 done", fn: cancel}
	var stdout strings.Builder
	err := run(ctx, []string{"bench", "--duration", "1s", "--modes", "token-HS256", "--sessions", "100",
		"--redis", "", "--concurrency", "2", "--out", out}, func(string) string { return "" },
		strings.NewReader(""), &stdout, stderr)
	if !errors.Is(err, bench.ErrInterrupted) {
		t.Fatalf("gatehouse bench: error %v, want ErrInterrupted; stderr:\n%s", err, stderr)
	}
	var msg strings.Builder
	if got, want := exitCode(err, &msg), 1; got != want {
		t.Errorf("exit %d, want %d", got, want)
	}
	if strings.Contains(msg.String(), "context canceled") || !strings.Contains(msg.String(), "interrupted after 1 of 2 rounds") {
		t.Errorf("error message = %q, want the interruption, not the context error", msg.String())
	}
	md, err := os.ReadFile(out + ".md")
	if err != nil {
		t.Fatalf("partial report not written: %v", err)
	}
	for name, report := range map[string]string{"stdout": stdout.String(), "report.md": string(md)} {
		if !strings.Contains(report, "**Partial report: interrupted after 1 of 2 rounds.**") {
			t.Errorf("%s does not say the report is partial:\n%s", name, report)
		}
		for _, mode := range []string{"bare-proxy", "token-HS256"} {
			row := rowOf(report, mode)
			if row == "" || strings.Contains(row, "skipped") {
				t.Errorf("%s: %s has no measured row: %q", name, mode, row)
			}
		}
	}
}

// rowOf returns the per-mode table row of mode in a Markdown report.
func rowOf(md, mode string) string {
	for line := range strings.SplitSeq(md, "\n") {
		if strings.HasPrefix(line, "| "+mode+" | ") && strings.Count(line, "|") > 10 {
			return line
		}
	}
	return ""
}
