package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/credential"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/metrics"
)

// MaxBodyBytes caps request bodies of gatehouse's own endpoints. Gateway
// routes stream bodies to upstreams uncapped.
const MaxBodyBytes = 1 << 20

// info is what the middleware learned about a request (audit.Request: the
// audit trail reads the same value).
func info(ctx context.Context) audit.Request {
	r, _ := audit.RequestFrom(ctx)
	return r
}

func requestID(ctx context.Context) string { return info(ctx).ID }

// clientIP is the client address the middleware determined for r
// (trusted_proxies applied), or "" outside NewServer's handler.
func clientIP(r *http.Request) string { return info(r.Context()).IP }

// statusWriter records the status for the log line and metrics. Unwrap lets
// http.ResponseController reach Flush and Hijack (SSE, WebSocket).
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe is the outermost middleware: request ID, client IP, recovery, one
// log line and the request metrics. The log line names method, path (never
// the query: it can hold codes or tokens), status, duration and route.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := s.ids.next()
		w.Header().Set("X-Request-Id", id)
		ctx := audit.WithRequest(r.Context(), &audit.Request{ID: id, IP: s.realIP(r)})
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.LogAttrs(ctx, slog.LevelError, "panic", slog.String("request_id", id), slog.Any("panic", p))
				if sw.status == 0 {
					httperr.JSON(sw, httperr.Internal.Status, httperr.Internal.Code)
				}
			}
			route := r.Pattern
			if route == "" || route == "/" {
				route = "gateway"
				if gw := info(ctx).Route; gw != "" {
					route = "gateway:" + gw
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			s.requestMetrics.observe(route, status, elapsed)
			if s.quiet && status < 400 {
				return
			}
			s.log.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", status), slog.Duration("duration", elapsed), slog.String("route", route),
				slog.String("ip", clientIP(r)), slog.Int64("bytes", sw.bytes))
		}()
		next.ServeHTTP(sw, r)
	})
}

// requestIDs makes request IDs: a random per-process prefix and a counter.
// They only need to be unique, not unguessable, and this costs no syscall
// per request (it is on every gateway request's path).
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &requestIDs{prefix: hex.EncodeToString(b) + "-"}
}

func (g *requestIDs) next() string {
	return g.prefix + strconv.FormatUint(g.n.Add(1), 36)
}

// requestMetrics caches the Prometheus series per route and status, so the
// per-request cost is a map read instead of hashing label values.
type requestMetrics struct {
	m      *metrics.Metrics
	series sync.Map // route + "\x00" + code → prometheus.Counter; route → prometheus.Observer
}

func (rm *requestMetrics) observe(route string, status int, elapsed time.Duration) {
	if rm.m == nil {
		return
	}
	code := strconv.Itoa(status)
	key := route + "\x00" + code
	c, ok := rm.series.Load(key)
	if !ok {
		c, _ = rm.series.LoadOrStore(key, rm.m.Requests.WithLabelValues(route, code))
	}
	c.(prometheus.Counter).Inc()
	o, ok := rm.series.Load(route)
	if !ok {
		o, _ = rm.series.LoadOrStore(route, rm.m.Duration.WithLabelValues(route))
	}
	o.(prometheus.Observer).Observe(elapsed.Seconds())
}

// own wraps gatehouse's own endpoints: capped bodies and security headers.
func (s *server) own(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if s.tls {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// clearTossedCookies expires the session cookie when a request carries it
// twice (cookie tossing, issue 11 finding 6). Such a request counts as having
// no session everywhere (credential.FromRequest); this answers every
// endpoint and gateway route with Set-Cookie expiring the name on Path=/, so
// the browser's own cookie goes and the next login starts clean. A cookie
// planted on a longer path (or another Domain) cannot be deleted without
// knowing that path; it keeps the requests it rides on sessionless until it
// expires.
func (s *server) clearTossedCookies(next http.Handler) http.Handler {
	if s.Sessions == nil {
		return next
	}
	name := s.Sessions.CookieName()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, n := credential.SessionCookie(r.Header, name); n > 1 {
			s.Sessions.ClearCookie(w)
		}
		next.ServeHTTP(w, r)
	})
}

// realIP is the client address with trusted_proxies applied (the same
// rule the gateway uses).
func (s *server) realIP(r *http.Request) string {
	if a := gateway.ClientIP(r, s.trustedProxies); a.IsValid() {
		return a.String()
	}
	return r.RemoteAddr
}

// ParsePrefixes turns trusted_proxies entries (CIDRs or single addresses)
// into prefixes.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
