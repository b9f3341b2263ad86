package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// Options configure Run. The zero value of each field means its default.
type Options struct {
	// Duration is how long each mode is measured (default 10s).
	Duration time.Duration
	// Warmup runs before each measurement and is not counted (default
	// Duration/5, at most 1s): connections open, caches fill.
	Warmup time.Duration
	// Concurrency is the number of load workers and keep-alive connections
	// (default 2×NumCPU, at least 8).
	Concurrency int
	// MaxRequests caps each mode's measured requests (default 2,000,000).
	MaxRequests int64
	// Sessions is how many sessions the memory measurements create
	// (default 100,000).
	Sessions int
	// RedisURL enables session-redis and the Redis memory measurement when
	// it answers PING; "" skips them.
	RedisURL string
	// PostgresURL, when set, adds session-postgres.
	PostgresURL string
	// Modes restricts the run to these modes (bare-proxy, the baseline,
	// always runs); nil means every mode.
	Modes []string
	// Version is gatehouse's version, for the report.
	Version string
	// Progress receives one line per mode (default: nowhere).
	Progress io.Writer
	// Logger receives the instances' logs (default: discarded).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Warmup <= 0 {
		o.Warmup = min(o.Duration/5, time.Second)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = max(2*runtime.NumCPU(), 8)
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = 2_000_000
	}
	if o.Sessions <= 0 {
		o.Sessions = 100_000
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// runner holds what the modes of one run share.
type runner struct {
	opt         Options
	client      *http.Client
	upstream    *server
	dir         string
	redisPrefix string
	redisSkip   string // why Redis is unusable, "" when it answers
	hmacSecret  string
	report      *Report
}

// Run measures every mode and returns the report. A mode that cannot run
// (no Redis, a start failure) is in the report as skipped with the reason;
// Run itself fails only when the run as a whole cannot go on (ctx ended,
// no temporary directory, no loopback).
func Run(ctx context.Context, opt Options) (*Report, error) {
	opt = opt.withDefaults()
	selected, err := selectModes(opt)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	up, err := startServer(ctx, Upstream())
	if err != nil {
		return nil, fmt.Errorf("bench upstream: %w", err)
	}
	defer up.Close()

	r := &runner{
		opt: opt, client: NewClient(opt.Concurrency), upstream: up, dir: dir,
		redisPrefix: "gatehouse-bench-" + randomString(6) + ":", hmacSecret: randomString(32),
		report: &Report{Machine: ThisMachine(opt.Version, time.Now()), Settings: Settings{
			DurationSeconds: opt.Duration.Seconds(), WarmupSeconds: opt.Warmup.Seconds(),
			Concurrency: opt.Concurrency, MaxRequests: opt.MaxRequests, Sessions: opt.Sessions,
			AccessTTL: config.Default().Tokens.AccessTTL.D().String(),
		}},
	}
	defer r.client.CloseIdleConnections()
	r.redisSkip = pingRedis(ctx, opt.RedisURL)
	if r.redisSkip == "" {
		defer func() {
			cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := deletePrefix(cleanupCtx, opt.RedisURL, r.redisPrefix); err != nil {
				fmt.Fprintf(opt.Progress, "bench: %v\n", err)
			}
		}()
	}
	if err := r.measureMemory(ctx); err != nil {
		return nil, err
	}
	for _, m := range selected {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r.report.Modes = append(r.report.Modes, r.runMode(ctx, m))
	}
	r.report.Notes = notes(r.report)
	return r.report, nil
}

// selectModes returns the modes to run, baseline first.
func selectModes(opt Options) ([]mode, error) {
	all := allModes()
	known := make(map[string]bool)
	for _, m := range all {
		known[m.name] = true
	}
	for _, name := range opt.Modes {
		if !known[name] {
			return nil, fmt.Errorf("bench: unknown mode %q (known: %s)", name, strings.Join(ModeNames(), ", "))
		}
	}
	var out []mode
	for _, m := range all {
		switch {
		case m.name == ModeBare:
		case m.name == ModePostgres && opt.PostgresURL == "":
			continue
		case opt.Modes != nil && !slices.Contains(opt.Modes, m.name):
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// measureMemory measures the in-process and Redis stores once, before any
// mode runs, so that nothing else allocates meanwhile. SQLite is measured
// inside the session-sqlite mode, which has a database with a user.
func (r *runner) measureMemory(ctx context.Context) error {
	mem := measureMemoryStore(ctx, r.opt.Sessions)
	fmt.Fprintf(r.opt.Progress, "bench: session memory, memory store … %s B per session\n", thousands(mem.BytesPerSession))
	red := SessionMemory{Store: "redis", Skipped: r.redisSkip}
	if r.redisSkip == "" {
		red = measureRedis(ctx, r.opt.RedisURL, r.redisPrefix+"memtest:", r.opt.Sessions)
		fmt.Fprintf(r.opt.Progress, "bench: session memory, redis … %s B per session\n", thousands(red.BytesPerSession))
	}
	r.report.Memory = append(r.report.Memory, mem, red)
	return ctx.Err()
}

// runMode measures one mode; failures become a skipped result with the
// reason.
func (r *runner) runMode(ctx context.Context, m mode) ModeResult {
	res := ModeResult{Name: m.name, Kind: m.kind, Description: m.description}
	switch {
	case m.needs == "redis" && r.redisSkip != "":
		res.Skipped = r.redisSkip
	case m.needs == "postgres" && r.opt.PostgresURL == "":
		res.Skipped = "no --postgres URL given"
	}
	if !res.Ran() {
		fmt.Fprintf(r.opt.Progress, "bench: %s … skipped: %s\n", m.name, res.Skipped)
		return res
	}
	runtime.GC() // start every mode with the previous one's garbage gone
	var err error
	if m.kind == KindBaseline {
		err = r.runBare(ctx, &res)
	} else {
		err = r.runGatehouse(ctx, m, &res)
	}
	if err != nil {
		res = ModeResult{Name: m.name, Kind: m.kind, Description: m.description, Skipped: "failed: " + err.Error()}
		fmt.Fprintf(r.opt.Progress, "bench: %s … %s\n", m.name, res.Skipped)
		return res
	}
	if m.kind == KindBaseline {
		res.Ratio = 1
	} else if bare, ok := r.report.ran(ModeBare); ok && bare.RPS > 0 {
		res.Ratio = res.RPS / bare.RPS
	}
	flag := ""
	if res.Flagged() {
		flag = fmt.Sprintf(", %d ERRORS (%s)", res.Errors, res.FirstError)
	}
	fmt.Fprintf(r.opt.Progress, "bench: %s … %s req/s, p99 %s (%.2f× bare)%s\n",
		m.name, thousands(res.RPS), ms(res.P99Ms), res.Ratio, flag)
	return res
}

func (r *runner) runBare(ctx context.Context, res *ModeResult) error {
	u, err := url.Parse(r.upstream.URL)
	if err != nil {
		return err
	}
	proxy, err := startServer(ctx, BareProxy(u))
	if err != nil {
		return err
	}
	defer proxy.Close()
	defer r.client.CloseIdleConnections()
	return r.measure(ctx, proxy.URL+BenchPath+"x", credential{}, res)
}

func (r *runner) runGatehouse(ctx context.Context, m mode, res *ModeResult) error {
	cfg, err := r.baseConfig(m.name)
	if err != nil {
		return err
	}
	cfg.Routes[0].Auth = m.kind
	m.configure(&cfg, r)
	inst, err := startInstance(ctx, cfg, r.opt.Logger)
	if err != nil {
		return err
	}
	defer inst.Close()
	defer r.client.CloseIdleConnections()

	// A unique name keeps a shared PostgreSQL database usable run after run.
	username, password := "bench-"+strings.ToLower(randomString(6)), randomString(24)
	u, err := inst.App.Users.Create(ctx, username, password, nil)
	if err != nil {
		return fmt.Errorf("create bench user: %w", err)
	}
	if m.needs == "postgres" { // SQLite databases go with the temporary directory
		defer func() { _ = inst.App.Users.Delete(context.WithoutCancel(ctx), username) }()
	}
	newCredential := func() (credential, error) {
		if m.kind == KindSession {
			return login(ctx, r.client, inst.URL, inst.App.Sessions.CookieName(), username, password)
		}
		return accessToken(ctx, r.client, inst.URL, username, password)
	}
	cred, err := newCredential()
	if err != nil {
		return err
	}
	target := inst.URL + BenchPath + "x"
	if err := r.measure(ctx, target, cred, res); err != nil {
		return err
	}
	if res.Revocation, err = r.revocation(ctx, m.kind, inst.URL, target, newCredential); err != nil {
		return err
	}
	if m.name == "session-sqlite" {
		mem := measureSQLite(ctx, inst, u.ID, r.opt.Sessions)
		fmt.Fprintf(r.opt.Progress, "bench: session memory, sqlite … %s B per session\n", thousands(mem.BytesPerSession))
		r.report.Memory = append(r.report.Memory, mem)
	}
	return nil
}

// measure warms target up, then loads it for the configured duration and
// fills res.
func (r *runner) measure(ctx context.Context, target string, cred credential, res *ModeResult) error {
	t := Target{URL: target, Header: cred.header()}
	opts := LoadOptions{Concurrency: r.opt.Concurrency, Duration: r.opt.Warmup, MaxRequests: r.opt.MaxRequests}
	if _, err := Load(ctx, r.client, t, opts); err != nil {
		return err
	}
	opts.Duration = r.opt.Duration
	cpu0 := processCPU()
	lr, err := Load(ctx, r.client, t, opts)
	cpu := processCPU() - cpu0
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if lr.Requests == 0 {
		return errors.New("no request completed")
	}
	res.Requests, res.Errors, res.FirstError = lr.Requests, lr.Errors, lr.FirstError
	res.RPS = lr.RPS()
	res.P50Ms, res.P99Ms = msOf(lr.Percentile(0.50)), msOf(lr.Percentile(0.99))
	if cpu > 0 {
		res.CPUMicros = float64(cpu) / float64(time.Microsecond) / float64(lr.Requests)
	}
	res.CredentialBytes, res.CredentialHeader = cred.wireBytes(), cred.name
	return nil
}

// revocation measures how soon a fresh credential stops working after its
// owner logs out (sessions) or revokes it (tokens, deny-list).
func (r *runner) revocation(ctx context.Context, kind, base, target string, fresh func() (credential, error)) (*Revocation, error) {
	c, err := fresh()
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	if kind == KindSession {
		return measureRevocation(ctx, client, target, "POST /auth/logout", c, func() error {
			return logout(ctx, client, base, c)
		})
	}
	return measureRevocation(ctx, client, target, "POST /auth/revoke (access token; jti deny-list)", c, func() error {
		return revokeToken(ctx, client, base, c)
	})
}

// notes explain how to read the figures.
func notes(rep *Report) []string {
	n := []string{
		"The load generator runs in the same process as the servers it measures, equally for every mode: " +
			"CPU per request is process CPU time (getrusage, user+system) during the measured window divided by " +
			"requests, so it includes the generator's and the upstream's share; compare modes, not absolutes.",
		"× bare is requests/s divided by bare-proxy's in the same run; bare-proxy is httputil.ReverseProxy " +
			"with the gateway's transport settings and no authentication.",
		"Credential on the wire is the length of the header line that carries it (Cookie: … or " +
			"Authorization: Bearer …, CRLF included), sent on every request.",
		"Revocation latency is measured on one instance, from the end of the logout/revoke request to the " +
			"gateway's first 401 for the same credential; other instances learn of it through the revocation " +
			"feed (Redis broadcast, or polling of the SQL store).",
	}
	for _, m := range rep.Modes {
		if m.Flagged() {
			n = append(n, fmt.Sprintf("%s had %d failed requests (first: %s): its figures are suspect.",
				m.Name, m.Errors, m.FirstError))
		}
	}
	return n
}

// redactURL hides a password in a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(malformed URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
