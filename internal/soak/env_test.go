package soak

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeGatehouse is a stand-in binary that writes its environment to
// dir/env-<first argument> and exits.
func fakeGatehouse(t *testing.T) (binary, dir string) {
	t.Helper()
	dir = t.TempDir()
	binary = filepath.Join(dir, "gatehouse")
	script := "#!/bin/sh\nenv > \"$(dirname \"$0\")/env-$1\"\n"
	if err := os.WriteFile(binary, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return binary, dir
}

// readEnv returns the GATEHOUSE_* lines of the environment the fake wrote.
func readEnv(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the fake gatehouse did not run: %v", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "GATEHOUSE_") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// The run's CLI calls and instances get the run's own configuration only:
// an operator's GATEHOUSE_STORE (or any other GATEHOUSE_* override) would
// send the soak users, migrations and load to the database it names — their
// real one — instead of the private PostgreSQL, and other overrides would
// change what the run tests.
func TestChildrenIgnoreOperatorEnv(t *testing.T) {
	t.Setenv("GATEHOUSE_STORE", "postgres://prod.example/real")
	t.Setenv("GATEHOUSE_SESSIONS_CACHE_TTL", "1h")
	binary, dir := fakeGatehouse(t)
	e := &env{dir: dir, binary: binary, cfgFile: filepath.Join(dir, "gatehouse.yaml"), log: t.Logf}

	if err := e.cli("", "migrate"); err != nil {
		t.Fatalf("cli: %v", err)
	}
	if got := readEnv(t, filepath.Join(dir, "env-migrate")); strings.Contains(got, "GATEHOUSE_STORE") ||
		strings.Contains(got, "GATEHOUSE_SESSIONS_CACHE_TTL") {
		t.Errorf("gatehouse migrate got the operator's GATEHOUSE_* variables:\n%s", got)
	}

	i := &instance{name: "gatehouse-1", listen: "127.0.0.1:1", admin: "127.0.0.1:2"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = e.start(ctx, i) // the fake never becomes ready
	<-i.done
	got := readEnv(t, filepath.Join(dir, "env-serve"))
	if strings.Contains(got, "GATEHOUSE_STORE") || strings.Contains(got, "GATEHOUSE_SESSIONS_CACHE_TTL") {
		t.Errorf("gatehouse serve got the operator's GATEHOUSE_* variables:\n%s", got)
	}
	if !strings.Contains(got, "GATEHOUSE_LISTEN=127.0.0.1:1") {
		t.Errorf("gatehouse serve lost its own GATEHOUSE_LISTEN:\n%s", got)
	}
}

// Each run picks free ports for its private services: two runs at once,
// or a machine where something already listens on a port (the ports the
// harness used to fix included), do not collide. Each run's first Redis
// node, with its cluster bus port, starts beside the other's.
func TestRunsGetFreePortsOfTheirOwn(t *testing.T) {
	// Something already listens where the harness used to put its
	// services (Redis 7100-7105 and their bus ports, PostgreSQL 5442,
	// PgBouncer 6442), when this machine lets the test listen there.
	busy := map[int]bool{}
	for _, port := range []int{7100, 7101, 7102, 7103, 7104, 7105, 17100, 17101, 17102, 17103, 17104, 17105, 5442, 6442} {
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			t.Cleanup(func() { ln.Close() })
			busy[port] = true
		}
	}
	if len(busy) == 0 {
		t.Fatal("none of the former fixed ports could be held for the test")
	}
	seen := map[int]string{}
	var envs []*env
	var holders []net.Listener
	for _, run := range []string{"run 1", "run 2"} {
		e, err := newEnv(t.TempDir(), "gatehouse", t.Logf)
		if err != nil {
			t.Fatalf("%s: newEnv: %v", run, err)
		}
		envs = append(envs, e)
		all := append([]int{e.ports.pg, e.ports.bouncer}, e.ports.redis...)
		for _, p := range e.ports.redis {
			all = append(all, e.ports.bus[p])
		}
		if len(e.ports.redis) != redisNodes || len(e.ports.bus) != redisNodes {
			t.Fatalf("%s: %d Redis ports and %d bus ports, want %d of each", run, len(e.ports.redis), len(e.ports.bus), redisNodes)
		}
		for _, p := range all {
			if busy[p] {
				t.Errorf("%s: port %d is already in use on this machine", run, p)
			}
			if other, ok := seen[p]; ok {
				t.Errorf("%s: port %d is also used by %s", run, p, other)
			}
			seen[p] = run
		}
		// Run 1's services listen by the time another run picks its
		// ports (the kernel would hand a released port out again): hold
		// them while run 2 picks.
		for _, p := range all {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				t.Fatalf("%s: port %d cannot be held: %v", run, p, err)
			}
			holders = append(holders, ln)
		}
	}
	for _, ln := range holders {
		ln.Close()
	}
	for _, e := range envs {
		t.Cleanup(e.close)
		if err := e.startRedis(context.Background(), e.ports.redis[0]); err != nil {
			t.Fatalf("start Redis on %d (bus %d): %v", e.ports.redis[0], e.ports.bus[e.ports.redis[0]], err)
		}
	}
}
