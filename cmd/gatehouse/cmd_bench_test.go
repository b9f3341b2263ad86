package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
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
		{"stray argument", []string{"bench", "now"}},
		{"unknown flag", []string{"bench", "--speed", "11"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			err := run(context.Background(), tt.args, func(string) string { return "" }, strings.NewReader(""), io.Discard, &stderr)
			if got, want := exitCode(err, &stderr), 2; got != want {
				t.Errorf("gatehouse %v: exit %d, want %d (%s)", tt.args, got, want, stderr.String())
			}
		})
	}
}
