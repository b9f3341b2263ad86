package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/config"
)

func serveCmd(e *env) *cobra.Command {
	var noMigrate bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the auth server and gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, path, err := e.loadConfig()
			if err != nil {
				return err
			}
			log := e.logger(cfg.Log.Level)
			for _, w := range cfg.Warnings() {
				log.Warn(w)
			}
			ctx := cmd.Context()
			defer forceExitOnSecondSignal(ctx, log)()
			// Listening before the stores are open: while serve waits for
			// one, /healthz answers and everything else 503, ext_authz
			// Checks included (docs/deploy.md); a taken port fails at once.
			var listeners []net.Listener
			closeAll := func() {
				for _, l := range listeners {
					l.Close()
				}
			}
			listen := func(key, addr string) (net.Listener, error) {
				if addr == "" {
					return nil, nil
				}
				l, err := net.Listen("tcp", addr)
				if err != nil {
					closeAll()
					return nil, fmt.Errorf("listen on %s (key %s): %w", addr, key, err)
				}
				listeners = append(listeners, l)
				return l, nil
			}
			ln, err := listen("listen", cfg.Listen)
			if err != nil {
				return err
			}
			adminLn, err := listen("admin_listen", cfg.AdminListen)
			if err != nil {
				return err
			}
			extAuthzLn, err := listen("ext_authz_listen", cfg.ExtAuthzListen)
			if err != nil {
				return err
			}
			front, err := app.StartFront(cfg, log, ln, adminLn, extAuthzLn)
			if err != nil {
				closeAll()
				return err
			}
			a, err := app.New(ctx, cfg, log, app.Options{Migrate: !noMigrate, RetryStartup: true, ChangeAlgorithm: true,
				AccessLog: e.stderr, Version: version(), Front: front})
			if err != nil {
				front.Stop()
				if ctx.Err() != nil {
					// Stopped (SIGTERM, SIGINT) while waiting for a store: a
					// requested stop, exit 0 as when serving.
					log.Info("stopped before serving", "error", err.Error())
					return nil
				}
				return err
			}
			defer a.Close()
			a.ReserveHashingProcs(e.getenv)
			paceCtx, stopPacing := context.WithCancel(ctx)
			defer stopPacing()
			a.PaceGC(paceCtx, e.getenv)
			// Registered before serving, so that a SIGHUP never meets the
			// default action (exit) once the server answers.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go reloadOnHUP(ctx, hup, a, path, e.lookupenv)
			return a.ServeFront(ctx, front)
		},
	}
	cmd.Flags().BoolVar(&noMigrate, "no-migrate", false, "do not apply pending store migrations at start")
	return cmd
}

// reloadOnHUP re-reads the config on every signal from hup and swaps in its
// routes. A bad file keeps the running config and says why, with the same
// verdict as `config check`; changes to other keys need a restart and are
// reported as such.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, a *app.App, path string, lookupenv func(string) (string, bool)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := config.LoadLookup(path, lookupenv)
		if err != nil {
			a.Log.Error("config reload failed; keeping the running config", "file", path, "error", err.Error())
			continue
		}
		if err := a.ReloadRoutes(cfg.Routes); err != nil {
			a.Log.Error("config reload failed; keeping the running routes", "file", path, "error", err.Error())
			continue
		}
		// As at start: a reloaded route can bring a warning of its own
		// (a secret in a world-readable file, a key that does nothing).
		for _, w := range cfg.Warnings() {
			a.Log.Warn(w)
		}
		// Compared key by key, not as whole structs: the file's warnings
		// change with its routes and are no reason for a restart.
		if changed := a.Config.ChangedKeys(cfg); len(changed) > 0 {
			a.Log.Warn("config reloaded: routes applied; other changed keys take effect after a restart", "file", path, "keys", changed)
		} else {
			a.Log.Info("config reloaded: routes applied", "file", path, "routes", len(cfg.Routes))
		}
	}
}
