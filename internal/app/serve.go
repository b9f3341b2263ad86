package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/extauthz"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/metrics"
)

// ShutdownGrace is how long in-flight requests may take to finish after
// SIGINT/SIGTERM.
const ShutdownGrace = 30 * time.Second

// Front is serve's public, admin and ext_authz listeners, answering from
// before the stores are open. StartFront serves them at once: the public
// one with httpapi.Waiting (/healthz 200, /readyz 503 naming the parts
// waited for, everything else 503 with Retry-After), the admin one with
// /metrics of the registry New then uses, the ext_authz one (Envoy's gRPC
// Check) with extauthz.Waiting (a denial, 503 with Retry-After). New, given
// the Front in Options, tells it which parts it waits for; ServeFront
// switches the public listener to the App's handler and the ext_authz one
// to the App's check on the same servers, so that no connection is dropped.
type Front struct {
	cfg         config.Config
	metrics     *metrics.Metrics
	ln, adminLn net.Listener
	extAuthzLn  net.Listener
	srv, admin  *http.Server
	grpc        *grpc.Server
	handler     atomic.Pointer[http.Handler]       // what the public listener answers with
	check       atomic.Pointer[extauthz.CheckFunc] // what the ext_authz listener judges with
	observer    atomic.Pointer[httpapi.Observer]   // what logs and counts its Checks (nil: nothing)
	waiting     atomic.Pointer[waitState]
	start       sync.Once
	errc        chan error // the servers' own failures (public, admin, ext_authz)
}

// waitState is what the waiting handler reports: the parts that do not
// answer yet and when they are tried again.
type waitState struct {
	failing []string
	retryIn time.Duration
}

// StartFront serves ln (TLS when configured), adminLn and extAuthzLn (each
// may be nil) at once, before the stores are open; pass it to New in
// Options.Front, then to ServeFront, or Stop it when New fails.
func StartFront(cfg config.Config, log *slog.Logger, ln, adminLn, extAuthzLn net.Listener) (*Front, error) {
	prefixes, err := httpapi.ParsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	f := newFront(cfg, log, metrics.New(), ln, adminLn, extAuthzLn)
	// Nothing is open yet; the revocation feed is loaded only once the
	// App runs.
	f.wait(storeParts(cfg), httperr.StoreRetry)
	retryIn := func() time.Duration { return f.waiting.Load().retryIn }
	deps := httpapi.Deps{
		Settings: httpapi.Settings{TLS: cfg.TLS.Enabled(), TrustedProxies: prefixes},
		Logger:   log, Metrics: f.metrics,
		Ready: func(context.Context) []string { return f.waiting.Load().failing },
	}
	waiting := httpapi.Waiting(deps, retryIn)
	f.handler.Store(&waiting)
	check := extauthz.Waiting(retryIn)
	f.check.Store(&check)
	f.observer.Store(httpapi.NewObserver(deps))
	f.serve()
	log.Info("gatehouse listening; opening the stores", "listen", ln.Addr().String(), "admin", addrOf(adminLn),
		"ext_authz", addrOf(extAuthzLn))
	return f, nil
}

// storeParts are the parts /readyz names before any store is open: the
// main store, Redis when configured, and the revocation feed.
func storeParts(cfg config.Config) []string {
	if _, ok := redisTopology(cfg); ok {
		return []string{partStore, partRedis, partRevocations}
	}
	return []string{partStore, partRevocations}
}

func newFront(cfg config.Config, log *slog.Logger, m *metrics.Metrics, ln, adminLn, extAuthzLn net.Listener) *Front {
	f := &Front{cfg: cfg, metrics: m, ln: ln, adminLn: adminLn, extAuthzLn: extAuthzLn, errc: make(chan error, 3)}
	f.srv = newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*f.handler.Load()).ServeHTTP(w, r)
	}), log)
	if adminLn != nil {
		f.admin = newHTTPServer(adminHandler(m, cfg.AdminPprof), log)
	}
	if extAuthzLn != nil {
		f.grpc = extauthz.NewGRPC(func(r *http.Request) gateway.Verdict { return (*f.check.Load())(r) },
			func(r *http.Request, status, bytes int, start time.Time) {
				f.observer.Load().Observe(extauthz.Route, r, status, bytes, start)
			}, log)
	}
	return f
}

// wait records that the stores are waited for: failing are the parts that
// do not answer yet, retryIn when they are tried again.
func (f *Front) wait(failing []string, retryIn time.Duration) {
	f.waiting.Store(&waitState{failing: failing, retryIn: retryIn})
}

// serve starts serving the listeners, once.
func (f *Front) serve() {
	f.start.Do(func() {
		go func() {
			if f.cfg.TLS.Enabled() {
				f.errc <- f.srv.ServeTLS(f.ln, f.cfg.TLS.Cert, f.cfg.TLS.Key)
			} else {
				f.errc <- f.srv.Serve(f.ln)
			}
		}()
		if f.admin != nil {
			go func() { f.errc <- f.admin.Serve(f.adminLn) }()
		}
		if f.grpc != nil {
			go func() { f.errc <- f.grpc.Serve(f.extAuthzLn) }()
		}
	})
}

// Stop stops serving (New failed or was stopped): requests in flight, all
// answered at once while waiting, get ShutdownGrace to finish.
func (f *Front) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	f.shutdown(ctx)
}

// shutdown drains the listeners together, each within ctx: one after the
// other, a request held on the public listener (a long upload, an SSE
// stream) used up ctx before the ext_authz listener's drain began, which
// then cut its Checks in flight at once.
func (f *Front) shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	if f.admin != nil {
		wg.Go(func() { _ = f.admin.Shutdown(ctx) })
	}
	if f.grpc != nil {
		// The Checks in flight finish; past ctx they are cut.
		wg.Go(func() { _ = extauthz.GracefulStop(ctx, f.grpc) })
	}
	err := f.srv.Shutdown(ctx)
	wg.Wait()
	return err
}

// Serve runs the background work and serves the public handler on ln (TLS
// when configured) and the admin handler on adminLn (may be nil) until ctx
// ends, then drains in-flight requests and stops the background work
// (waiting for it to record what it was doing) within ShutdownGrace.
func (a *App) Serve(ctx context.Context, ln, adminLn net.Listener) error {
	return a.ServeFront(ctx, newFront(a.Config, a.Log, a.Metrics, ln, adminLn, nil))
}

// ServeFront is Serve on f's listeners, which StartFront serves already
// (f was given to New): the public one switches from the waiting handler
// to the App's, and the ext_authz one from the waiting check to the App's,
// once the background work has started.
func (a *App) ServeFront(ctx context.Context, f *Front) error {
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	a.Run(runCtx)

	check := extauthz.CheckFunc(a.check)
	f.check.Store(&check)
	f.observer.Store(a.observer)
	f.handler.Store(&a.handler)
	f.serve()
	a.Log.Info("gatehouse serving", "listen", f.ln.Addr().String(), "public_url", a.Config.EffectivePublicURL(),
		"admin", addrOf(f.adminLn), "ext_authz", addrOf(f.extAuthzLn), "store", config.RedactURL(a.Config.Store))

	var err error
	select {
	case <-ctx.Done():
	case err = <-f.errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	a.Log.Info("shutting down: draining in-flight requests")
	if e := f.shutdown(shutdownCtx); e != nil && err == nil {
		err = fmt.Errorf("shutdown: %w", e)
	}
	stop()
	if !a.waitBackground(shutdownCtx) {
		a.Log.Warn("shutting down: background work did not stop within the grace period")
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler: h,
		// What net/http reports itself (a client's failed TLS handshake, a
		// refused connection) is a JSON line of the log like every other
		// (contract §6); without ErrorLog it is plain text from the log
		// package, on stderr between them.
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout/WriteTimeout: gateway routes stream uploads, SSE
		// and WebSockets; per-route timeouts bound upstream waits instead.
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ConnContext:    gateway.ConnContext,
	}
}

// AdminHandler serves /metrics, and /debug/pprof/ when admin_pprof is on
// (admin_listen only, never the public listener). Profiles expose memory
// contents and cost CPU while taken, so they are opt-in.
func (a *App) AdminHandler() http.Handler { return adminHandler(a.Metrics, a.Config.AdminPprof) }

func adminHandler(m *metrics.Metrics, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	// Every answer is nosniff, as on the public listener (OWASP ASVS 5.0
	// 3.4.4): promhttp sets Content-Type but not this.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	})
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return "off"
	}
	return ln.Addr().String()
}
