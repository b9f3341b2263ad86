package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/peers"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres"
	redisstore "github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// MainStore is what the main store (store:) holds: users, sessions (unless
// sessions.store says otherwise), refresh tokens, keys, audit, revocations
// (unless Redis is configured) and linked identities.
type MainStore interface {
	user.Store
	session.Store
	token.RefreshStore
	keys.Store
	audit.Store
	revocation.Store
	user.IdentityStore
	mfa.Store
	mfa.StepStore
	client.Store
	authserver.Store
	authserver.LogoutStore
	oidc.LogoutStore
	peers.Store
	Ping(ctx context.Context) error
	Migrate(ctx context.Context) error
	// CheckSchema is nil when the store is at exactly the schema version
	// this binary knows (sqldb.ErrSchemaBehind, sqldb.ErrSchemaNewer).
	CheckSchema(ctx context.Context) error
	Close() error
}

var (
	_ MainStore = (*sqlite.Store)(nil)
	_ MainStore = (*postgres.Store)(nil)
)

// OpenMainStore opens the store a config names, without migrating it.
// migrateDSN (store_migrate) is a direct PostgreSQL URL for migrations; ""
// means dsn.
func OpenMainStore(ctx context.Context, dsn, migrateDSN string) (MainStore, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		s, err := sqlite.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("open store (sqlite): %w", err)
		}
		return s, nil
	case strings.HasPrefix(dsn, "postgres:"), strings.HasPrefix(dsn, "postgresql:"):
		s, err := postgres.Open(ctx, dsn, postgres.WithMigrateDSN(migrateDSN))
		if err != nil {
			return nil, fmt.Errorf("open store (postgres): %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("store: unsupported URL scheme (use sqlite:// or postgres://)")
}

// redisTopology is the Redis deployment shared by instances: the redis
// section (url, sentinel or cluster), or sessions.store when that is a
// redis:// URL; ok is false when the config uses no Redis.
func redisTopology(cfg config.Config) (t redisstore.Topology, ok bool) {
	r := cfg.Redis
	switch {
	case r.URL != "":
		return redisstore.Topology{URL: r.URL}, true
	case r.Sentinel.Master != "":
		return redisstore.Topology{SentinelMaster: r.Sentinel.Master, SentinelAddrs: r.Sentinel.Addrs, Password: r.Sentinel.Password}, true
	case len(r.Cluster.Addrs) > 0:
		return redisstore.Topology{ClusterAddrs: r.Cluster.Addrs, Password: r.Cluster.Password}, true
	case strings.HasPrefix(cfg.Sessions.Store, "redis:"), strings.HasPrefix(cfg.Sessions.Store, "rediss:"):
		return redisstore.Topology{URL: cfg.Sessions.Store}, true
	}
	return redisstore.Topology{}, false
}

// openRedis opens Redis when the config uses it, else returns nil; what
// go-redis reports by itself goes to log.
func openRedis(ctx context.Context, cfg config.Config, log *slog.Logger) (*redisstore.Store, error) {
	t, ok := redisTopology(cfg)
	if !ok {
		return nil, nil
	}
	redisstore.SetLogger(log)
	r, err := redisstore.OpenTopology(ctx, t, redisstore.WithKeyPrefix(cfg.Redis.KeyPrefix),
		redisstore.WithWait(cfg.Redis.EffectiveWaitReplicas(), cfg.Redis.EffectiveWaitTimeout()))
	if err != nil {
		return nil, fmt.Errorf("open redis: %w", err)
	}
	return r, nil
}

// evictionCheckTimeout bounds the maxmemory-policy check at start, so that
// a slow node delays startup by at most this much.
const evictionCheckTimeout = 5 * time.Second

// checkRedisEviction logs, once per node, a Redis whose maxmemory-policy
// may delete gatehouse's keys before their TTL (docs/deploy.md): an ERROR
// line naming the policy, the node and what eviction undoes, also while
// maxmemory is 0, because a limit can be set at run time and the policy
// then applies at once. A node that refuses CONFIG (managed Redis renames
// or blocks it; an ACL without +config) is an INFO line: the policy could
// not be checked and must be noeviction. Neither stops the start: refusing
// an evicting Redis would stop, at the upgrade, deployments that ran on one
// before this check existed.
func checkRedisEviction(ctx context.Context, r *redisstore.Store, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, evictionCheckTimeout)
	defer cancel()
	nodes, err := r.MemoryPolicies(ctx)
	if err != nil {
		log.InfoContext(ctx, "redis maxmemory-policy could not be checked; it must be noeviction (docs/deploy.md)",
			"error", err.Error())
		return
	}
	for _, n := range nodes {
		switch {
		case n.Err != nil:
			log.InfoContext(ctx, "redis maxmemory-policy could not be checked; it must be noeviction (docs/deploy.md)",
				"node", n.Addr, "error", n.Err.Error())
		case n.Evicts():
			attrs := []any{"node", n.Addr, "maxmemory_policy", n.Policy, "maxmemory", n.MaxMemory}
			if n.MaxMemory == 0 {
				attrs = append(attrs, "note", "nothing is evicted while maxmemory is 0 (no limit), but a limit can be set at run time")
			}
			log.ErrorContext(ctx, "redis maxmemory-policy evicts keys: a full Redis deletes gatehouse keys early, "+
				"so that a revoked token or ended session is valid again and a used TOTP code or login-failure count is given back; "+
				"set maxmemory-policy noeviction (docs/deploy.md)", attrs...)
		}
	}
}

// replicasCheckTimeout bounds the connected-replicas check at start, so
// that a slow primary delays startup by at most this much.
const replicasCheckTimeout = 5 * time.Second

// checkRedisReplicas logs, once per primary, one with fewer connected
// replicas than wait (redis.wait_replicas, effective): a WARN line naming
// the node, the count and the setting, because every logout and
// revocation written there answers 503 (redisstore.ErrNotReplicated) until
// enough replicas connect (docs/deploy.md). A primary that refuses INFO is
// an INFO line: the count could not be checked. Neither stops the start: a
// replica may connect a moment later, and whatever does not need a durable
// write keeps working meanwhile. With wait 0 nothing is asked.
func checkRedisReplicas(ctx context.Context, r *redisstore.Store, wait int, log *slog.Logger) {
	if wait <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, replicasCheckTimeout)
	defer cancel()
	const unchecked = "redis connected replicas could not be checked; a logout or revocation answers 503 " +
		"while a primary has fewer than redis.wait_replicas (docs/deploy.md)"
	primaries, err := r.ConnectedReplicas(ctx)
	if err != nil {
		log.InfoContext(ctx, unchecked, "wait_replicas", wait, "error", err.Error())
		return
	}
	for _, p := range primaries {
		switch {
		case p.Err != nil:
			log.InfoContext(ctx, unchecked, "node", p.Addr, "wait_replicas", wait, "error", p.Err.Error())
		case p.Replicas < wait:
			log.WarnContext(ctx, "redis primary has fewer connected replicas than redis.wait_replicas: "+
				"every logout and revocation answers 503 until enough replicas connect; "+
				"or set redis.wait_replicas: 0 (docs/deploy.md)",
				"node", p.Addr, "connected_replicas", p.Replicas, "wait_replicas", wait)
		}
	}
}

// unavailable reports whether err means "a store did not answer".
func unavailable(err error) bool { return errors.Is(err, auth.ErrUnavailable) }
