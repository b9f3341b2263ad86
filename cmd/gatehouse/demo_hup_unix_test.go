//go:build unix

package main

import (
	"bufio"
	"context"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoHangupCleansUp: closing the terminal sends the demo SIGHUP, which
// stops it as Ctrl-C does (exit 0) and removes its temporary directory
// (database, keys, cookie jar) instead of leaving it in $TMPDIR.
func TestDemoHangupCleansUp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"demo", "--listen", "127.0.0.1:0"}, func(string) string { return "" }, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	banner := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Stop with Ctrl-C") {
				close(banner)
			}
		}
	}()
	select {
	case <-banner:
	case err := <-done:
		t.Fatalf("demo exited before its banner: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("no banner within 60s")
	}
	// The demo has asked for SIGHUP (signal.NotifyContext) before it
	// prints the banner, so the test process itself is not hung up.
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo after SIGHUP: %v, want a clean stop", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not stop within 30s of SIGHUP")
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "gatehouse-demo-*")); len(left) > 0 {
		t.Errorf("the demo left %v behind after SIGHUP", left)
	}
}
