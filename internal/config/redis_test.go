package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// TestRedisTopologyErrorsNameTheKey: contract section 10 — exactly one of
// redis.url, redis.sentinel and redis.cluster, each complete.
func TestRedisTopologyErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		key  string
	}{
		{"url and cluster", "redis: {url: 'redis://127.0.0.1:6379/0', cluster: {addrs: ['127.0.0.1:7000']}}\n", "redis"},
		{"sentinel and cluster", "redis: {sentinel: {master: m, addrs: ['h:26379']}, cluster: {addrs: ['h:7000']}}\n", "redis"},
		{"sentinel without master", "redis: {sentinel: {addrs: ['127.0.0.1:26379']}}\n", "redis.sentinel.master"},
		{"sentinel without addrs", "redis: {sentinel: {master: mymaster}}\n", "redis.sentinel.addrs"},
		{"sentinel addr", "redis: {sentinel: {master: m, addrs: ['nonsense']}}\n", "redis.sentinel.addrs[0]"},
		{"cluster addr", "redis: {cluster: {addrs: ['127.0.0.1:7000', 'x']}}\n", "redis.cluster.addrs[1]"},
		{"url scheme", "redis: {url: 'http://127.0.0.1:6379'}\n", "redis.url"},
		{"sentinel url without master", "redis: {url: 'redis-sentinel://127.0.0.1:26379'}\n", "redis.url"},
		{"sessions in redis without redis", "sessions: {store: redis}\n", "sessions.store"},
		{"key prefix with a hash tag", "redis: {url: 'redis://127.0.0.1:6379/0', key_prefix: '{gh}:'}\n", "redis.key_prefix"},
		{"wait_replicas", "redis: {wait_replicas: -2}\n", "redis.wait_replicas"},
		{"store_migrate scheme", "store_migrate: 'sqlite://x.db'\n", "store_migrate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(write(t, tt.yaml), noEnv)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			if !strings.Contains(err.Error(), tt.key+":") {
				t.Errorf("error %q does not name %s", err, tt.key)
			}
		})
	}
}

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
