package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/demo"
)

// Options configure Run. The zero value of each field means its default.
type Options struct {
	// Duration of the load (default 10 minutes; `make soak` reads SOAK_TIME).
	Duration time.Duration
	// Binary is the gatehouse binary to run (required).
	Binary string
	// Dir holds the private services' data and the instances' logs
	// (default: a new temporary directory, kept when the run fails).
	Dir string
	// Users is the number of concurrent virtual users (default 6).
	Users int
	// Progress receives a line per phase and fault (default: nowhere).
	Progress io.Writer
}

// Result is what a run measured.
type Result struct {
	Start, End       time.Time
	Requests         int64
	WronglyAllowed   int64    // allowed after an acknowledged logout/revocation (beyond 1 s elsewhere)
	DoubleSuccessors int64    // refresh tokens with two successors
	RefreshRaces     int64    // concurrent double refreshes attempted
	ErrorsOutside    int64    // 5xx or transport errors outside fault windows
	ErrorsInside     int64    // the same inside fault windows (expected)
	ErrorExamples    []string // the first few errors outside windows
	Revocations      int64    // acknowledged logouts and token revocations checked
	Propagation      []time.Duration
	Faults           []*Fault
	Samples          []Sample
	Instances        []string
}

// Fault is one scheduled fault and the window in which errors are expected:
// from its start until every instance is ready again (plus a grace).
type Fault struct {
	Name       string
	Start, End time.Time // End zero while it lasts
}

// Sample is one reading of an instance's resident memory and goroutines.
type Sample struct {
	At         time.Duration // since Start
	Instance   string
	RSSBytes   float64
	Goroutines float64
}

// Failures lists the checks the run failed; empty means it passed.
func (r *Result) Failures() []string {
	var out []string
	if r.WronglyAllowed > 0 {
		out = append(out, fmt.Sprintf("%d requests allowed after an acknowledged logout or revocation", r.WronglyAllowed))
	}
	if r.DoubleSuccessors > 0 {
		out = append(out, fmt.Sprintf("%d refresh tokens got two successors", r.DoubleSuccessors))
	}
	if r.ErrorsOutside > 0 {
		out = append(out, fmt.Sprintf("%d 5xx or transport errors outside fault windows", r.ErrorsOutside))
	}
	for _, g := range r.growth() {
		if g.growing {
			out = append(out, fmt.Sprintf("%s: %s grows (%s)", g.instance, g.what, g.detail))
		}
	}
	return out
}

// Run starts the private deployment, drives the load and the faults for
// opts.Duration, and returns what it measured. An error means the run could
// not be carried out (a service did not start), not that a check failed.
func Run(ctx context.Context, opts Options) (res *Result, err error) {
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Minute
	}
	if opts.Users <= 0 {
		opts.Users = 6
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.Binary == "" {
		return nil, errors.New("soak: no gatehouse binary given")
	}
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "gatehouse-soak-"); err != nil {
			return nil, err
		}
		defer func() {
			if res != nil && len(res.Failures()) == 0 {
				_ = os.RemoveAll(dir)
			}
		}()
	}
	// PostgreSQL and PgBouncer run as postgres when we are root: they must
	// reach their directories inside.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(opts.Progress, "soak: "+format+"\n", args...)
	}
	e, err := newEnv(dir, opts.Binary, logf)
	if err != nil {
		return nil, err
	}
	defer e.close()

	logf("starting a 6-node Redis Cluster (ports %v), PostgreSQL (port %d) and PgBouncer (port %d) under %s",
		e.ports.redis, e.ports.pg, e.ports.bouncer, dir)
	if err := e.startCluster(ctx); err != nil {
		return nil, err
	}
	if err := e.startPostgres(ctx); err != nil {
		return nil, err
	}
	if err := e.startBouncer(ctx); err != nil {
		return nil, err
	}
	upstream := httptest.NewServer(demo.Echo())
	defer upstream.Close()
	if err := e.writeConfig(upstream.URL); err != nil {
		return nil, err
	}
	if err := e.cli("", "migrate"); err != nil {
		return nil, err
	}
	users := make([]string, opts.Users)
	for i := range users {
		users[i] = fmt.Sprintf("soak%02d", i)
		if err := e.cli(password+"\n", "user", "add", users[i], "--role", "user", "--password-stdin"); err != nil {
			return nil, err
		}
	}
	for n := range 3 {
		i, err := e.newInstance(fmt.Sprintf("gatehouse-%d", n+1))
		if err != nil {
			return nil, err
		}
		if err := e.start(ctx, i); err != nil {
			return nil, err
		}
		e.nodes = append(e.nodes, i)
	}

	r := &Result{Start: time.Now()}
	for _, i := range e.nodes {
		r.Instances = append(r.Instances, i.name)
	}
	l := &load{env: e, res: r, client: &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	runCtx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	logf("load: %d users on %d instances for %v", opts.Users, len(e.nodes), opts.Duration)

	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(func() { l.user(runCtx, u) })
	}
	wg.Go(func() { l.sample(runCtx) })
	l.faults(runCtx, opts.Duration, logf)
	wg.Wait()
	r.End = time.Now()
	logf("done: %d requests, %d wrongly allowed, %d double successors, %d errors outside fault windows",
		r.Requests, r.WronglyAllowed, r.DoubleSuccessors, r.ErrorsOutside)
	return r, nil
}

const password = "soak test password, long enough"

// faults runs the schedule: at 20% of the run a Redis primary (the one
// holding the revocation feed) is killed and restarted 10 s later; at 40%
// PostgreSQL restarts; at 60% instance 2 gets SIGHUP (no window: a reload
// must be seamless); at 80% instance 3 restarts.
func (l *load) faults(ctx context.Context, d time.Duration, logf func(string, ...any)) {
	e := l.env
	at := func(frac float64) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Until(l.res.Start.Add(time.Duration(frac * float64(d))))):
			return true
		}
	}
	if !at(0.2) {
		return
	}
	port, err := e.primaryOf(ctx, "gatehouse:{rev}:stream")
	if err == nil {
		f := l.beginFault(fmt.Sprintf("kill Redis primary :%d (revocation feed)", port))
		logf("fault: %s", f.Name)
		_ = e.redis[port].Process.Kill()
		_ = e.redis[port].Wait()
		sleepCtx(ctx, 10*time.Second)
		if err := e.startRedis(context.WithoutCancel(ctx), port); err != nil {
			logf("restart redis %d: %v", port, err)
		}
		l.endFault(ctx, f, e.clusterHealed)
	}
	if !at(0.4) {
		return
	}
	f := l.beginFault("restart PostgreSQL")
	logf("fault: %s", f.Name)
	if err := e.pgCtl(ctx, "restart"); err != nil {
		logf("%v", err)
	}
	l.endFault(ctx, f, nil)
	if !at(0.6) {
		return
	}
	logf("fault: SIGHUP %s (no error window)", e.nodes[1].name)
	l.mu.Lock()
	l.res.Faults = append(l.res.Faults, &Fault{Name: "SIGHUP " + e.nodes[1].name + " (no window)", Start: time.Now(), End: time.Now()})
	l.mu.Unlock()
	_ = e.nodes[1].cmd.Process.Signal(syscall.SIGHUP)
	if !at(0.8) {
		return
	}
	f = l.beginFault("restart " + e.nodes[2].name)
	logf("fault: %s", f.Name)
	e.stop(e.nodes[2])
	if err := e.start(context.WithoutCancel(ctx), e.nodes[2]); err != nil {
		logf("restart %s: %v", e.nodes[2].name, err)
	}
	l.endFault(ctx, f, nil)
}

// clusterHealed reports whether every primary has its replica back, so
// that logouts (which wait for one replica) can succeed again.
func (e *env) clusterHealed(ctx context.Context) bool {
	if e.waitClusterOK(ctx) != nil {
		return false
	}
	out, err := exec.CommandContext(ctx, "redis-cli", "-p", fmt.Sprint(e.ports.redis[0]), "cluster", "nodes").Output()
	if err != nil {
		return false
	}
	primaries, replicas := 0, 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || strings.Contains(f[2], "fail") || f[7] != "connected" {
			continue
		}
		switch {
		case strings.Contains(f[2], "master"):
			primaries++
		case strings.Contains(f[2], "slave"):
			replicas++
		}
	}
	return primaries == 3 && replicas == 3
}

func (l *load) beginFault(name string) *Fault {
	f := &Fault{Name: name, Start: time.Now()}
	l.mu.Lock()
	l.res.Faults = append(l.res.Faults, f)
	l.mu.Unlock()
	return f
}

// endFault waits until every instance is ready (and healed, when given)
// and closes the window 2 s later.
func (l *load) endFault(ctx context.Context, f *Fault, healed func(context.Context) bool) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		ok := healed == nil || healed(ctx)
		for _, i := range l.env.nodes {
			ok = ok && ready(i)
		}
		if ok {
			break
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
	sleepCtx(ctx, 2*time.Second)
	l.mu.Lock()
	f.End = time.Now()
	l.mu.Unlock()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// WriteReport writes base+".md" and base+".svg".
func WriteReport(r *Result, base string) error {
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(base+".svg", []byte(r.svg()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(base+".md", []byte(r.markdown(filepath.Base(base)+".svg")), 0o644)
}
