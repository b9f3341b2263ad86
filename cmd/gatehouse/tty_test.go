package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns a pseudo-terminal's controller and its terminal end.
func openPTY(t *testing.T) (ctl, tty *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	if err := unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ctl.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return ctl, tty
}

// An empty password typed at the prompt is refused (exit 2), as it is
// from --password-stdin: it must not create a user without a password,
// which is what --no-password is for, nor reach `user passwd`.
func TestEmptyPasswordAtTheTerminalIsRefused(t *testing.T) {
	c := newCLI(t, "")
	c.ok(pw, "user", "add", "bob", "--password-stdin")
	for _, args := range [][]string{{"user", "add", "alice"}, {"user", "passwd", "bob"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			ctl, tty := openPTY(t)
			if _, err := ctl.Write([]byte("\n\n")); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			err := run(context.Background(), append(args, "-c", c.cfg), func(string) string { return "" }, tty, &out, &errb)
			if code := exitCode(err, &errb); code != 2 || !strings.Contains(errb.String(), "empty") {
				t.Errorf("exit %d (want 2), stdout %q, stderr %q (want the empty password refused)", code, out.String(), errb.String())
			}
		})
	}
	if out := c.ok("", "user", "list"); strings.Contains(out, "alice") {
		t.Errorf("a user was created with an empty password:\n%s", out)
	}
}

// token verify without an argument reads standard input only when it is
// not a terminal: at a terminal it would wait silently for a token, so it
// is a usage error (exit 2) that names both forms.
func TestTokenVerifyWithoutArgumentAtTheTerminal(t *testing.T) {
	c := newCLI(t, "")
	_, tty := openPTY(t)
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"token", "verify", "-c", c.cfg}, func(string) string { return "" }, tty, &out, &errb)
	if code := exitCode(err, &errb); code != 2 || !strings.Contains(errb.String(), "token verify -") {
		t.Errorf("exit %d (want 2), stdout %q, stderr %q (want the usage naming `token verify -`)", code, out.String(), errb.String())
	}
}
