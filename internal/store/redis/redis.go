package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/throttle"
)

// DefaultKeyPrefix prefixes every key the store writes.
const DefaultKeyPrefix = "gatehouse:"

// defaultTimeout bounds dials, reads and writes unless the URL sets its own
// (dial_timeout, read_timeout, write_timeout), so that a hung Redis turns
// into a 503 quickly instead of a hung request.
const defaultTimeout = 2 * time.Second

var (
	_ session.Store    = (*Store)(nil)
	_ revocation.Store = (*Store)(nil)
	_ throttle.Store   = (*Store)(nil)
)

// Store is a Redis-backed session, revocation and throttle store. It is safe
// for concurrent use.
type Store struct {
	client *goredis.Client
	prefix string
}

// Option configures a Store.
type Option func(*Store)

// WithKeyPrefix sets the prefix of every key (default DefaultKeyPrefix), so
// that several deployments can share one Redis.
func WithKeyPrefix(p string) Option { return func(s *Store) { s.prefix = p } }

// Open returns a Store for url (redis://[user:password@]host:port/db or
// rediss:// for TLS). It does not contact the server: gatehouse may start
// while Redis is down and recover when it comes back; use Ping to check.
// A malformed URL is a wrapped auth.ErrInvalidInput whose message never
// repeats the URL, which may hold a password.
func Open(_ context.Context, url string, opts ...Option) (*Store, error) {
	o, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("open redis: malformed redis URL: %w", auth.ErrInvalidInput)
	}
	for _, d := range []*time.Duration{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout} {
		if *d == 0 {
			*d = defaultTimeout
		}
	}
	// One retry covers a pooled connection that a Redis restart cut; more
	// would only delay the 503 while Redis is really down.
	if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	if o.DialerRetries == 0 {
		o.DialerRetries = 2
	}
	if o.MaxRetryBackoff == 0 {
		o.MaxRetryBackoff = 100 * time.Millisecond
	}
	s := &Store{client: goredis.NewClient(o), prefix: DefaultKeyPrefix}
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
}

// Ping checks that Redis answers; a wrapped auth.ErrUnavailable if not.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping redis", s.client.Ping(ctx).Err())
}

// Close closes the connection pool; later calls fail with a wrapped
// auth.ErrUnavailable.
func (s *Store) Close() error {
	return s.client.Close()
}

// wrap adds op as context and maps the error to the auth sentinels. Only
// redis.Nil means "absent"; anything else means Redis did not answer as it
// should, and callers must fail closed.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, goredis.Nil):
		return fmt.Errorf("%s: %w", op, auth.ErrNotFound)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, err)
	default:
		return fmt.Errorf("%s: %w: %w", op, auth.ErrUnavailable, err)
	}
}

// SetObserver makes every Redis command report its name and latency to fn
// (Prometheus' store latency histogram). Call it before use.
func (s *Store) SetObserver(fn func(op string, d time.Duration)) {
	s.client.AddHook(observeHook(fn))
}

// observeHook times commands and pipelines for SetObserver.
type observeHook func(op string, d time.Duration)

func (h observeHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h observeHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h(cmd.Name(), time.Since(start))
		return err
	}
}

func (h observeHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		h("pipeline", time.Since(start))
		return err
	}
}
