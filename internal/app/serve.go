package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/extauthz"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// ShutdownGrace is how long in-flight requests may take to finish after
// SIGINT/SIGTERM.
const ShutdownGrace = 30 * time.Second

// Serve runs the background work and serves the public handler on ln (TLS
// when configured) and the admin handler on adminLn (may be nil) until ctx
// ends, then drains in-flight requests and stops the background work
// (waiting for it to record what it was doing) within ShutdownGrace.
func (a *App) Serve(ctx context.Context, ln, adminLn net.Listener) error {
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	a.Run(runCtx)

	srv := newHTTPServer(a.handler, a.Log)
	errc := make(chan error, 2)
	go func() {
		var err error
		if a.Config.TLS.Enabled() {
			err = srv.ServeTLS(ln, a.Config.TLS.Cert, a.Config.TLS.Key)
		} else {
			err = srv.Serve(ln)
		}
		errc <- err
	}()
	if a.ExtAuthzListener != nil {
		grpcSrv := extauthz.NewGRPC(a.check, a.Log)
		go func() { errc <- grpcSrv.Serve(a.ExtAuthzListener) }()
		defer grpcSrv.GracefulStop()
	}
	var admin *http.Server
	if adminLn != nil {
		admin = newHTTPServer(a.AdminHandler(), a.Log)
		go func() { errc <- admin.Serve(adminLn) }()
	}
	a.Log.Info("gatehouse serving", "listen", ln.Addr().String(), "public_url", a.Config.EffectivePublicURL(),
		"admin", addrOf(adminLn), "ext_authz", addrOf(a.ExtAuthzListener), "store", config.RedactURL(a.Config.Store))

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	a.Log.Info("shutting down: draining in-flight requests")
	if e := srv.Shutdown(shutdownCtx); e != nil && err == nil {
		err = fmt.Errorf("shutdown: %w", e)
	}
	if admin != nil {
		_ = admin.Shutdown(shutdownCtx)
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
func (a *App) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.Metrics.Handler())
	if a.Config.AdminPprof {
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
