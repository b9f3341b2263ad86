package redis

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// NoEviction is the only maxmemory-policy under which Redis never deletes a
// key before its TTL: a full Redis refuses writes instead (docs/deploy.md).
const NoEviction = "noeviction"

// MemoryPolicy is one Redis node's eviction settings, as CONFIG GET
// reports them.
type MemoryPolicy struct {
	// Addr names the node: its address as configured (a single node, every
	// Cluster node as the cluster announces it), or the address the
	// Sentinel-managed primary reports for the connection (CLIENT INFO
	// laddr), else "sentinel master <name>".
	Addr string
	// Policy is maxmemory-policy; "" when Err is set.
	Policy string
	// MaxMemory is maxmemory in bytes; 0 means no limit (on 64-bit Redis).
	MaxMemory int64
	// Err is why the settings could not be read: CONFIG renamed or blocked
	// (managed Redis such as ElastiCache or Memorystore, an ACL without
	// +config: NOPERM) or the node did not answer. Nil when Policy is known.
	Err error
}

// Evicts reports whether the node may delete keys before their TTL when
// it is full: any policy but noeviction (one this code does not know
// counts as evicting). It does not depend on MaxMemory: with maxmemory 0
// nothing is evicted yet, but CONFIG SET (or a managed Redis) can set a
// limit at run time, and the policy applies at once. False when Err is
// set: the policy is unknown, not known to be safe.
func (p MemoryPolicy) Evicts() bool {
	return p.Err == nil && p.Policy != NoEviction
}

// MemoryPolicies reads maxmemory-policy and maxmemory on every node the
// store writes to or may write to after a failover: the node of a URL,
// the current Sentinel-managed primary (its replicas are not reachable
// through the client: configure them alike), and every node of a Cluster,
// primaries and replicas, since each has its own config. A node whose
// settings cannot be read is reported with Err set, never as an error of
// the call; the error (a wrapped auth.ErrUnavailable) is only for a
// Cluster whose node list cannot be loaded. Nodes are sorted by Addr.
func (s *Store) MemoryPolicies(ctx context.Context) ([]MemoryPolicy, error) {
	return perNode(ctx, s, false, func(ctx context.Context, c goredis.Cmdable, addr string) MemoryPolicy {
		p := readMemoryPolicy(ctx, c)
		p.Addr = addr
		return p
	})
}

// perNode asks each node that a check reads, with read, and returns the
// answers sorted by the node's name: the node of a URL or the current
// Sentinel-managed primary (named by nodeAddr), or on a Cluster every
// node (primariesOnly: every primary that owns slots), concurrently. The
// error (a wrapped auth.ErrUnavailable) is only for a Cluster whose node
// list cannot be loaded: read reports a node's own failure in its answer.
func perNode[T any](ctx context.Context, s *Store, primariesOnly bool, read func(ctx context.Context, c goredis.Cmdable, addr string) T) ([]T, error) {
	if s.cluster == nil {
		return []T{read(ctx, s.client, s.nodeAddr(ctx))}, nil
	}
	type answer struct {
		addr string
		v    T
	}
	var (
		mu  sync.Mutex
		out []answer
	)
	visit := func(ctx context.Context, c *goredis.Client) error {
		addr := c.Options().Addr
		v := read(ctx, c, addr)
		mu.Lock()
		out = append(out, answer{addr, v})
		mu.Unlock()
		return nil
	}
	each, what := s.cluster.ForEachShard, "read redis cluster nodes"
	if primariesOnly {
		each, what = s.cluster.ForEachMaster, "read redis cluster primaries"
	}
	if err := each(ctx, visit); err != nil {
		return nil, wrap(what, err)
	}
	slices.SortFunc(out, func(a, b answer) int { return cmp.Compare(a.addr, b.addr) })
	vs := make([]T, len(out))
	for i, a := range out {
		vs[i] = a.v
	}
	return vs, nil
}

// nodeAddr names the node of a store that is no Cluster: its address as
// configured, or the address the Sentinel-managed primary reports for the
// connection (CLIENT INFO laddr), else "sentinel master <name>".
func (s *Store) nodeAddr(ctx context.Context) string {
	if s.sentinel == "" {
		if c, ok := s.client.(*goredis.Client); ok {
			return c.Options().Addr
		}
		return ""
	}
	if info, err := s.client.ClientInfo(ctx).Result(); err == nil && info.LAddr != "" {
		return info.LAddr
	}
	return "sentinel master " + s.sentinel
}

// readMemoryPolicy asks one node (a Sentinel failover client: its
// current primary) for its eviction settings.
func readMemoryPolicy(ctx context.Context, c goredis.Cmdable) MemoryPolicy {
	var p MemoryPolicy
	policy, err := configGet(ctx, c, "maxmemory-policy")
	if err != nil {
		p.Err = err
		return p
	}
	limit, err := configGet(ctx, c, "maxmemory")
	if err != nil {
		p.Err = err
		return p
	}
	n, err := strconv.ParseInt(limit, 10, 64)
	if err != nil {
		p.Err = fmt.Errorf("read redis maxmemory: not a number: %q", limit)
		return p
	}
	p.Policy, p.MaxMemory = policy, n
	return p
}

// configGet returns one parameter of CONFIG GET; a parameter missing from
// the reply (a server that hides it) is an error, not "".
func configGet(ctx context.Context, c goredis.Cmdable, name string) (string, error) {
	m, err := c.ConfigGet(ctx, name).Result()
	if err != nil {
		// Not wrap: a refused CONFIG (renamed, NOPERM) is no outage.
		return "", fmt.Errorf("redis config get %s: %w", name, err)
	}
	v, ok := m[name]
	if !ok {
		return "", fmt.Errorf("redis config get %s: not in the reply", name)
	}
	return v, nil
}
