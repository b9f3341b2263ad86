//go:build !(aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris || zos)

package main

import (
	"context"
	"os"

	"golang.org/x/term"
)

// readHidden reads a line from the terminal f without echo and gives up as
// soon as ctx ends. Here term.ReadPassword does the reading, in a
// goroutine; the settings saved before it are put back when ctx ends first.
func readHidden(ctx context.Context, f *os.File) ([]byte, error) {
	if ctx.Err() != nil {
		return nil, errInterrupted
	}
	saved, err := term.GetState(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	type line struct {
		b   []byte
		err error
	}
	done := make(chan line, 1)
	go func() {
		b, err := term.ReadPassword(int(f.Fd()))
		done <- line{b, err}
	}()
	select {
	case l := <-done:
		return l.b, l.err
	case <-ctx.Done():
		_ = term.Restore(int(f.Fd()), saved)
		return nil, errInterrupted
	}
}
