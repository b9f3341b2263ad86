package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/demo"
)

func demoCmd(e *env) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a throw-away gatehouse with a demo user, an echo upstream and ready-to-paste curl lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// demo's configuration is demo.Config, whole: a file it would
			// read none of is refused rather than ignored.
			if cmd.Flags().Changed("config") {
				return usagef("demo runs its own built-in configuration and reads no config file (-c/--config); use gatehouse serve -c %s", e.configPath)
			}
			// Closing the terminal (SIGHUP) stops the demo as Ctrl-C
			// does, so that its directory (database, keys, cookie jar)
			// goes too instead of staying behind in $TMPDIR.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGHUP)
			defer stop()
			dir, err := os.MkdirTemp("", "gatehouse-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			log := e.logger("info")
			// A second Ctrl-C exits at once, and takes the directory too.
			defer forceExitOnSecondSignal(ctx, log, func() { os.RemoveAll(dir) })()

			upLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return fmt.Errorf("start echo upstream: %w", err)
			}
			upstream := &http.Server{Handler: demo.Echo(), ReadHeaderTimeout: 5 * time.Second}
			go upstream.Serve(upLn)
			defer upstream.Close()

			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return demoListenError(listen, err)
			}
			// Ctrl-C before the banner is a requested stop (exit 0, as
			// serve's stop while waiting for a store), not a failure.
			stopped := func(err error) error {
				ln.Close()
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			cfg := demo.Config(ln.Addr().String(), dir, "http://"+upLn.Addr().String())
			a, err := app.New(ctx, cfg, log, app.Options{Migrate: true, Demo: true, Version: version()})
			if err != nil {
				return stopped(err)
			}
			defer a.Close()
			pw, adminPW := demo.Password(), demo.Password()
			if _, err := a.Users.Create(ctx, "demo", pw, []string{"user"}); err != nil {
				return stopped(err)
			}
			if _, err := a.Users.Create(ctx, demo.AdminName, adminPW, []string{"admin"}); err != nil {
				return stopped(err)
			}
			demo.PrintBanner(e.stdout, cfg.EffectivePublicURL(), cfg.Listen, "demo", pw, adminPW, filepath.Join(dir, "cookies.txt"))
			return a.Serve(ctx, ln, nil)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on")
	return cmd
}

// demoListenError is the error of a --listen that cannot be bound. The
// system refusing it (the port in use, a privileged port, an address not
// on this machine) is a runtime failure, exit 1, as for serve's listen;
// an address that is not one (no port, an unknown host) is a usage error.
func demoListenError(listen string, err error) error {
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		return fmt.Errorf("listen on %s (flag --listen): %w", listen, err)
	}
	return usagef("--listen %s: %v", listen, err)
}
