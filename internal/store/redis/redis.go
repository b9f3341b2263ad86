package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// DefaultWaitTimeout bounds how long a durable write waits for replicas.
const DefaultWaitTimeout = time.Second

// ErrNotReplicated (wrapping auth.ErrUnavailable) means a logout or
// revocation reached the primary but not enough replicas within the wait
// timeout: a failover could still lose it, so it does not count as done.
var ErrNotReplicated = fmt.Errorf("write not acknowledged by enough replicas: %w", auth.ErrUnavailable)

var (
	_ session.Store    = (*Store)(nil)
	_ revocation.Store = (*Store)(nil)
	_ throttle.Store   = (*Store)(nil)
)

// Store is a Redis-backed session, revocation and throttle store over a
// single node, a Sentinel-managed primary or a Redis Cluster. It is safe for
// concurrent use.
type Store struct {
	client      goredis.UniversalClient
	cluster     *goredis.ClusterClient // client, when it is a Cluster; else nil
	sentinel    string                 // the Sentinel master name, when client is a failover client
	prefix      string
	wait        int // replicas that must acknowledge a durable write (WAIT)
	waitTimeout time.Duration
}

// Topology names the Redis deployment: exactly one of URL (redis://,
// rediss:// or redis-sentinel://), SentinelMaster with SentinelAddrs, or
// ClusterAddrs.
type Topology struct {
	URL            string
	SentinelMaster string
	SentinelAddrs  []string
	ClusterAddrs   []string
	// Password authenticates to Sentinel-managed or Cluster nodes (and to the
	// sentinels themselves); a URL carries its own.
	Password string
}

// Option configures a Store.
type Option func(*Store)

// WithKeyPrefix sets the prefix of every key (default DefaultKeyPrefix), so
// that several deployments can share one Redis. It may not contain "{" or
// "}": a hash tag in it would change which keys share a Cluster slot.
func WithKeyPrefix(p string) Option { return func(s *Store) { s.prefix = p } }

// WithWait makes every logout and revocation wait until replicas replicas
// have acknowledged it (Redis WAIT), up to timeout, and fail with
// ErrNotReplicated otherwise, so that a failover right after it cannot lose
// it. 0 replicas (the default) does not wait; a timeout of 0 or less means
// DefaultWaitTimeout (WAIT 0 would block forever).
func WithWait(replicas int, timeout time.Duration) Option {
	if timeout <= 0 {
		timeout = DefaultWaitTimeout
	}
	return func(s *Store) { s.wait, s.waitTimeout = replicas, timeout }
}

// SetLogger sends what go-redis reports by itself to log, instead of its
// default: plain text from the log package on stderr, between the JSON
// lines (contract §6). Its routine lines — the sentinel it picked, the
// primary it found, a sentinel it discovered, Cluster slots that moved —
// are INFO; everything else (a Sentinel or a pool that cannot dial, a
// failed lookup) is WARN. Each line starts with one "redis: ". go-redis has
// one logger per process: the last call wins. go-redis's own variable is
// set once; later calls swap the logger behind it atomically, so that
// instances opened concurrently (tests, CLI commands beside serve) never
// race on that variable.
func SetLogger(log *slog.Logger) {
	clientLogger.log.Store(log)
	clientLoggerOnce.Do(func() { goredis.SetLogger(&clientLogger) })
}

var (
	clientLogger     clientLog
	clientLoggerOnce sync.Once
)

// routine holds the formats of go-redis's lines that report normal
// operation, by the format string it logs them with (go-redis v9
// sentinel.go, osscluster.go). A line whose format changes in a later
// go-redis falls back to WARN, which TestGoRedisLogLevels notices.
var routine = map[string]bool{
	"sentinel: selected addr=%s masterAddr=%s":                  true,
	"sentinel: new master=%q addr=%q":                           true,
	"sentinel: discovered new sentinel=%q for master=%q":        true,
	"sentinel: ignore addr for master=%q":                       true,
	"cluster: slots %v migrated to %s, reloading cluster state": true,
}

type clientLog struct{ log atomic.Pointer[slog.Logger] }

func (l *clientLog) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	log := l.log.Load()
	if log == nil {
		return
	}
	level := slog.LevelWarn
	if routine[format] {
		level = slog.LevelInfo
	}
	// Some of go-redis's lines already start with "redis: ".
	msg := strings.TrimPrefix(strings.TrimSpace(fmt.Sprintf(format, v...)), "redis: ")
	log.Log(ctx, level, "redis: "+msg)
}

// Open returns a Store for url (redis://[user:password@]host:port/db,
// rediss:// for TLS, or redis-sentinel://[user:password@]host:port[,…]/master[/db]).
// It is OpenTopology with only a URL.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	return OpenTopology(ctx, Topology{URL: url}, opts...)
}

// OpenTopology returns a Store for t. It does not contact the server:
// gatehouse may start while Redis is down and recover when it comes back;
// use Ping to check. A malformed topology is a wrapped auth.ErrInvalidInput
// whose message never repeats a URL, which may hold a password.
func OpenTopology(_ context.Context, t Topology, opts ...Option) (*Store, error) {
	s := &Store{prefix: DefaultKeyPrefix, waitTimeout: DefaultWaitTimeout}
	for _, opt := range opts {
		opt(s)
	}
	if strings.ContainsAny(s.prefix, "{}") {
		return nil, fmt.Errorf("key prefix must not contain { or }: %w", auth.ErrInvalidInput)
	}
	switch {
	case strings.HasPrefix(t.URL, "redis-sentinel:"):
		o, err := parseSentinelURL(t.URL)
		if err != nil {
			return nil, err
		}
		s.client, s.sentinel = goredis.NewFailoverClient(s.failoverDefaults(o)), o.MasterName
	case t.URL != "":
		o, err := parseURL(t.URL)
		if err != nil {
			return nil, err
		}
		s.setTimeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout)
		setRetries(&o.MaxRetries, &o.DialerRetries, &o.MaxRetryBackoff)
		s.client = goredis.NewClient(o)
	case t.SentinelMaster != "" && len(t.SentinelAddrs) > 0:
		s.client = goredis.NewFailoverClient(s.failoverDefaults(&goredis.FailoverOptions{
			MasterName:       t.SentinelMaster,
			SentinelAddrs:    t.SentinelAddrs,
			Password:         t.Password,
			SentinelPassword: t.Password,
		}))
		s.sentinel = t.SentinelMaster
	case len(t.ClusterAddrs) > 0:
		o := &goredis.ClusterOptions{Addrs: t.ClusterAddrs, Password: t.Password}
		s.setTimeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout)
		setRetries(&o.MaxRetries, &o.DialerRetries, &o.MaxRetryBackoff)
		s.cluster = goredis.NewClusterClient(o)
		s.cluster.AddHook(reloadOnNetError{s.cluster})
		s.client = s.cluster
	default:
		return nil, fmt.Errorf("no redis URL, sentinel or cluster given: %w", auth.ErrInvalidInput)
	}
	return s, nil
}

// setTimeouts defaults unset timeouts to defaultTimeout and keeps the read
// timeout above the WAIT timeout, which a durable pipeline blocks for.
func (s *Store) setTimeouts(dial, read, write *time.Duration) {
	for _, d := range []*time.Duration{dial, read, write} {
		if *d == 0 {
			*d = defaultTimeout
		}
	}
	if s.wait > 0 {
		*read = max(*read, s.waitTimeout+time.Second)
	}
}

// setRetries: one retry covers a pooled connection that a Redis restart or
// failover cut; more would only delay the 503 while Redis is really down.
func setRetries(retries, dialerRetries *int, backoff *time.Duration) {
	if *retries == 0 {
		*retries = 1
	}
	if *dialerRetries == 0 {
		*dialerRetries = 2
	}
	if *backoff == 0 {
		*backoff = 100 * time.Millisecond
	}
}

func (s *Store) failoverDefaults(o *goredis.FailoverOptions) *goredis.FailoverOptions {
	s.setTimeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout)
	setRetries(&o.MaxRetries, &o.DialerRetries, &o.MaxRetryBackoff)
	return o
}

// CheckURL returns the error OpenTopology would return for the URL raw, or
// nil: the one rule for a Redis URL, which config check applies too
// (redis.url, sessions.store). redis:// and rediss:// URLs are read by
// go-redis, with its query parameters (dial_timeout, pool_size, …) and no
// others: a password goes in the userinfo, not in ?password=.
// redis-sentinel:// URLs are read by gatehouse and take no query. The
// error wraps auth.ErrInvalidInput and never repeats the URL, which may
// hold a password.
func CheckURL(raw string) error {
	var err error
	if strings.HasPrefix(raw, "redis-sentinel:") {
		_, err = parseSentinelURL(raw)
	} else {
		_, err = parseURL(raw)
	}
	return err
}

// parseURL reads a redis:// or rediss:// URL as go-redis does. go-redis's
// reason is kept: it names a query parameter, its value or a path, never
// the userinfo; but when the userinfo did not parse as one (an unescaped
// '/', '?' or '#' in the password ended the host early), that reason
// could hold part of the password, so it is dropped.
func parseURL(raw string) (*goredis.Options, error) {
	o, err := goredis.ParseURL(raw)
	if err == nil {
		return o, nil
	}
	var reason string
	switch u, perr := url.Parse(raw); {
	case perr != nil:
		reason = "not a URL"
	case u.User == nil && strings.Contains(raw, "@"):
		reason = "percent-encode '/', '?' and '#' in a password"
	default:
		reason = strings.TrimPrefix(err.Error(), "redis: ")
	}
	return nil, fmt.Errorf("malformed redis URL (%s): %w", reason, auth.ErrInvalidInput)
}

// parseSentinelURL reads
// redis-sentinel://[user:password@]host:port[,host:port…]/master[/db].
// The password applies to the Redis nodes and the sentinels; user and
// password are percent-decoded, as in a redis:// URL. It takes no query
// parameters: one would become part of the master name or the database.
func parseSentinelURL(raw string) (*goredis.FailoverOptions, error) {
	bad := fmt.Errorf("malformed redis-sentinel URL (want redis-sentinel://[user:password@]host:port[,host:port…]/master[/db], without query parameters): %w", auth.ErrInvalidInput)
	rest, ok := strings.CutPrefix(raw, "redis-sentinel://")
	if !ok {
		return nil, bad
	}
	o := &goredis.FailoverOptions{}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		// Percent-decoded, as in a redis:// URL: a password holding '/',
		// '?', '#', '@' or '%' is written percent-encoded in both.
		user, pw, _ := strings.Cut(rest[:i], ":")
		var err1, err2 error
		user, err1 = url.PathUnescape(user)
		pw, err2 = url.PathUnescape(pw)
		if err1 != nil || err2 != nil {
			return nil, bad
		}
		o.Username, o.Password, o.SentinelUsername, o.SentinelPassword = user, pw, user, pw
		rest = rest[i+1:]
	}
	hosts, path, _ := strings.Cut(rest, "/")
	master, db, _ := strings.Cut(path, "/")
	if hosts == "" || master == "" || strings.ContainsAny(rest, "?#") {
		return nil, bad
	}
	o.MasterName, o.SentinelAddrs = master, strings.Split(hosts, ",")
	if db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, bad
		}
		o.DB = n
	}
	return o, nil
}

// Ping checks that Redis answers (on a Cluster, every primary); a wrapped
// auth.ErrUnavailable if not.
func (s *Store) Ping(ctx context.Context) error {
	if s.cluster != nil {
		return wrap("ping redis", s.cluster.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
			return c.Ping(ctx).Err()
		}))
	}
	return wrap("ping redis", s.client.Ping(ctx).Err())
}

// Close closes the connection pool; later calls fail with a wrapped
// auth.ErrUnavailable.
func (s *Store) Close() error {
	return s.client.Close()
}

// durable runs the writes queue adds, all on the node that owns key, in
// one pipeline on one connection followed by WAIT when the store waits for
// replicas (WithWait). WAIT covers the writes of its own connection only,
// hence one pipeline on the key's primary rather than the cluster client.
// Every key queue touches must live on key's primary.
//
// On a Cluster, that pipeline goes to one node directly, so the cluster
// client's own handling of MOVED and ASK does not apply: durable follows
// them itself (followRedirects). Before, a logout whose session's slot was
// being resharded, or had just moved, failed with 503 and left the session
// in place.
func (s *Store) durable(ctx context.Context, key string, queue func(p goredis.Pipeliner)) error {
	if s.cluster == nil || s.wait <= 0 {
		_, err := s.writeAndWait(ctx, s.client, queue)
		return err
	}
	node, err := s.cluster.MasterForKey(ctx, key)
	if err != nil {
		return err
	}
	cmds, err := s.writeAndWait(ctx, node, queue)
	for range maxRedirects {
		if !errors.Is(err, errRedirected) {
			break
		}
		cmds, err = s.followRedirects(ctx, cmds)
	}
	if err != nil && unreachable(err) {
		s.cluster.ReloadState(ctx) // the node pipeline bypasses reloadOnNetError
	}
	return err
}

// maxRedirects bounds how many MOVED or ASK replies in a row one durable
// write follows.
const maxRedirects = 3

// errRedirected reports that some of a durable write's commands were
// answered MOVED or ASK: they ran nowhere yet.
var errRedirected = errors.New("redis cluster slot moved during the write")

// writeAndWait runs the commands queue adds and, with WithWait, WAIT, in
// one pipeline on node, and returns queue's commands (the ones with a
// result, and the ones to resend). Its error is the first failure other
// than redis.Nil (a session already gone), a MOVED or an ASK; else
// ErrNotReplicated when too few replicas acknowledged; else errRedirected
// when some commands were redirected.
func (s *Store) writeAndWait(ctx context.Context, node goredis.Cmdable, queue func(p goredis.Pipeliner)) ([]goredis.Cmder, error) {
	var ack *goredis.IntCmd
	cmds, err := node.Pipelined(ctx, func(p goredis.Pipeliner) error {
		queue(p)
		if s.wait > 0 {
			ack = goredis.NewIntCmd(ctx, "wait", s.wait, s.waitTimeout.Milliseconds())
			_ = p.Process(ctx, ack)
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) && !redirected(err) {
		return nil, err
	}
	// go-redis reports the first failed command only, and an empty reply
	// (redis.Nil: a session already gone) counts: a real error after it
	// (a Cluster primary that is down) would pass unseen.
	written, moved := cmds[:0], false
	for _, c := range cmds {
		if c == goredis.Cmder(ack) || c.Name() == "asking" {
			continue
		}
		switch err := c.Err(); {
		case err == nil, errors.Is(err, goredis.Nil):
		case redirected(err):
			moved = true
		default:
			return nil, err
		}
		written = append(written, c)
	}
	if ack != nil && ack.Val() < int64(s.wait) {
		return nil, ErrNotReplicated
	}
	if moved {
		return written, errRedirected
	}
	return written, nil
}

func redirected(err error) bool {
	_, moved := goredis.IsMovedError(err)
	_, ask := goredis.IsAskError(err)
	return moved || ask
}

// followRedirects resends the commands of cmds that a MOVED or ASK reply
// sent elsewhere to the primary it named (after ASK, each behind ASKING:
// the slot is still migrating there), each group followed by its own
// WAIT, and returns them. The commands that ran already keep their
// results; the ones redirected had not run anywhere.
func (s *Store) followRedirects(ctx context.Context, cmds []goredis.Cmder) ([]goredis.Cmder, error) {
	type target struct {
		addr string
		ask  bool
	}
	groups := map[target][]goredis.Cmder{}
	var order []target
	for _, c := range cmds {
		var t target
		var ok bool
		if t.addr, ok = goredis.IsMovedError(c.Err()); !ok {
			if t.addr, ok = goredis.IsAskError(c.Err()); !ok {
				continue
			}
			t.ask = true
		}
		if _, seen := groups[t]; !seen {
			order = append(order, t)
		}
		groups[t] = append(groups[t], c)
	}
	var out []goredis.Cmder
	var again bool
	for _, t := range order {
		if !t.ask {
			s.cluster.ReloadState(ctx) // the next MasterForKey then knows the move
		}
		node, done, err := s.primaryAt(ctx, t.addr)
		if err != nil {
			return nil, err
		}
		sent, err := s.writeAndWait(ctx, node, func(p goredis.Pipeliner) {
			for _, c := range groups[t] {
				if t.ask {
					_ = p.Process(ctx, goredis.NewStatusCmd(ctx, "asking"))
				}
				_ = p.Process(ctx, c)
			}
		})
		done()
		switch {
		case errors.Is(err, errRedirected):
			again = true
		case err != nil:
			return nil, err
		}
		out = append(out, sent...)
	}
	if again {
		return out, errRedirected
	}
	return out, nil
}

// primaryAt returns a client of the Cluster primary at addr and a function
// to call when done with it: the cluster client's own when addr serves
// slots, else (a new, empty primary that slots are being resharded into)
// a short-lived client with the cluster's settings.
func (s *Store) primaryAt(ctx context.Context, addr string) (*goredis.Client, func(), error) {
	var (
		mu    sync.Mutex
		found *goredis.Client
	)
	err := s.cluster.ForEachMaster(ctx, func(_ context.Context, c *goredis.Client) error {
		if c.Options().Addr == addr {
			mu.Lock()
			found = c
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if found != nil {
		return found, func() {}, nil
	}
	o := s.cluster.Options()
	c := goredis.NewClient(&goredis.Options{
		Addr: addr, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig, Dialer: o.Dialer,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		MaxRetries: o.MaxRetries, PoolSize: 1,
	})
	return c, func() { _ = c.Close() }, nil
}

// reloadOnNetError makes a Cluster client reload its slot map when a
// command or pipeline could not reach a node. go-redis reloads it only on
// MOVED, ASK and READONLY replies, or once ClusterStateReloadInterval (60 s)
// has passed: after a failover, the commands for the dead primary's slots
// kept dialling it, never got a MOVED from the promoted replica, and failed
// (503) for up to a minute after the cluster had recovered. The reload is
// go-redis's lazy one: asynchronous, one at a time, so an outage costs at
// most a CLUSTER SLOTS every 200 ms per instance.
type reloadOnNetError struct{ c *goredis.ClusterClient }

func (h reloadOnNetError) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h reloadOnNetError) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil && unreachable(err) {
			h.c.ReloadState(ctx)
		}
		return err
	}
}

func (h reloadOnNetError) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		if err != nil && unreachable(err) {
			h.c.ReloadState(ctx)
		}
		return err
	}
}

// unreachable reports whether err says a node could not be reached or
// dropped the connection (a refused dial, a timeout, EOF), as opposed to a
// reply from Redis.
func unreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// sentOnce is a command that go-redis sends at most once: it retries
// neither it nor a pipeline holding it after a network error (MaxRetries),
// so that its caller, which runs it again itself (writeAgain), knows when
// a second run happened.
type sentOnce struct{ *goredis.Cmd }

func (sentOnce) NoRetry() bool { return true }

// writeAgain runs write, whose commands are sentOnce, and runs it once more
// after the failures go-redis would have retried (setRetries): a dead or
// unreachable connection, or a server that refused to run it for now
// (LOADING, READONLY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN). again reports
// that the second run came after a first that may have run on the server
// with its answer lost: a connection that died or timed out once the
// commands were sent, not a dial that failed or a refusal.
func writeAgain(ctx context.Context, write func() error) (again bool, err error) {
	err = write()
	if err == nil || ctx.Err() != nil || !retryable(err) {
		return false, err
	}
	var op *net.OpError
	again = unreachable(err) && !(errors.As(err, &op) && op.Op == "dial") && !errors.Is(err, goredis.ErrPoolTimeout)
	return again, write()
}

func retryable(err error) bool {
	return unreachable(err) || errors.Is(err, goredis.ErrPoolTimeout) ||
		goredis.IsLoadingError(err) || goredis.IsReadOnlyError(err) || goredis.IsMasterDownError(err) ||
		goredis.IsTryAgainError(err) || goredis.IsClusterDownError(err)
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
	case errors.Is(err, context.Canceled), errors.Is(err, auth.ErrUnavailable):
		return fmt.Errorf("%s: %w", op, err)
	default:
		return fmt.Errorf("%s: %w: %w", op, auth.ErrUnavailable, err)
	}
}

// SetObserver makes every Redis command report its name and latency to fn
// (Prometheus' store latency histogram). Call it before use. On a Cluster,
// the durable pipelines that run on one primary directly are not observed.
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
