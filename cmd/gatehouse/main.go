// Command gatehouse is an authentication server and API gateway: password
// login, server-side sessions, JWT access tokens with rotating refresh
// tokens, and a gateway that verifies either once in front of every service.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr, os.Environ()...)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}
