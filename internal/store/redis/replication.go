package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// PrimaryReplicas is how many replicas one primary has connected, as
// INFO replication reports them (connected_slaves).
type PrimaryReplicas struct {
	// Addr names the primary as MemoryPolicy.Addr names a node.
	Addr string
	// Replicas is connected_slaves; 0 when Err is set.
	Replicas int
	// Err is why the count could not be read: INFO renamed or blocked
	// (managed Redis, an ACL without +info) or the node did not answer.
	// Nil when Replicas is known.
	Err error
}

// ConnectedReplicas reads connected_slaves on every primary a logout's
// WAIT (WithWait) runs on: the node of a URL, the current Sentinel-managed
// primary, and every Cluster primary that owns slots (replicas never run
// WAIT). A primary whose count cannot be read is reported with Err set,
// never as an error of the call; the error (a wrapped auth.ErrUnavailable)
// is only for a Cluster whose node list cannot be loaded. Primaries are
// sorted by Addr.
func (s *Store) ConnectedReplicas(ctx context.Context) ([]PrimaryReplicas, error) {
	return perNode(ctx, s, true, func(ctx context.Context, c goredis.Cmdable, addr string) PrimaryReplicas {
		p := readReplicas(ctx, c)
		p.Addr = addr
		return p
	})
}

// readReplicas asks one node (a Sentinel failover client: its current
// primary) for connected_slaves.
func readReplicas(ctx context.Context, c goredis.Cmdable) PrimaryReplicas {
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		// Not wrap: a refused INFO (renamed, NOPERM) is no outage.
		return PrimaryReplicas{Err: fmt.Errorf("redis info replication: %w", err)}
	}
	for line := range strings.SplitSeq(info, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return PrimaryReplicas{Err: fmt.Errorf("redis info replication: connected_slaves is not a number: %q", v)}
		}
		return PrimaryReplicas{Replicas: n}
	}
	return PrimaryReplicas{Err: fmt.Errorf("redis info replication: no connected_slaves in the reply")}
}
