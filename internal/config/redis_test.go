package config_test

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// Key errors of the redis section (contract section 10: exactly one of
// redis.url, redis.sentinel and redis.cluster, each complete) are in
// TestLoadErrorsNameTheKey.

func TestRedisTopologiesAccepted(t *testing.T) {
	tests := []struct{ name, yaml string }{
		{"single node", "redis: {url: 'redis://127.0.0.1:6379/0'}\nsessions: {store: redis}\n"},
		{"sentinel URL", "redis: {url: 'redis-sentinel://:pw@127.0.0.1:26379,127.0.0.1:26380/mymaster/0'}\n"},
		{"sentinel", "redis: {sentinel: {master: mymaster, addrs: ['127.0.0.1:26379']}}\nsessions: {store: redis}\n"},
		{"cluster", "redis: {cluster: {addrs: ['127.0.0.1:7000', '127.0.0.1:7001']}}\nsessions: {store: redis}\n"},
		{"sessions on their own node", "sessions: {store: 'redis://127.0.0.1:6379/1'}\n"},
		{"pgbouncer with direct migrations", "store: 'postgres://gh@127.0.0.1:6432/gh'\nstore_migrate: 'postgres://gh@127.0.0.1:5432/gh'\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := config.Load(write(t, tt.yaml), noEnv); err != nil {
				t.Fatalf("Load: %v", err)
			}
		})
	}
}

// TestMaskedHidesRedisPasswords: a sentinel URL has several hosts and does
// not parse as a URL; its password must still never be printed.
func TestMaskedHidesRedisPasswords(t *testing.T) {
	cfg, err := config.Load(write(t, "redis: {url: 'redis-sentinel://u:s3cret-pw@127.0.0.1:26379,127.0.0.1:26380/mymaster'}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if out := cfg.Masked(); strings.Contains(out, "s3cret-pw") || !strings.Contains(out, "mymaster") {
		t.Errorf("Masked leaks the sentinel URL password or drops the URL:\n%s", out)
	}
	cfg, err = config.Load(write(t, "redis: {cluster: {addrs: ['127.0.0.1:7000'], password: s3cret-pw}}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if out := cfg.Masked(); strings.Contains(out, "s3cret-pw") {
		t.Errorf("Masked leaks the cluster password:\n%s", out)
	}
}

// redis.wait_timeout: 0 means the default, 1s (Redis WAIT with a timeout
// of 0 would block until the replicas answer, for ever if one is gone):
// EffectiveWaitTimeout, what serve passes to the Redis store, says so, and
// config check prints that effective value as it prints the other
// defaults it fills in (public_url, a route's forward and timeout). A
// negative value is an error.
func TestRedisWaitTimeoutZeroMeansOneSecond(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		printed string
	}{
		{"0", time.Second, "1s"},
		{"0s", time.Second, "1s"},
		{"250ms", 250 * time.Millisecond, "250ms"},
		{"", time.Second, "1s"}, // key left out: the default
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			body := "redis: {url: 'redis://127.0.0.1:6379/0'}\n"
			if tt.value != "" {
				body = "redis: {url: 'redis://127.0.0.1:6379/0', wait_timeout: " + tt.value + "}\n"
			}
			cfg, err := config.Load(write(t, body), noEnv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := cfg.Redis.EffectiveWaitTimeout(); got != tt.want {
				t.Errorf("EffectiveWaitTimeout() = %v, want %v", got, tt.want)
			}
			var out struct {
				Redis struct {
					WaitTimeout string `yaml:"wait_timeout"`
				} `yaml:"redis"`
			}
			if err := yaml.Unmarshal([]byte(cfg.Masked()), &out); err != nil {
				t.Fatal(err)
			}
			if got := out.Redis.WaitTimeout; got != tt.printed {
				t.Errorf("config check prints wait_timeout: %s, want %s", got, tt.printed)
			}
		})
	}
	if _, err := config.Load(write(t, "redis: {url: 'redis://127.0.0.1:6379/0', wait_timeout: -1s}\n"), noEnv); err == nil ||
		!strings.Contains(err.Error(), "redis.wait_timeout") {
		t.Errorf("wait_timeout: -1s: err = %v, want one naming redis.wait_timeout", err)
	}
}

// redis.wait_replicas: -1 (the default) means 1 on Sentinel (section or
// redis-sentinel:// URL) and Cluster, 0 on one node (redis.url or a
// sessions.store URL): the deployment's kind, which the config alone
// says. config check prints that effective number, as it prints
// wait_timeout's; a number set is printed as it is.
func TestRedisWaitReplicasPrintsTheEffectiveNumber(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       int
	}{
		{"single node", "redis: {url: 'redis://127.0.0.1:6379/0'}\n", 0},
		{"sessions.store URL", "sessions: {store: 'redis://127.0.0.1:6379/0'}\n", 0},
		{"sentinel URL", "redis: {url: 'redis-sentinel://127.0.0.1:26379/mymaster'}\n", 1},
		{"sentinel section", "redis: {sentinel: {master: mymaster, addrs: ['127.0.0.1:26379']}}\n", 1},
		{"cluster", "redis: {cluster: {addrs: ['127.0.0.1:7000']}}\n", 1},
		{"set on a cluster", "redis: {cluster: {addrs: ['127.0.0.1:7000']}, wait_replicas: 2}\n", 2},
		{"set to 0 on sentinel", "redis: {sentinel: {master: mymaster, addrs: ['127.0.0.1:26379']}, wait_replicas: 0}\n", 0},
		{"no redis", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(write(t, tt.yaml), noEnv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var out struct {
				Redis struct {
					WaitReplicas int `yaml:"wait_replicas"`
				} `yaml:"redis"`
			}
			if err := yaml.Unmarshal([]byte(cfg.Masked()), &out); err != nil {
				t.Fatal(err)
			}
			if got := out.Redis.WaitReplicas; got != tt.want {
				t.Errorf("config check prints wait_replicas: %d, want %d", got, tt.want)
			}
		})
	}
}
