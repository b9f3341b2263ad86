package testutil

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// Clock is the shared settable test clock.
type Clock = clocktest.Clock

// NewClock returns a clock at the current time.
func NewClock() *Clock { return clocktest.New(time.Now()) }

// Instance is a running gatehouse.
type Instance struct {
	URL    string
	App    *app.App
	Config config.Config
	Clock  *Clock // nil unless WithClock
	logs   *SyncBuffer
	stop   func()
}

// Option changes how Start builds the instance.
type Option func(*options)

type options struct {
	clock  *Clock
	mutate []func(*config.Config)
	wrap   func(app.MainStore) app.MainStore
}

// WithConfig edits the config before start.
func WithConfig(fn func(*config.Config)) Option {
	return func(o *options) { o.mutate = append(o.mutate, fn) }
}

// WithStore wraps the instance's main store (app.Options.WrapStore): a
// test pauses one call of the real store there.
func WithStore(wrap func(app.MainStore) app.MainStore) Option {
	return func(o *options) { o.wrap = wrap }
}

// WithClock makes the instance use c instead of the real clock.
func WithClock(c *Clock) Option { return func(o *options) { o.clock = c } }

// TestConfig is the default config with a store in dir and cheap password
// hashing (the real parameters are exercised by benchmarks).
func TestConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.Store = "sqlite://" + filepath.Join(dir, "gatehouse.db")
	cfg.AdminListen = ""
	// Cheap argon2id; refused logins are answered at once.
	cfg.Passwords.MemoryKiB, cfg.Passwords.Iterations, cfg.Passwords.Parallelism = 8*1024, 1, 1
	cfg.Passwords.ShedDelay = 0
	return cfg
}

// Start runs a gatehouse on 127.0.0.1 with a random port until the test ends.
func Start(t testing.TB, opts ...Option) *Instance {
	t.Helper()
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	cfg := TestConfig(t.TempDir())
	for _, fn := range o.mutate {
		fn(&cfg)
	}
	seedSQLite(t, cfg.Store)
	logs := &SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	appOpts := app.Options{Migrate: true, WrapStore: o.wrap}
	if o.clock != nil {
		appOpts.Now = o.clock.Now
	}
	l, err := app.StartLocal(context.Background(), cfg, log, appOpts)
	if err != nil {
		t.Fatalf("start gatehouse: %v", err)
	}
	stop := sync.OnceFunc(func() {
		if err := l.Close(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	t.Cleanup(stop)
	return &Instance{URL: l.URL, App: l.App, Config: l.App.Config, Clock: o.clock, logs: logs, stop: stop}
}

// seedSQLite gives a new SQLite file of the config the migrated schema at
// once (sqlitetest.Seed): the instance's own Migrate, which runs as in
// production, then finds nothing to do. Stores elsewhere are left alone.
func seedSQLite(t testing.TB, store string) {
	t.Helper()
	path, ok := strings.CutPrefix(store, "sqlite://")
	if !ok || path == ":memory:" {
		return
	}
	if _, err := os.Stat(filepath.Dir(path)); err == nil {
		sqlitetest.Seed(t, path)
	}
}

// Stop shuts the instance down as SIGTERM does (draining requests, then
// stopping its background work) and closes its stores, before the test
// ends; otherwise the test's end does it. Calling it again does nothing.
func (i *Instance) Stop() { i.stop() }

// WaitReady polls /readyz until it answers 200 (at most 10 s): the process
// is up, its stores answer and its revocation feed is loaded.
func WaitReady(t testing.TB, base string) {
	t.Helper()
	ready := clocktest.Within(10*time.Second, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !ready {
		t.Fatalf("%s/readyz did not answer 200 within 10s", base)
	}
}

// Logs returns everything the instance logged so far.
func (i *Instance) Logs() string { return i.logs.String() }

// AssertLogsDoNotContain fails when any secret appears in the log.
func (i *Instance) AssertLogsDoNotContain(t testing.TB, secrets ...string) {
	t.Helper()
	logs := i.Logs()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the log contains a secret (%d bytes starting %q)", len(s), s[:min(4, len(s))])
		}
	}
}

// CreateUser adds a user with a password.
func (i *Instance) CreateUser(t testing.TB, name, password string, roles ...string) auth.User {
	t.Helper()
	u, err := i.App.Users.Create(context.Background(), name, password, roles)
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

// Client returns an HTTP client with its own cookie jar that does not
// follow redirects (tests assert them).
func Client(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ReadBody reads and closes a response body.
func ReadBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// SyncBuffer is a bytes.Buffer that goroutines (a server's log, a test)
// can share.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
