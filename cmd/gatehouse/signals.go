package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// forceExitOnSecondSignal lets an operator cut a graceful stop short. The
// first SIGINT or SIGTERM ends main's context: serve and demo stop taking
// connections and drain the requests in flight (up to app.ShutdownGrace),
// and this logs that a second signal exits at once. The second is logged
// and exits with status 1 there and then, without waiting for the drain or
// closing the stores (for them, a crash). cleanup runs just before that exit.
// stop ends the watch; call it when the command returns.
func forceExitOnSecondSignal(ctx context.Context, log *slog.Logger, cleanup ...func()) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	// A context already ended was ended by a signal this channel missed:
	// the next one is the second.
	seen := 0
	if ctx.Err() != nil {
		seen = 1
	}
	go func() {
		for ; ; seen++ {
			var sig os.Signal
			select {
			case sig = <-sigs:
			case <-done:
				return
			}
			if seen == 0 {
				log.Info("signal received: stopping gracefully; a second SIGINT or SIGTERM exits at once", "signal", sig.String())
				continue
			}
			log.Warn("second signal: exiting at once, without waiting for in-flight requests", "signal", sig.String())
			for _, fn := range cleanup {
				fn()
			}
			os.Exit(1)
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}
