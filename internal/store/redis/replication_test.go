package redis_test

import (
	"context"
	"slices"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
)

// ConnectedReplicas asks every primary a logout's WAIT runs on how many
// replicas it has, reading only: the single node (none in the shared
// setup), the Sentinel group's current primary (by the address it
// reports), and every Cluster primary that owns slots, not the replicas
// (WAIT never runs there).
func TestConnectedReplicasCountsEachPrimarysReplicas(t *testing.T) {
	ctx := context.Background()
	for _, kind := range redistest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			s := openDeployed(t, kind)
			var (
				want []string
				// The shared setup gives each Sentinel or Cluster primary
				// one replica, the single node none.
				wantReplicas = 1
			)
			switch kind {
			case redistest.Single:
				want, wantReplicas = []string{redistest.Addr}, 0
			case redistest.Sentinel:
				want = []string{sentinelPrimary(t)}
			case redistest.Cluster:
				cc := goredis.NewClient(&goredis.Options{Addr: redistest.ClusterAddrs[0]})
				t.Cleanup(func() { _ = cc.Close() })
				slots, err := cc.ClusterSlots(ctx).Result()
				if err != nil {
					t.Fatal(err)
				}
				for _, sl := range slots {
					if !slices.Contains(want, sl.Nodes[0].Addr) {
						want = append(want, sl.Nodes[0].Addr)
					}
				}
				slices.Sort(want)
			}
			got, err := s.ConnectedReplicas(ctx)
			if err != nil {
				t.Fatalf("ConnectedReplicas: %v", err)
			}
			var addrs []string
			for _, p := range got {
				addrs = append(addrs, p.Addr)
				if p.Err != nil || p.Replicas != wantReplicas {
					t.Errorf("primary %s: %d replicas, err %v; want %d", p.Addr, p.Replicas, p.Err, wantReplicas)
				}
			}
			if !slices.Equal(addrs, want) {
				t.Errorf("primaries = %v, want %v", addrs, want)
			}
		})
	}
}

// A primary that refuses INFO (an ACL without +info; managed Redis may
// rename it) is reported with Err, not as a primary without replicas and
// not as a failed call. A private redis-server: the shared ones keep
// their users.
func TestConnectedReplicasReportsARefusedInfo(t *testing.T) {
	addr := redistest.StartServer(t, "--user", "gh", "on", ">pw", "~*", "&*", "+@all", "-info")
	s, err := redis.Open(context.Background(), "redis://gh:pw@"+addr+"/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	got, err := s.ConnectedReplicas(context.Background())
	if err != nil {
		t.Fatalf("ConnectedReplicas: %v", err)
	}
	if len(got) != 1 || got[0].Addr != addr || got[0].Err == nil {
		t.Fatalf("ConnectedReplicas = %+v, want one primary %s with Err set", got, addr)
	}
}
