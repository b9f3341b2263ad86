package main

import (
	"context"
	"errors"
	"io"
)

// errInterrupted ends a command that Ctrl-C (SIGINT) or SIGTERM stopped
// while it waited for its user; exitCode maps it to 130, what a shell
// reports for a command that Ctrl-C ended.
var errInterrupted = errors.New("interrupted")

// readLine reads one line from r a byte at a time, as term.ReadPassword
// does (no read-ahead past the line end, so a second prompt reads the next
// line), and returns errInterrupted as soon as ctx ends. The read it leaves
// behind then ends with the process, or when r is closed.
func readLine(ctx context.Context, r io.Reader) ([]byte, error) {
	if ctx.Err() != nil {
		return nil, errInterrupted
	}
	type line struct {
		b   []byte
		err error
	}
	done := make(chan line, 1)
	go func() {
		var ret []byte
		var b [1]byte
		for {
			n, err := r.Read(b[:])
			if n > 0 {
				switch b[0] {
				case '\b':
					if len(ret) > 0 {
						ret = ret[:len(ret)-1]
					}
				case '\n':
					done <- line{ret, nil}
					return
				case '\r':
				default:
					ret = append(ret, b[0])
				}
				continue
			}
			if err != nil {
				if errors.Is(err, io.EOF) && len(ret) > 0 {
					err = nil
				}
				done <- line{ret, err}
				return
			}
		}
	}()
	select {
	case l := <-done:
		return l.b, l.err
	case <-ctx.Done():
		return nil, errInterrupted
	}
}
