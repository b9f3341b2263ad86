package config_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// store_migrate names a direct PostgreSQL URL for the migrations of a
// PostgreSQL store (behind PgBouncer). With a SQLite store, the default
// one included, nothing reads it: config check and serve warn, naming both keys, as for the other
// keys another key's value makes do nothing (keys.rotate_every under
// HS256); the config is still accepted.
func TestWarningsStoreMigrateWithoutPostgresStore(t *testing.T) {
	const direct = "postgres://gatehouse@db:5432/gatehouse"
	tests := []struct {
		name, store, migrate string
		warn                 bool
	}{
		{"sqlite store", "sqlite://gatehouse.db", direct, true},
		{"default store (sqlite, key left out)", "", direct, true},
		{"postgres store", "postgres://gatehouse@pgbouncer:6432/gatehouse", direct, false},
		{"postgresql store", "postgresql://gatehouse@pgbouncer:6432/gatehouse", direct, false},
		{"sqlite store, no store_migrate", "sqlite://gatehouse.db", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var yaml string
			if tt.store != "" {
				yaml += "store: " + tt.store + "\n"
			}
			if tt.migrate != "" {
				yaml += "store_migrate: " + tt.migrate + "\n"
			}
			cfg, err := config.Load(write(t, yaml), noEnv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var got string
			for _, w := range cfg.Warnings() {
				if strings.Contains(w, "store_migrate") {
					got = w
				}
			}
			if (got != "") != tt.warn {
				t.Fatalf("store_migrate warning = %q, want one: %v", got, tt.warn)
			}
			if tt.warn && !strings.Contains(got, "store ") {
				t.Errorf("warning %q does not name store", got)
			}
		})
	}
}
