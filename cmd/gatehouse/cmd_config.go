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
			before, known := schemaVersion(cmd.Context(), s)
			if err := s.Migrate(cmd.Context()); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			after, ok := schemaVersion(cmd.Context(), s)
			switch {
			case !ok:
				fmt.Fprintln(e.stdout, "store is up to date")
			case known && after > before:
				fmt.Fprintf(e.stdout, "applied %d migrations: schema version %d → %d\n", after-before, before, after)
			default:
				fmt.Fprintf(e.stdout, "store is up to date (schema version %d)\n", after)
			}
			return nil
		},
	}
}

// schemaVersion is the store's current schema version, when it can say.
// Migrations are numbered 1, 2, … without gaps, so the difference of two
// versions is the number applied between them.
func schemaVersion(ctx context.Context, s app.MainStore) (int64, bool) {
	v, ok := s.(interface {
		MigrationVersion(context.Context) (int64, int64, error)
	})
	if !ok {
		return 0, false
	}
	cur, _, err := v.MigrationVersion(ctx)
	return cur, err == nil
}
