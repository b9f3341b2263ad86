package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// Local is an App serving on a random loopback port inside this process:
// the test harness starts gatehouse this way (`gatehouse bench` runs
// `gatehouse serve` processes instead, to measure each on its own).
type Local struct {
	URL  string
	App  *App
	stop context.CancelFunc
	done chan error
}

// StartLocal starts gatehouse with cfg (its listen address replaced by a
// free 127.0.0.1 port) and returns once it is ready: its stores answer and
// the revocation feed is loaded.
func StartLocal(ctx context.Context, cfg config.Config, log *slog.Logger, opt Options) (*Local, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	cfg.Listen = ln.Addr().String()
	if errs := cfg.Validate(); len(errs) > 0 {
		ln.Close()
		return nil, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	a, err := New(ctx, cfg, log, opt)
	if err != nil {
		ln.Close()
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l := &Local{URL: "http://" + cfg.Listen, App: a, stop: stop, done: make(chan error, 1)}
	go func() { l.done <- a.Serve(runCtx, ln, nil) }()
	if err := l.waitReady(ctx, 15*time.Second); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Local) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		failing := l.App.Ready(ctx)
		if len(failing) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("gatehouse at %s not ready within %s: failing %v", l.URL, limit, failing)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close stops serving (draining in-flight requests), then closes the stores.
func (l *Local) Close() error {
	l.stop()
	err := <-l.done
	l.App.Close()
	return err
}
