package app_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/peers"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// peerBackends are the ways instances share their stores: one SQLite file,
// one PostgreSQL schema, or one Redis (each instance then on its own
// SQLite file, so that only Redis can tell them about each other).
var peerBackends = []struct {
	name string
	// shared returns, once per test, the edit that puts an instance on the
	// shared stores.
	shared func(t *testing.T) func(cfg *config.Config)
}{
	{"sqlite", func(t *testing.T) func(*config.Config) {
		store := "sqlite://" + filepath.Join(t.TempDir(), "shared.db")
		return func(cfg *config.Config) { cfg.Store = store }
	}},
	{"postgres", func(t *testing.T) func(*config.Config) {
		store := pgtest.DSN(t)
		return func(cfg *config.Config) { cfg.Store = store }
	}},
	{"redis", func(t *testing.T) func(*config.Config) {
		url, prefix := redistest.New(t)
		return func(cfg *config.Config) { cfg.Redis.URL, cfg.Redis.KeyPrefix = url, prefix }
	}},
}

// peerLines are the instance's log lines about a setting a peer disagrees on.
func peerLines(t *testing.T, i *testutil.Instance) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(i.Logs()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if msg, _ := rec["msg"].(string); strings.Contains(msg, "must agree on") {
			out = append(out, rec)
		}
	}
	return out
}

// mismatches is the gatehouse_config_mismatch gauge by field.
func mismatches(t *testing.T, i *testutil.Instance) map[string]float64 {
	t.Helper()
	families, err := i.App.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "gatehouse_config_mismatch" {
			continue
		}
		for _, m := range f.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}

func check(t *testing.T, i *testutil.Instance) {
	t.Helper()
	if err := i.App.Peers.Check(context.Background()); err != nil {
		t.Fatalf("Peers.Check: %v", err)
	}
}

// Instances sharing their stores record the settings they must agree on
// there (docs/deploy.md, "Instances must agree"). One started with another
// tokens.audience logs, at start, one ERROR line naming the field, both
// values and the peer; the peer logs the same at its next refresh; further
// refreshes log nothing new. gatehouse_config_mismatch{field} counts the
// live peers that differ, /readyz stays ready, and a peer that stops
// refreshing stops counting once its record expires. Instances that agree
// log nothing and count 0 for every field.
func TestPeersThatDisagreeAreLoggedOnce(t *testing.T) {
	for _, b := range peerBackends {
		t.Run(b.name, func(t *testing.T) {
			for _, tt := range []struct {
				name         string
				audA, audB   []string
				wantMismatch bool
			}{
				{"another audience", []string{"gatehouse"}, []string{"api", "web"}, true},
				{"same settings", []string{"web", "api"}, []string{"api", "web"}, false},
			} {
				t.Run(tt.name, func(t *testing.T) {
					shared, clock := b.shared(t), testutil.NewClock()
					start := func(aud []string) *testutil.Instance {
						return testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(func(cfg *config.Config) {
							shared(cfg)
							cfg.PublicURL = "http://127.0.0.1:8080" // the instances' listen ports differ
							cfg.Tokens.Audience = aud
						}))
					}
					a := start(tt.audA)
					bi := start(tt.audB) // compares at start: A is live
					check(t, a)          // A's next refresh: B is live
					check(t, a)
					check(t, bi)

					for _, c := range []struct {
						name          string
						self, peer    *testutil.Instance
						value, theirs string
					}{
						{"A", a, bi, strings.Join(tt.audA, ","), "api,web"},
						{"B", bi, a, "api,web", strings.Join(tt.audA, ",")},
					} {
						lines := peerLines(t, c.self)
						gauge := mismatches(t, c.self)
						if len(gauge) != 11 {
							t.Errorf("%s: gatehouse_config_mismatch has %d fields, want 11: %v", c.name, len(gauge), gauge)
						}
						for f, n := range gauge {
							if want := tt.wantMismatch && f == peers.FieldAudience; (n == 1) != want || n > 1 {
								t.Errorf("%s: gatehouse_config_mismatch{field=%q} = %v", c.name, f, n)
							}
						}
						if failing := c.self.App.Ready(context.Background()); len(failing) > 0 {
							t.Errorf("%s: Ready = %v, want ready despite the peer", c.name, failing)
						}
						if !tt.wantMismatch {
							if len(lines) != 0 {
								t.Errorf("%s: lines about peers that agree: %v", c.name, lines)
							}
							continue
						}
						if len(lines) != 1 {
							t.Fatalf("%s: %d lines about the peer, want 1: %v", c.name, len(lines), lines)
						}
						l := lines[0]
						for k, want := range map[string]any{
							"level": "ERROR", "field": peers.FieldAudience, "value": c.value, "peer_value": c.theirs,
							"instance_id": c.self.App.Peers.ID(), "peer_id": c.peer.App.Peers.ID(),
							"peer_listen": c.peer.Config.Listen, "peer_version": "devel",
						} {
							if l[k] != want {
								t.Errorf("%s: %s = %v, want %v (%v)", c.name, k, l[k], want, l)
							}
						}
					}

					// B stops refreshing (its next refresh is 30 s away);
					// once its record expired, A no longer counts it.
					clock.Advance(peers.TTL)
					check(t, a)
					if n := mismatches(t, a)[peers.FieldAudience]; n != 0 {
						t.Errorf("after B's record expired: gatehouse_config_mismatch{field=tokens.audience} = %v, want 0", n)
					}
				})
			}
		})
	}
}
