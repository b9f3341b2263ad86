package cluster_test

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// A second SIGINT or SIGTERM while serve drains ends the process at once,
// with status 1, without waiting for the request in flight (which stays held
// by its upstream until the test ends); the first signal's log line says
// that a second one would, and the second has a line of its own. Without
// the second signal the drain would wait up to the 30 s grace period.
func TestSecondSignalForcesExit(t *testing.T) {
	for _, tc := range []struct {
		name          string
		first, second syscall.Signal
	}{
		{"SIGINT twice", syscall.SIGINT, syscall.SIGINT},
		{"SIGTERM then SIGINT", syscall.SIGTERM, syscall.SIGINT},
		{"SIGTERM twice", syscall.SIGTERM, syscall.SIGTERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startDrainingServe(t)
			result := n.get()
			if err := n.cmd.Process.Signal(tc.first); err != nil {
				t.Fatal(err)
			}
			// The drain has begun, and waits for the request held upstream.
			clocktest.Eventually(t, "the first signal's log lines", func() bool {
				logs := n.logs.String()
				return strings.Contains(logs, "a second SIGINT or SIGTERM exits at once") &&
					strings.Contains(logs, "shutting down: draining in-flight requests")
			})
			if err := n.cmd.Process.Signal(tc.second); err != nil {
				t.Fatal(err)
			}
			select {
			case <-n.exited:
			case <-time.After(20 * time.Second):
				t.Fatal("gatehouse still drains 20 s after the second signal")
			}
			var exit *exec.ExitError
			if !errors.As(n.err, &exit) || exit.ExitCode() != 1 {
				t.Errorf("exit after the second signal: %v, want exit status 1", n.err)
			}
			if logs := n.logs.String(); !strings.Contains(logs, "second signal: exiting at once") {
				t.Errorf("no log line for the forced exit:\n%s", logs)
			}
			// The upstream still holds the request: the exit did not wait for it.
			if got := <-result; strings.HasPrefix(got, "200") {
				t.Errorf("the request in flight completed (%s); the forced exit should not have waited for it", got)
			}
		})
	}
}
