//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// Ctrl-C at the password prompt aborts the command at once, with exit code
// 130 (128 + SIGINT, what a shell reports for a command Ctrl-C ended) and
// the terminal's echo back on, and creates or changes nothing. The command
// runs as it does for a user: this test binary as gatehouse (TestMain) in a
// session of its own whose controlling terminal is a pseudo-terminal, so
// that ^C typed on it is the terminal's SIGINT, not a signal the test sends.
func TestCtrlCAtThePasswordPromptExits130(t *testing.T) {
	c := newCLI(t, "")
	c.ok(pw, "user", "add", "bob", "--password-stdin")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	for _, args := range [][]string{{"user", "add", "alice"}, {"user", "passwd", "bob"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			ctl, tty := openPTY(t)
			cmd := exec.Command(exe, append(args, "-c", c.cfg)...)
			cmd.Env = env
			cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			t.Cleanup(func() {
				select {
				case <-exited:
				default:
					_ = cmd.Process.Kill()
					<-exited
				}
			})
			var mu sync.Mutex
			var screen bytes.Buffer
			go func() {
				b := make([]byte, 4096)
				for {
					n, err := ctl.Read(b)
					mu.Lock()
					screen.Write(b[:n])
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
			shown := func() string {
				mu.Lock()
				defer mu.Unlock()
				return screen.String()
			}
			echo := func() bool {
				tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
				if err != nil {
					t.Fatalf("read the terminal's settings: %v", err)
				}
				return tio.Lflag&unix.ECHO != 0
			}
			clocktest.Eventually(t, "the prompt waits for the password, echo off", func() bool {
				return strings.Contains(shown(), "Password: ") && !echo()
			})

			if _, err := ctl.Write([]byte{0x03}); err != nil { // Ctrl-C
				t.Fatal(err)
			}
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				t.Fatalf("gatehouse %s still waits at the prompt 30 s after Ctrl-C; terminal shows %q", strings.Join(args, " "), shown())
			}
			if code := cmd.ProcessState.ExitCode(); code != 130 {
				t.Errorf("exit code %d after Ctrl-C at the prompt, want 130; terminal shows %q", code, shown())
			}
			if !echo() {
				t.Error("the terminal's echo is still off after Ctrl-C at the prompt")
			}
			clocktest.Eventually(t, "gatehouse says it was interrupted", func() bool {
				return strings.Contains(shown(), "interrupted")
			})
		})
	}
	if out := c.ok("", "user", "list"); strings.Contains(out, "alice") {
		t.Errorf("Ctrl-C at the prompt created the user:\n%s", out)
	}
}
