package redis_test

import (
	"context"
	"net"
	"slices"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
)

// MemoryPolicies reads what a node of its own says about eviction (a
// private redis-server: the shared ones must keep noeviction), and reports
// a node that refuses CONFIG (renamed away as on managed Redis, or an ACL
// without +config) as unknown, not as safe and not as a failed call.
func TestMemoryPoliciesReadsTheNodesEviction(t *testing.T) {
	const mb100 = 100 << 20
	tests := []struct {
		name       string
		args       []string
		user       string // connect as this ACL user (password "pw")
		wantPolicy string
		wantMax    int64
		wantEvicts bool
		wantErr    bool
	}{
		{name: "allkeys-lru with a limit evicts", args: []string{"--maxmemory-policy", "allkeys-lru", "--maxmemory", "100mb"},
			wantPolicy: "allkeys-lru", wantMax: mb100, wantEvicts: true},
		{name: "volatile-ttl without a limit still counts as evicting", args: []string{"--maxmemory-policy", "volatile-ttl", "--maxmemory", "0"},
			wantPolicy: "volatile-ttl", wantMax: 0, wantEvicts: true},
		{name: "noeviction does not evict", args: []string{"--maxmemory-policy", "noeviction", "--maxmemory", "100mb"},
			wantPolicy: "noeviction", wantMax: mb100},
		{name: "CONFIG renamed away is unknown", args: []string{"--maxmemory-policy", "allkeys-lru", "--rename-command", "CONFIG", ""},
			wantErr: true},
		{name: "ACL without +config is unknown", args: []string{"--maxmemory-policy", "allkeys-lru", "--user", "gh", "on", ">pw", "~*", "&*", "+@all", "-config"},
			user: "gh", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := redistest.StartServer(t, tt.args...)
			url := "redis://" + addr + "/0"
			if tt.user != "" {
				url = "redis://" + tt.user + ":pw@" + addr + "/0"
			}
			s, err := redis.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if err := s.Ping(context.Background()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			got, err := s.MemoryPolicies(context.Background())
			if err != nil {
				t.Fatalf("MemoryPolicies: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("MemoryPolicies = %+v, want one node", got)
			}
			p := got[0]
			if p.Addr != addr {
				t.Errorf("Addr = %q, want %q", p.Addr, addr)
			}
			if gotErr := p.Err != nil; gotErr != tt.wantErr {
				t.Fatalf("Err = %v, want error %v", p.Err, tt.wantErr)
			}
			if p.Policy != tt.wantPolicy || p.MaxMemory != tt.wantMax {
				t.Errorf("Policy, MaxMemory = %q, %d; want %q, %d", p.Policy, p.MaxMemory, tt.wantPolicy, tt.wantMax)
			}
			if got, want := p.Evicts(), tt.wantEvicts; got != want {
				t.Errorf("Evicts() = %v, want %v", got, want)
			}
		})
	}
}

// MemoryPolicies visits every node the store may write to on each shared
// deployment, reading only: the single node, the Sentinel group's current
// primary (by the address it reports, not the sentinel's), and every node
// of the Cluster, replicas included (a replica becomes a primary with its
// own config in a failover). The shared servers run noeviction.
func TestMemoryPoliciesVisitsEveryNode(t *testing.T) {
	ctx := context.Background()
	for _, kind := range redistest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			s := openDeployed(t, kind)
			var want []string
			switch kind {
			case redistest.Single:
				want = []string{redistest.Addr}
			case redistest.Sentinel:
				want = []string{sentinelPrimary(t)}
			case redistest.Cluster:
				want = slices.Sorted(slices.Values(redistest.ClusterAddrs))
			}
			got, err := s.MemoryPolicies(ctx)
			if err != nil {
				t.Fatalf("MemoryPolicies: %v", err)
			}
			var addrs []string
			for _, p := range got {
				addrs = append(addrs, p.Addr)
				if p.Err != nil || p.Policy != redis.NoEviction || p.Evicts() {
					t.Errorf("node %s: policy %q, err %v, evicts %v; want noeviction", p.Addr, p.Policy, p.Err, p.Evicts())
				}
			}
			if !slices.Equal(addrs, want) {
				t.Errorf("nodes = %v, want %v", addrs, want)
			}
		})
	}
}

// openDeployed opens a store on the shared deployment of kind, under a
// key prefix of its own.
func openDeployed(t *testing.T, kind redistest.Kind) *redis.Store {
	t.Helper()
	d, prefix := redistest.Deploy(t, kind)
	s, err := redis.OpenTopology(context.Background(), redis.Topology(d), redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sentinelPrimary is the address of the shared Sentinel group's current
// primary, as the sentinels name it.
func sentinelPrimary(t *testing.T) string {
	t.Helper()
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: redistest.SentinelAddrs[0]})
	defer sc.Close()
	hp, err := sc.GetMasterAddrByName(context.Background(), redistest.SentinelMaster).Result()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(hp[0], hp[1])
}
