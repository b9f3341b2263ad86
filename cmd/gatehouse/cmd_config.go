package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/internal/app"
)

func configCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the config and print the effective config with secrets masked",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, path, err := e.loadConfig()
			if err != nil {
				return err
			}
			for _, w := range cfg.Warnings() {
				fmt.Fprintf(e.stderr, "warning: %s\n", w)
			}
			src := path
			if src == "" {
				src = "defaults and environment"
			}
			fmt.Fprintf(e.stdout, "# %s: OK\n%s", src, cfg.Masked())
			return nil
		},
	})
	return cmd
}

func migrateCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending store migrations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := e.loadConfig()
			if err != nil {
				return err
			}
			s, err := app.OpenMainStore(cmd.Context(), cfg.Store, cfg.StoreMigrate)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.Migrate(cmd.Context()); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if v, ok := s.(interface {
				MigrationVersion(context.Context) (int64, int64, error)
			}); ok {
				if cur, _, err := v.MigrationVersion(cmd.Context()); err == nil {
					fmt.Fprintf(e.stdout, "store is up to date (schema version %d)\n", cur)
					return nil
				}
			}
			fmt.Fprintln(e.stdout, "store is up to date")
			return nil
		},
	}
}
