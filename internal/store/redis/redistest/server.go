package redistest

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// StartServer runs a private redis-server (no persistence) on a free
// loopback port with the extra config args (e.g. "--maxmemory-policy",
// "allkeys-lru"), for tests that need settings the shared servers must
// not get; it returns the address and kills the server at cleanup. It
// fails the test when the server does not answer within 10 s, or when
// another process answers on the port.
func StartServer(t testing.TB, args ...string) string {
	t.Helper()
	addr, _ := Start(t, "", args...)
	return addr
}

// Start is StartServer with a config file (conf, "" for none; a Sentinel's
// must be a writable file, which it rewrites) and returns the process too,
// which a test may kill to simulate a failure.
func Start(t testing.TB, conf string, args ...string) (string, *exec.Cmd) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: free port: %v", err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	_ = ln.Close()
	var argv []string
	if conf != "" {
		argv = append(argv, conf) // redis-server wants the file first
	}
	argv = append(argv, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	cmd := exec.Command("redis-server", append(argv, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("redistest: start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	// Plain dials until the port accepts, so that go-redis's process-wide
	// logger (which another test may have pointed at its log) does not
	// report the refused dials of the wait.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if conn, derr := net.DialTimeout("tcp", addr, time.Second); derr != nil {
			err = derr
		} else {
			_ = conn.Close()
			// The server's process_id, not just any answer: another
			// process may have taken the port between Close and the bind.
			c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
			var info string
			info, err = c.Info(context.Background(), "server").Result()
			_ = c.Close()
			if err == nil {
				if strings.Contains(info, "\r\nprocess_id:"+strconv.Itoa(cmd.Process.Pid)+"\r\n") {
					return addr, cmd
				}
				t.Fatalf("redistest: another server answers on %s", addr)
			}
		}
		select {
		case <-exited:
			t.Fatalf("redistest: redis-server %v exited before answering", args)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: redis-server on %s did not answer: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
