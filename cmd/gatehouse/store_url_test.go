package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A store or Redis URL the store would refuse when it opens it — a query
// parameter go-redis does not know (?password=), a value it cannot read, a
// Sentinel URL with a database that is not a number or with a query, a
// PostgreSQL DSN pgx refuses — is refused by `config check` too, naming
// the key, and by serve and every other command with the same one-line
// config error (exit 2), never "open redis: open redis: malformed redis
// URL" after config check said OK. No message repeats the password.
func TestConfigCheckRefusesTheStoreURLsServeRefuses(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		key  string
	}{
		{"redis.url with ?password=", "redis: {url: 'redis://:s3cret-pw@127.0.0.1:6379/0?password=s3cret-pw'}\n", "redis.url"},
		{"redis.url with an unknown option", "redis: {url: 'redis://:s3cret-pw@127.0.0.1:6379/0?timeout=1s'}\n", "redis.url"},
		{"redis.url with a bad duration", "redis: {url: 'redis://:s3cret-pw@127.0.0.1:6379/0?dial_timeout=soon'}\n", "redis.url"},
		{"redis.url with a bad database", "redis: {url: 'redis://:s3cret-pw@127.0.0.1:6379/zero'}\n", "redis.url"},
		{"sentinel URL with a bad database", "redis: {url: 'redis-sentinel://:s3cret-pw@127.0.0.1:26379/gatehouse-test/zero'}\n", "redis.url"},
		{"sentinel URL with a query", "redis: {url: 'redis-sentinel://:s3cret-pw@127.0.0.1:26379/gatehouse-test?dial_timeout=1s'}\n", "redis.url"},
		{"sessions.store with ?password=", "sessions: {store: 'redis://:s3cret-pw@127.0.0.1:6379/0?password=s3cret-pw'}\n", "sessions.store"},
		{"postgres store pgx refuses", "store: 'postgres://gh:s3cret-pw@127.0.0.1:5432/test?sslmode=bogus'\n", "store"},
		{"store_migrate pgx refuses", "store: 'postgres://gh:s3cret-pw@127.0.0.1:5432/test'\nstore_migrate: 'postgres://gh:s3cret-pw@127.0.0.1:5432/test?connect_timeout=soon'\n", "store_migrate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "gatehouse.yaml")
			body := tt.yaml
			if !strings.HasPrefix(body, "store:") {
				body = "store: sqlite://" + filepath.Join(dir, "gh.db") + "\n" + body
			}
			body += "listen: 127.0.0.1:0\nadmin_listen: ''\n"
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"config", "check"}, {"serve"}, {"user", "list"}} {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				var stderr strings.Builder
				err := run(ctx, append(args, "-c", cfg), func(string) string { return "" }, strings.NewReader(""), io.Discard, &stderr)
				stopped := ctx.Err() == nil
				cancel()
				code := exitCode(err, &stderr)
				msg := stderr.String()
				if !stopped || code != 2 || !strings.Contains(msg, cfg+":") || !strings.Contains(msg, " "+tt.key+": ") ||
					strings.Contains(msg, "s3cret-pw") || strings.Contains(msg, "open redis: open redis") {
					t.Errorf("gatehouse %s: exit %d (want 2, stopped: %v), stderr %q; want a config error naming %s, without the password",
						strings.Join(args, " "), code, stopped, msg, tt.key)
				}
			}
		})
	}
}
