package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
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
	Ping(ctx context.Context) error
	Migrate(ctx context.Context) error
	Close() error
}

var (
	_ MainStore = (*sqlite.Store)(nil)
	_ MainStore = (*postgres.Store)(nil)
)

// OpenMainStore opens the store a config names, without migrating it.
func OpenMainStore(ctx context.Context, dsn string) (MainStore, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		s, err := sqlite.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("open store (sqlite): %w", err)
		}
		return s, nil
	case strings.HasPrefix(dsn, "postgres:"), strings.HasPrefix(dsn, "postgresql:"):
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("open store (postgres): %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("store: unsupported URL scheme (use sqlite:// or postgres://)")
}

// redisURL is the Redis shared by instances: redis.url, or sessions.store
// when that is a redis:// URL.
func redisURL(cfg config.Config) string {
	if cfg.Redis.URL != "" {
		return cfg.Redis.URL
	}
	if strings.HasPrefix(cfg.Sessions.Store, "redis") {
		return cfg.Sessions.Store
	}
	return ""
}

// openRedis opens Redis when the config uses it, else returns nil.
func openRedis(ctx context.Context, cfg config.Config) (*redisstore.Store, error) {
	u := redisURL(cfg)
	if u == "" {
		return nil, nil
	}
	r, err := redisstore.Open(ctx, u, redisstore.WithKeyPrefix(cfg.Redis.KeyPrefix))
	if err != nil {
		return nil, fmt.Errorf("open redis: %w", err)
	}
	return r, nil
}

// unavailable reports whether err means "a store did not answer".
func unavailable(err error) bool { return errors.Is(err, auth.ErrUnavailable) }

// redactDSN hides a password in a store URL for log lines.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
