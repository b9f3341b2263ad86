package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
)

// A SQLite store in a directory that does not exist is a configuration
// error (exit 2) naming the directory, for serve as for every other
// command: serve does not retry it as a store that is down.
func TestSQLiteInMissingDirectoryIsAConfigError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "dir")
	c := newCLI(t, "listen: 127.0.0.1:0\nadmin_listen: ''\n")
	getenv := func(k string) string {
		return map[string]string{"GATEHOUSE_STORE": "sqlite://" + filepath.Join(missing, "gh.db")}[k]
	}
	for _, args := range [][]string{{"serve"}, {"migrate"}, {"user", "list"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stderr strings.Builder
			err := run(ctx, append(args, "-c", c.cfg), getenv, strings.NewReader(""), io.Discard, &stderr)
			if ctx.Err() != nil {
				t.Fatalf("gatehouse %s still running after 10s (retrying a missing directory?)", strings.Join(args, " "))
			}
			code := exitCode(err, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), missing) {
				t.Errorf("exit %d (want 2), stderr %q (want the directory named)", code, stderr.String())
			}
		})
	}
}

// The SQLite database a command creates is readable by its owner only.
func TestSQLiteDatabaseIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	c := newCLI(t, "")
	c.ok(pw, "user", "add", "alice", "--password-stdin")
	fi, err := os.Stat(filepath.Join(filepath.Dir(c.cfg), "gh.db"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("gh.db has mode %v, want no access for group and others", perm)
	}
}

// serve's start line names the store without its password, whether the
// URL carries it in the userinfo or as a query parameter (pgx reads
// ?password=).
func TestServeLogsTheStoreWithoutItsPassword(t *testing.T) {
	const secret = "s3cr3t-pw"
	for name, dsn := range map[string]string{
		"query":    pgtest.DSN(t) + "&password=" + secret,
		"userinfo": strings.Replace(pgtest.DSN(t), "postgres@", "postgres:"+secret+"@", 1),
	} {
		t.Run(name, func(t *testing.T) {
			c := newCLI(t, "listen: 127.0.0.1:0\nadmin_listen: ''\n")
			c.env["GATEHOUSE_STORE"] = dsn
			ctx, cancel := context.WithCancel(context.Background())
			logs, done := c.serve(ctx)
			line := logs.await(t, "gatehouse serving")
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
			if strings.Contains(line, secret) {
				t.Errorf("the store's password was logged: %s", line)
			}
			if !strings.Contains(line, "xxxxx") {
				t.Errorf("start line %s: want the store URL with its password masked", line)
			}
		})
	}
}

// A stop requested (SIGTERM, SIGINT) while serve waits for a store that
// does not answer yet ends serve with exit 0, as a stop while serving
// does: the service manager asked for it, nothing failed.
func TestServeStoppedWhileWaitingForTheStoreExitsZero(t *testing.T) {
	c := newCLI(t, "listen: 127.0.0.1:0\nadmin_listen: ''\n")
	c.env["GATEHOUSE_STORE"] = "postgres://postgres@127.0.0.1:1/test?sslmode=disable"
	ctx, cancel := context.WithCancel(context.Background())
	logs, done := c.serve(ctx)
	logs.await(t, "a store is not reachable at start; retrying")
	cancel()
	var stderr strings.Builder
	if code := exitCode(<-done, &stderr); code != 0 {
		t.Errorf("exit %d after the stop, want 0; stderr %q", code, stderr.String())
	}
}
