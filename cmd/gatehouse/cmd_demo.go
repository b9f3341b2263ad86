package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
			ctx := cmd.Context()
			dir, err := os.MkdirTemp("", "gatehouse-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)

			upLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return fmt.Errorf("start echo upstream: %w", err)
			}
			upstream := &http.Server{Handler: demo.Echo(), ReadHeaderTimeout: 5 * time.Second}
			go upstream.Serve(upLn)
			defer upstream.Close()

			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return usagef("--listen %s: %v", listen, err)
			}
			cfg := demo.Config(ln.Addr().String(), dir, "http://"+upLn.Addr().String())
			a, err := app.New(ctx, cfg, e.logger("info"), app.Options{Migrate: true, Demo: true})
			if err != nil {
				ln.Close()
				return err
			}
			defer a.Close()
			pw, adminPW := demo.Password(), demo.Password()
			if _, err := a.Users.Create(ctx, "demo", pw, []string{"user"}); err != nil {
				ln.Close()
				return err
			}
			if _, err := a.Users.Create(ctx, demo.AdminName, adminPW, []string{"admin"}); err != nil {
				ln.Close()
				return err
			}
			demo.PrintBanner(e.stdout, cfg.EffectivePublicURL(), "demo", pw, adminPW, filepath.Join(dir, "cookies.txt"))
			return a.Serve(ctx, ln, nil)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on")
	return cmd
}
