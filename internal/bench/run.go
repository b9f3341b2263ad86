package bench

import (
	"context"
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
	// Duration is how long each mode is measured (default 10s), in up to
	// ten slices: the modes take turns, slice by slice (rounds).
	Duration time.Duration
	// Warmup runs once per mode before the measurements and is not counted
	// (default Duration/5, at most 1s): connections open, caches fill.
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
			DurationSeconds: opt.Duration.Seconds(), WarmupSeconds: opt.Warmup.Seconds(), Rounds: opt.rounds(),
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
	subjects, err := r.setUpAll(ctx, selected)
	defer func() {
		for _, s := range subjects {
			s.close()
		}
	}()
	if err != nil {
		return nil, err
	}
	if err := r.measureAll(ctx, subjects); err != nil {
		return nil, err
	}
	if err := r.finish(ctx, subjects); err != nil {
		return nil, err
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
// mode starts, so that nothing else allocates meanwhile. SQLite is measured
// in the session-sqlite mode after its load, in its database with a user.
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

// setUpAll starts every selected mode. A mode that cannot run gets its row
// now, as skipped with the reason; the others are returned, in order.
func (r *runner) setUpAll(ctx context.Context, selected []mode) ([]*subject, error) {
	fmt.Fprintf(r.opt.Progress, "bench: starting %d modes\n", len(selected))
	var subjects []*subject
	for _, m := range selected {
		res := ModeResult{Name: m.name, Kind: m.kind, Description: m.description, Skipped: r.skipReason(m)}
		if res.Ran() {
			s, err := r.setUp(ctx, m)
			if ctx.Err() != nil {
				return subjects, ctx.Err()
			}
			if err == nil {
				subjects = append(subjects, s)
				r.report.Modes = append(r.report.Modes, res) // filled in by finish
				continue
			}
			res.Skipped = "failed: " + err.Error()
		}
		fmt.Fprintf(r.opt.Progress, "bench: %s … skipped: %s\n", m.name, res.Skipped)
		r.report.Modes = append(r.report.Modes, res)
	}
	return subjects, nil
}

// finish fills in the rows of the measured modes, then measures what is
// measured once per mode after the load: revocation latency, and SQLite's
// bytes per session.
func (r *runner) finish(ctx context.Context, subjects []*subject) error {
	var bareRPS float64
	for _, s := range subjects {
		if s.mode.kind == KindBaseline {
			bareRPS = s.measured.RPS()
		}
	}
	for _, s := range subjects {
		i := slices.IndexFunc(r.report.Modes, func(m ModeResult) bool { return m.Name == s.mode.name })
		res, err := s.result(bareRPS)
		if err == nil && s.inst != nil {
			res.Revocation, err = r.revocation(ctx, s.mode.kind, s.inst.URL, s.target.URL, s.fresh)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err != nil {
			r.report.Modes[i].Skipped = "failed: " + err.Error()
			fmt.Fprintf(r.opt.Progress, "bench: %s … %s\n", s.mode.name, r.report.Modes[i].Skipped)
			continue
		}
		r.report.Modes[i] = res
		flag := ""
		if res.Flagged() {
			flag = fmt.Sprintf(", %d ERRORS (%s)", res.Errors, res.FirstError)
		}
		fmt.Fprintf(r.opt.Progress, "bench: %s … %s req/s, p99 %s (%.2f× bare)%s\n",
			res.Name, thousands(res.RPS), ms(res.P99Ms), res.Ratio, flag)
		if s.mode.name == "session-sqlite" {
			mem := measureSQLite(ctx, s.inst, s.userID, r.opt.Sessions)
			fmt.Fprintf(r.opt.Progress, "bench: session memory, sqlite … %s B per session\n", thousands(mem.BytesPerSession))
			r.report.Memory = append(r.report.Memory, mem)
		}
	}
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
			"requests, so it includes the generator's and the upstream's share; compare modes, not absolutes. " +
			"CPU/req over bare subtracts bare-proxy's figure, which leaves gatehouse's own work.",
		"× bare is requests/s divided by bare-proxy's in the same run; bare-proxy is httputil.ReverseProxy " +
			"(Rewrite, the gateway's transport pool sizes and a copy-buffer pool) with no authentication.",
		"The modes take turns in interleaved rounds, so that changes in the machine's load during the run " +
			"spread over all of them.",
		"Credential on the wire is the length of the header line that carries it (Cookie: … or " +
			"Authorization: Bearer …, CRLF included), sent on every request.",
		"Revocation latency is measured on one instance, from the end of the logout/revoke request to the " +
			"gateway's first 401 for the same credential; other instances learn of it through the revocation " +
			"feed (Redis broadcast, or polling of the SQL store).",
	}
	if lo, hi, ok := cachedTokenSpread(rep); ok {
		n = append(n, fmt.Sprintf("The token modes with the verified-token cache do nearly the same work per request "+
			"(a cache hit: SHA-256 of the token and a map lookup, whatever the algorithm), so their spread, "+
			"%.2f× to %.2f× here, shows this run's noise.", lo, hi))
	}
	for _, m := range rep.Modes {
		if m.Flagged() {
			n = append(n, fmt.Sprintf("%s had %d failed requests (first: %s): its figures are suspect.",
				m.Name, m.Errors, m.FirstError))
		}
	}
	return n
}

// cachedTokenSpread is the lowest and highest ratio of the cached token
// modes, when at least two ran.
func cachedTokenSpread(rep *Report) (lo, hi float64, ok bool) {
	count := 0
	for _, name := range []string{"token-HS256", "token-ES256", "token-RS256", "token-EdDSA"} {
		m, ran := rep.ran(name)
		if !ran {
			continue
		}
		if count == 0 || m.Ratio < lo {
			lo = m.Ratio
		}
		if count == 0 || m.Ratio > hi {
			hi = m.Ratio
		}
		count++
	}
	return lo, hi, count >= 2
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
