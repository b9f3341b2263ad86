package app_test

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// Opening Redis tells the operator when a primary has fewer connected
// replicas than redis.wait_replicas: every logout and revocation then
// answers 503 (docs/deploy.md). One WARN line per such primary, naming the
// node, the count and the setting; none when the wait is 0 or the
// replicas are there (the shared Sentinel and Cluster primaries each have
// one); an INFO line when the primary refuses INFO. Neither stops the start.
func TestOpeningRedisReportsTooFewReplicas(t *testing.T) {
	tests := []struct {
		name      string
		redis     func(t *testing.T) (r config.Redis, node string)
		wantLevel string // "" = no line about wait_replicas
		wantIn    []string
	}{
		{name: "single node, wait_replicas 1", redis: func(t *testing.T) (config.Redis, string) {
			url, prefix := redistest.New(t) // the shared node has no replica
			return config.Redis{URL: url, KeyPrefix: prefix, WaitReplicas: 1}, redistest.Addr
		}, wantLevel: "WARN", wantIn: []string{"every logout and revocation answers 503", "redis.wait_replicas: 0", "docs/deploy.md"}},
		{name: "single node, wait_replicas automatic (0)", redis: func(t *testing.T) (config.Redis, string) {
			url, prefix := redistest.New(t)
			return config.Redis{URL: url, KeyPrefix: prefix, WaitReplicas: -1}, ""
		}},
		{name: "sentinel, wait_replicas automatic (1)", redis: func(t *testing.T) (config.Redis, string) {
			d, prefix := redistest.Deploy(t, redistest.Sentinel)
			return config.Redis{Sentinel: config.RedisSentinel{Master: d.SentinelMaster, Addrs: d.SentinelAddrs}, KeyPrefix: prefix, WaitReplicas: -1}, ""
		}},
		{name: "cluster, wait_replicas automatic (1)", redis: func(t *testing.T) (config.Redis, string) {
			d, prefix := redistest.Deploy(t, redistest.Cluster)
			return config.Redis{Cluster: config.RedisCluster{Addrs: d.ClusterAddrs}, KeyPrefix: prefix, WaitReplicas: -1}, ""
		}},
		{name: "INFO refused", redis: func(t *testing.T) (config.Redis, string) {
			// A private server: the shared ones keep their users.
			addr := redistest.StartServer(t, "--user", "gh", "on", ">pw", "~*", "&*", "+@all", "-info")
			return config.Redis{URL: "redis://gh:pw@" + addr + "/0", WaitReplicas: 1}, addr
		}, wantLevel: "INFO", wantIn: []string{"could not be checked"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testutil.TestConfig(t.TempDir())
			r, node := tt.redis(t)
			r.WaitTimeout = config.Duration(config.DefaultWaitTimeout)
			cfg.Redis = r
			rec := startupLine(t, cfg, "wait_replicas", tt.wantLevel, node, tt.wantIn)
			if tt.wantLevel == "WARN" && (rec["connected_replicas"] != float64(0) || rec["wait_replicas"] != float64(1)) {
				t.Errorf("connected_replicas, wait_replicas = %v, %v; want 0, 1", rec["connected_replicas"], rec["wait_replicas"])
			}
		})
	}
}
