package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// gatehouseRunner runs the real gatehouse binary with the fixture's config.
type gatehouseRunner struct {
	bin, cfgPath string
	env          []string
	stderr       io.Writer
}

// childEnv is the child processes' whole environment. It is built from
// scratch so that a GATEHOUSE_* variable of the caller cannot override the
// fixture's config.
func childEnv(getenv func(string) string) []string {
	env := []string{"LANG=C.UTF-8"}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func (g gatehouseRunner) command(args ...string) *exec.Cmd {
	cmd := exec.Command(g.bin, append(args, "-c", g.cfgPath)...)
	cmd.Env = g.env
	cmd.Stdout = g.stderr // stdout is reserved for the fixture's JSON line
	cmd.Stderr = g.stderr
	cmd.SysProcAttr = sysProcAttr()
	return cmd
}

// addUser creates a password user through the CLI, as an operator would.
func (g gatehouseRunner) addUser(ctx context.Context, name, password, role string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := g.command("user", "add", name, "--role", role, "--password-stdin")
	cmd.Stdin = strings.NewReader(password + "\n")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("gatehouse user add: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stop()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("gatehouse user add %s: %w", name, err)
	}
	return nil
}

// serve starts `gatehouse serve` in the background.
func (g gatehouseRunner) serve() (*process, error) {
	cmd := g.command("serve")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start gatehouse serve: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// process is a running child; done closes when it has exited, and err is
// then its exit status.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// stop asks the process to shut down (SIGTERM, like systemd) and kills it
// if it is still running after grace.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(terminateSignal)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Signal(os.Kill)
		<-p.done
	}
}
