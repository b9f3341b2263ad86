package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
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

// waitReplicas is redis.wait_replicas, with -1 resolved: one replica on
// Sentinel and Cluster (where a failover could otherwise lose a logout or
// revocation), none on a single node.
func waitReplicas(cfg config.Config, t redisstore.Topology) int {
	if n := cfg.Redis.WaitReplicas; n >= 0 {
		return n
	}
	if t.URL == "" || strings.HasPrefix(t.URL, "redis-sentinel:") {
		return 1
	}
	return 0
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
		redisstore.WithWait(waitReplicas(cfg, t), cfg.Redis.WaitTimeout.D()))
	if err != nil {
		return nil, fmt.Errorf("open redis: %w", err)
	}
	return r, nil
}

// unavailable reports whether err means "a store did not answer".
func unavailable(err error) bool { return errors.Is(err, auth.ErrUnavailable) }
