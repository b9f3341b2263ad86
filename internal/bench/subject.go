package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// subject is a mode that is set up and ready to be loaded: its server
// process is running and it holds a valid credential. Its measurements
// accumulate over the rounds.
type subject struct {
	mode     mode
	target   Target
	cred     credential
	proc     *proc         // the process serving the mode
	cfg      config.Config // gatehouse modes: the config proc serves
	userID   string
	fresh    func() (credential, error) // a new credential of the same kind
	closers  []func()
	measured LoadResult
	cpu      time.Duration // proc's CPU time over the measured slices
	cpuErr   error         // why CPU time could not be read, if so
	rounds   []roundStat
}

// roundStat is one measured slice of a mode.
type roundStat struct {
	rps       float64
	cpuMicros float64 // 0 when unknown
}

func (s *subject) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// skipReason says why mode m cannot run at all, or "".
func (r *runner) skipReason(m mode) string {
	switch {
	case m.needs == "redis" && r.redisSkip != "":
		return r.redisSkip
	case m.needs == "postgres" && r.opt.PostgresURL == "":
		return "no --postgres URL given"
	}
	return ""
}

// setUp starts m's server process and gets a credential.
func (r *runner) setUp(ctx context.Context, m mode) (*subject, error) {
	s := &subject{mode: m}
	if m.kind == KindBaseline {
		args := []string{"bare-proxy", "--listen", "127.0.0.1:0", "--upstream", r.upstream.URL}
		if m.name == ModeBareNoPool {
			args = append(args, "--buffer-pool=false")
		}
		p, err := startFixture(ctx, r.opt.Binary, m.name, args...)
		if err != nil {
			return nil, err
		}
		s.proc = p
		s.closers = append(s.closers, func() { _ = p.Close() })
		s.target = Target{URL: p.URL + BenchPath + "x"}
		return s, nil
	}
	cfg, err := r.baseConfig(m.name)
	if err != nil {
		return nil, err
	}
	cfg.Routes[0].Auth = m.kind
	m.configure(&cfg, r)
	s.cfg = cfg

	// The user is created here, through the store, before gatehouse starts:
	// a login would cost an argon2id hash and a process of its own.
	// A unique name keeps a shared PostgreSQL database usable run after run.
	username, password := "bench-"+strings.ToLower(randomString(6)), randomString(24)
	cookieName, err := withApp(ctx, cfg, r.opt.Logger, func(a *app.App) error {
		u, err := a.Users.Create(ctx, username, password, nil)
		s.userID = u.ID
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create bench user: %w", err)
	}
	if m.needs == "postgres" { // SQLite databases go with the temporary directory
		s.closers = append(s.closers, func() {
			_, _ = withApp(context.WithoutCancel(ctx), cfg, r.opt.Logger, func(a *app.App) error {
				return a.Users.Delete(context.WithoutCancel(ctx), username)
			})
		})
	}
	if s.proc, err = r.startGatehouse(ctx, m.name, cfg); err != nil {
		s.close()
		return nil, err
	}
	p := s.proc
	s.closers = append(s.closers, func() { _ = p.Close() })
	s.fresh = func() (credential, error) {
		switch m.kind {
		case KindSession:
			return login(ctx, r.client, p.URL, cookieName, username, password)
		case KindToken:
			return accessToken(ctx, r.client, p.URL, username, password)
		}
		return credential{}, nil
	}
	if s.cred, err = s.fresh(); err != nil {
		s.close()
		return nil, err
	}
	s.target = Target{URL: p.URL + BenchPath + "x", Header: s.cred.header()}
	return s, nil
}

// startGatehouse writes cfg to the mode's directory and serves it with
// `gatehouse serve` in a process of its own. The listen port is chosen
// free just before; should another process take it meanwhile, the start
// is tried again with another one.
func (r *runner) startGatehouse(ctx context.Context, name string, cfg config.Config) (*proc, error) {
	var lastErr error
	for range 3 {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		cfg.Listen = addr
		path := filepath.Join(r.dir, name, "gatehouse.yaml")
		if err := writeConfig(path, cfg); err != nil {
			return nil, err
		}
		p, err := startGatehouse(ctx, r.opt.Binary, name, path, addr)
		if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "address already in use") {
			return p, err
		}
		lastErr = err
	}
	return nil, lastErr
}

// writeConfig writes cfg as YAML, readable by the owner only; an HS256
// secret goes to a file of its own, as the configuration docs ask.
func writeConfig(path string, cfg config.Config) error {
	if cfg.Tokens.HMACSecret != "" {
		secret := path + ".hmac"
		if err := os.WriteFile(secret, []byte(cfg.Tokens.HMACSecret), 0o600); err != nil {
			return fmt.Errorf("bench config: %w", err)
		}
		cfg.Tokens.HMACSecret, cfg.Tokens.HMACSecretFile = "", secret
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("bench config: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("bench config: %w", err)
	}
	return nil
}

// withApp opens cfg's stores in this process (migrating them), runs fn and
// closes them; it returns the session cookie name gatehouse uses with cfg.
func withApp(ctx context.Context, cfg config.Config, log *slog.Logger, fn func(*app.App) error) (string, error) {
	a, err := app.New(ctx, cfg, log, app.Options{Migrate: true})
	if err != nil {
		return "", err
	}
	defer a.Close()
	return a.Sessions.CookieName(), fn(a)
}

// rounds returns how many slices each mode's duration is cut into: one per
// 500 ms up to 10 (the default 10 s: ten 1 s slices), then one per second,
// at most maxRounds. The modes take turns, slice by slice, so that a change
// in the machine's load during the run (other processes, thermal limits)
// is spread over every mode instead of falling on whichever mode ran at the
// time; and the more rounds, the narrower the CPU efficiency's interval
// (efficiencyInterval) for the same noise.
func (o Options) rounds() int {
	n := max(1, int(o.Duration/(500*time.Millisecond)))
	if n > 10 {
		n = max(10, int(o.Duration/time.Second))
	}
	return min(n, maxRounds)
}

// maxRounds caps the rounds of a long run: slices of a long run are longer
// instead.
const maxRounds = 120

// measureAll warms every subject up, then loads them in turns for the
// configured duration each. It returns ctx's error when interrupted; the
// rounds completed so far stay in the subjects.
func (r *runner) measureAll(ctx context.Context, subjects []*subject) error {
	n := r.opt.rounds()
	slice := r.opt.Duration / time.Duration(n)
	r.progress.plan(time.Duration(len(subjects)) * (r.opt.Warmup + r.opt.Duration))
	for _, s := range subjects {
		r.progress.status("warming up " + s.mode.name)
		opts := LoadOptions{Concurrency: r.opt.Concurrency, Duration: r.opt.Warmup, MaxRequests: r.opt.MaxRequests}
		if _, err := Load(ctx, r.client, s.target, opts); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r.progress.advance(r.opt.Warmup)
	}
	for round := range n {
		// Rotate the order so that no mode always follows the same one.
		order := slices.Clone(subjects)
		k := round % len(order)
		order = append(order[k:], order[:k]...)
		for _, s := range order {
			r.progress.status(fmt.Sprintf("round %d/%d: %s", round+1, n, s.mode.name))
			if err := r.measureSlice(ctx, s, slice); err != nil {
				return err
			}
			r.progress.advance(slice)
		}
		r.roundsDone = round + 1
		r.progress.roundDone(round+1, n)
	}
	return nil
}

// measureSlice loads s for d (within what is left of its request budget)
// and adds the outcome to its measurements. A slice cut short by ctx is
// dropped: it did not run its full length.
func (r *runner) measureSlice(ctx context.Context, s *subject, d time.Duration) error {
	left := r.opt.MaxRequests - s.measured.Requests
	if left <= 0 {
		return nil
	}
	runtime.GC() // each slice starts without the previous one's garbage
	cpu0, err0 := s.proc.cpu()
	lr, err := Load(ctx, r.client, s.target, LoadOptions{Concurrency: r.opt.Concurrency, Duration: d, MaxRequests: left})
	cpu1, err1 := s.proc.cpu()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	round := roundStat{rps: lr.RPS()}
	if err := errors.Join(err0, err1); err != nil {
		s.cpuErr = err
	} else if lr.Requests > 0 {
		s.cpu += cpu1 - cpu0
		round.cpuMicros = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(lr.Requests)
	}
	s.rounds = append(s.rounds, round)
	m := &s.measured
	m.Requests += lr.Requests
	m.Errors += lr.Errors
	m.Elapsed += lr.Elapsed
	m.Latencies = append(m.Latencies, lr.Latencies...)
	if m.FirstError == "" {
		m.FirstError = lr.FirstError
	}
	return nil
}

// result turns a subject's measurements into its report row; bare is the
// reference baseline's row (zero when it has none yet).
func (s *subject) result(bare ModeResult, noiseThreshold float64) (ModeResult, error) {
	m := s.mode
	res := ModeResult{Name: m.name, Kind: m.kind, Description: m.description}
	lr := s.measured
	if lr.Requests == 0 {
		return res, errors.New("no request completed")
	}
	slices.Sort(lr.Latencies)
	res.Requests, res.Errors, res.FirstError = lr.Requests, lr.Errors, lr.FirstError
	res.RPS = lr.RPS()
	res.P50Ms, res.P99Ms = msOf(lr.Percentile(0.50)), msOf(lr.Percentile(0.99))
	if s.cpuErr == nil && s.cpu > 0 {
		res.CPUMicros = float64(s.cpu) / float64(time.Microsecond) / float64(lr.Requests)
	}
	res.CredentialBytes, res.CredentialHeader = s.cred.wireBytes(), s.cred.name
	if m.carries != "" {
		res.CredentialOf = m.from
	}
	if m.name == ModeBare {
		bare = res
	}
	if bare.RPS > 0 {
		res.Ratio = res.RPS / bare.RPS
	}
	for _, rs := range s.rounds {
		res.RoundRPS = append(res.RoundRPS, round1(rs.rps))
		if rs.cpuMicros > 0 {
			res.RoundCPUMicros = append(res.RoundCPUMicros, round1(rs.cpuMicros))
		}
	}
	if bare.CPUMicros > 0 && res.CPUMicros > 0 {
		res.CPUEfficiency = bare.CPUMicros / res.CPUMicros
		if m.name != ModeBare {
			res.CPUEfficiencyInterval = efficiencyInterval(bare, res)
		}
	}
	res.Spread = max(spread(res.RoundRPS), spread(res.RoundCPUMicros))
	res.Noisy = res.Spread > noiseThreshold
	return res, nil
}

// spread is (max − min) ÷ median of vs: how far apart the rounds of one
// mode landed. 0 for fewer than two values.
func spread(vs []float64) float64 {
	if len(vs) < 2 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if med <= 0 {
		return 0
	}
	return (s[len(s)-1] - s[0]) / med
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
