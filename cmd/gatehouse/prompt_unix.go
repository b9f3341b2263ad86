//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris || zos

package main

import (
	"context"
	"os"

	"golang.org/x/sys/unix"
)

// readHidden reads a line from the terminal f with echo off, as
// term.ReadPassword does, but gives up as soon as ctx ends: Ctrl-C is the
// terminal's SIGINT, which ends the command's context, and a read blocked
// in the terminal would not see it (term.ReadPassword waited for Enter,
// the signal swallowed). The settings are changed and restored here, never
// by the read left behind, so that the terminal always has its echo back.
func readHidden(ctx context.Context, f *os.File) ([]byte, error) {
	fd := int(f.Fd())
	saved, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, err
	}
	hidden := *saved
	hidden.Lflag &^= unix.ECHO
	hidden.Lflag |= unix.ICANON | unix.ISIG
	hidden.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &hidden); err != nil {
		return nil, err
	}
	defer unix.IoctlSetTermios(fd, ioctlSetTermios, saved)
	return readLine(ctx, f)
}
