package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
)

// subject is a mode that is set up and ready to be loaded: its server is
// running and it holds a valid credential. Its measurements accumulate
// over the rounds.
type subject struct {
	mode     mode
	target   Target
	cred     credential
	inst     *app.Local // nil for the baseline
	userID   string
	fresh    func() (credential, error) // a new credential of the same kind
	closers  []func()
	measured LoadResult
	cpu      time.Duration
}

func (s *subject) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
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

// setUp starts m's server and gets a credential.
func (r *runner) setUp(ctx context.Context, m mode) (*subject, error) {
	s := &subject{mode: m}
	if m.kind == KindBaseline {
		u, err := url.Parse(r.upstream.URL)
		if err != nil {
			return nil, err
		}
		proxy, err := startServer(ctx, BareProxy(u))
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() { _ = proxy.Close() })
		s.target = Target{URL: proxy.URL + BenchPath + "x"}
		return s, nil
	}
	cfg, err := r.baseConfig(m.name)
	if err != nil {
		return nil, err
	}
	cfg.Routes[0].Auth = m.kind
	m.configure(&cfg, r)
	inst, err := startInstance(ctx, cfg, r.opt.Logger)
	if err != nil {
		return nil, err
	}
	s.inst = inst
	s.closers = append(s.closers, func() { _ = inst.Close() })

	// A unique name keeps a shared PostgreSQL database usable run after run.
	username, password := "bench-"+strings.ToLower(randomString(6)), randomString(24)
	u, err := inst.App.Users.Create(ctx, username, password, nil)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("create bench user: %w", err)
	}
	s.userID = u.ID
	if m.needs == "postgres" { // SQLite databases go with the temporary directory
		s.closers = append(s.closers, func() { _ = inst.App.Users.Delete(context.WithoutCancel(ctx), username) })
	}
	s.fresh = func() (credential, error) {
		if m.kind == KindSession {
			return login(ctx, r.client, inst.URL, inst.App.Sessions.CookieName(), username, password)
		}
		return accessToken(ctx, r.client, inst.URL, username, password)
	}
	if s.cred, err = s.fresh(); err != nil {
		s.close()
		return nil, err
	}
	s.target = Target{URL: inst.URL + BenchPath + "x", Header: s.cred.header()}
	return s, nil
}

// rounds returns how many slices each mode's duration is cut into: one per
// 500 ms, at most 10. The modes take turns, slice by slice, so that a
// change in the machine's load during the run (other processes, thermal
// limits) is spread over every mode instead of falling on whichever mode
// ran at the time.
func (o Options) rounds() int {
	return min(10, max(1, int(o.Duration/(500*time.Millisecond))))
}

// measureAll warms every subject up, then loads them in turns for the
// configured duration each.
func (r *runner) measureAll(ctx context.Context, subjects []*subject) error {
	for _, s := range subjects {
		opts := LoadOptions{Concurrency: r.opt.Concurrency, Duration: r.opt.Warmup, MaxRequests: r.opt.MaxRequests}
		if _, err := Load(ctx, r.client, s.target, opts); err != nil {
			return err
		}
	}
	n := r.opt.rounds()
	slice := r.opt.Duration / time.Duration(n)
	for round := range n {
		// Rotate the order so that no mode always follows the same one.
		order := slices.Clone(subjects)
		k := round % len(order)
		order = append(order[k:], order[:k]...)
		for _, s := range order {
			if err := r.measureSlice(ctx, s, slice); err != nil {
				return err
			}
		}
		if n > 1 {
			fmt.Fprintf(r.opt.Progress, "bench: round %d/%d done\n", round+1, n)
		}
	}
	return nil
}

// measureSlice loads s for d (within what is left of its request budget)
// and adds the outcome to its measurements.
func (r *runner) measureSlice(ctx context.Context, s *subject, d time.Duration) error {
	left := r.opt.MaxRequests - s.measured.Requests
	if left <= 0 {
		return nil
	}
	runtime.GC() // each slice starts without the previous one's garbage
	cpu0 := processCPU()
	lr, err := Load(ctx, r.client, s.target, LoadOptions{Concurrency: r.opt.Concurrency, Duration: d, MaxRequests: left})
	s.cpu += processCPU() - cpu0
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
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

// result turns a subject's measurements into its report row.
func (s *subject) result(bareRPS float64) (ModeResult, error) {
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
	if s.cpu > 0 {
		res.CPUMicros = float64(s.cpu) / float64(time.Microsecond) / float64(lr.Requests)
	}
	res.CredentialBytes, res.CredentialHeader = s.cred.wireBytes(), s.cred.name
	if bareRPS > 0 {
		res.Ratio = res.RPS / bareRPS
	}
	return res, nil
}
