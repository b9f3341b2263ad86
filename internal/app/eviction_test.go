package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// Opening Redis tells the operator when its maxmemory-policy evicts keys
// (docs/deploy.md: every gatehouse key must outlive memory pressure, or a
// revoked token or ended session is valid again): one ERROR line per node
// naming the policy, the node and the risk, also when maxmemory is 0 (a
// limit can be set at run time). A Redis that refuses CONFIG (managed
// Redis, ACL) gets an INFO line that the policy could not be checked, and
// starts all the same. Each case runs its own redis-server: the shared one
// must keep noeviction.
func TestOpeningRedisReportsAnEvictingPolicy(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantLevel string // "" = no line about maxmemory-policy
		wantIn    []string
	}{
		{name: "allkeys-lru with a limit", args: []string{"--maxmemory-policy", "allkeys-lru", "--maxmemory", "100mb"},
			wantLevel: "ERROR", wantIn: []string{"allkeys-lru", "revoked", "noeviction"}},
		{name: "volatile-lru without a limit yet", args: []string{"--maxmemory-policy", "volatile-lru", "--maxmemory", "0"},
			wantLevel: "ERROR", wantIn: []string{"volatile-lru", "maxmemory is 0", "noeviction"}},
		{name: "noeviction", args: []string{"--maxmemory-policy", "noeviction", "--maxmemory", "100mb"}},
		{name: "CONFIG renamed away", args: []string{"--maxmemory-policy", "allkeys-lru", "--rename-command", "CONFIG", ""},
			wantLevel: "INFO", wantIn: []string{"could not be checked", "noeviction"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := redistest.StartServer(t, tt.args...)
			cfg := testutil.TestConfig(t.TempDir())
			cfg.Redis.URL = "redis://" + addr + "/0"
			startupLine(t, cfg, "maxmemory-policy", tt.wantLevel, addr, tt.wantIn)
		})
	}
}

// startupLine opens an app on cfg and checks the lines of its start-up
// log whose message mentions about: none when wantLevel is "", else
// exactly one, at wantLevel, naming node and mentioning each of wantIn.
// It returns that line (nil for none).
func startupLine(t *testing.T, cfg config.Config, about, wantLevel, node string, wantIn []string) map[string]any {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(context.Background(), cfg, log, app.Options{Migrate: true})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	a.Close()

	var found []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if msg, _ := rec["msg"].(string); strings.Contains(msg, about) {
			found = append(found, rec)
		}
	}
	if wantLevel == "" {
		if len(found) != 0 {
			t.Fatalf("lines about %s: %v", about, found)
		}
		return nil
	}
	if len(found) != 1 {
		t.Fatalf("%d lines about %s, want 1:\n%s", len(found), about, logs)
	}
	rec := found[0]
	if got := rec["level"]; got != wantLevel {
		t.Errorf("level = %v, want %v", got, wantLevel)
	}
	if got := rec["node"]; got != node {
		t.Errorf("node = %v, want %v", got, node)
	}
	line, _ := json.Marshal(rec)
	for _, w := range wantIn {
		if !strings.Contains(string(line), w) {
			t.Errorf("line does not mention %q: %s", w, line)
		}
	}
	return rec
}
