package httpapi

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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

// BodyTimeout is how long gatehouse's own endpoints wait for a request's
// body, from the end of its headers (which the server's ReadHeaderTimeout
// bounds, also 10 s). The server has no ReadTimeout, since gateway routes
// stream uploads for as long as they take; without this a client sending
// a body a byte at a time held its connection, and on a login one of its
// passwords.max_per_client slots, for as long as it liked. A body this
// late is refused with 400 ("request body not received in time") and the
// connection closed. Bodies of these endpoints are small (at most
// MaxBodyBytes); a client that cannot send one within this is not served.
const BodyTimeout = 10 * time.Second

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

// statusWriter records the final status for the log line and metrics. Flush
// (SSE) and Hijack (WebSocket) pass through; Unwrap lets
// http.ResponseController reach the rest.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	// hinted holds the X-Request-Id values once an informational response
	// went out: ReverseProxy clears the header map after relaying an
	// upstream's 1xx, and the final response must still carry the ID.
	hinted []string
}

func (w *statusWriter) WriteHeader(code int) {
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.informational(code)
		return
	}
	if w.status == 0 {
		w.status = code
		w.restoreID()
	}
	w.ResponseWriter.WriteHeader(code)
}

// informational sends a 1xx response (an upstream's 103 Early Hints, relayed
// by ReverseProxy) without any Set-Cookie: it is not the answer, and an
// upstream must not set gatehouse's cookies through it (the final response's
// cookies are checked in the gateway). The status stays unrecorded, so that
// the log line and metrics count the final one.
func (w *statusWriter) informational(code int) {
	h := w.Header()
	delete(h, "Set-Cookie")
	if w.hinted == nil {
		w.hinted = h["X-Request-Id"]
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) restoreID() {
	if len(w.hinted) == 0 {
		return
	}
	// Ahead of any the upstream sent, as on a response without a hint.
	h := w.Header()
	if up := h["X-Request-Id"]; len(up) == 0 || up[0] != w.hinted[0] {
		h["X-Request-Id"] = append(slices.Clip(w.hinted), up...)
	}
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
		w.restoreID()
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

// Hijack hands the connection over and records 101: the gateway's
// ReverseProxy hijacks only to pass a WebSocket upgrade on, and writes the
// upstream's 101 on the hijacked connection itself, past WriteHeader, so
// the log line and the metrics would otherwise say 200.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

// requestState is everything observe keeps about one request, in one
// allocation: the status writer, the audit.Request the context carries, and
// the bytes of the request ID and client IP strings.
type requestState struct {
	sw    statusWriter
	info  audit.Request
	ctx   audit.Context // the request's context: carries info without a context.WithValue allocation
	idHdr [1]string     // the X-Request-Id header value
	idBuf [24]byte
	ipBuf [48]byte
}

// observe is the outermost middleware: request ID, client IP, recovery, one
// log line and the request metrics. The log line names method, path (never
// the query: it can hold codes or tokens), status, duration and route.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &requestState{}
		st.sw.ResponseWriter = w
		st.info.ID = s.ids.next(st.idBuf[:0])
		st.info.IP = s.realIP(r, st.ipBuf[:0])
		// The header's own string (no copy, no allocation): audit
		// sanitizes it only when an event is recorded.
		if ua := r.Header["User-Agent"]; len(ua) > 0 {
			st.info.UserAgent = ua[0]
		}
		st.idHdr[0] = st.info.ID
		w.Header()["X-Request-Id"] = st.idHdr[:]
		st.ctx = audit.Context{Context: r.Context(), Req: &st.info}
		r = r.WithContext(&st.ctx)
		defer s.finish(st, r, time.Now())
		next.ServeHTTP(&st.sw, r)
	})
}

// finish recovers a panic of the handler, counts the request and writes
// its log line (deferred by observe, so it sees panics).
func (s *server) finish(st *requestState, r *http.Request, start time.Time) {
	sw := &st.sw
	if p := recover(); p != nil {
		if p == http.ErrAbortHandler {
			panic(p)
		}
		s.log.LogAttrs(r.Context(), slog.LevelError, "panic", slog.String("request_id", st.info.ID), slog.Any("panic", p))
		if sw.status == 0 {
			httperr.JSON(sw, httperr.Internal.Status, httperr.Internal.Code)
		}
	}
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	elapsed := time.Since(start)
	route, gw := r.Pattern, ""
	if route == "" || route == "/" {
		route, gw = "gateway", st.info.Route
	}
	line := accessLine{start: start, id: st.info.ID, method: r.Method, path: r.URL.Path, status: status,
		duration: elapsed, route: route, gwRoute: gw, ip: st.info.IP, bytes: sw.bytes}
	s.answered(r.Context(), &line)
}

// answered counts a request that has been answered in the request metrics
// and writes its line (finish, and Observer for Envoy's gRPC Checks):
// every request is counted, and with QuietLogs only one that failed
// (status 400 and up) is logged.
func (s *server) answered(ctx context.Context, line *accessLine) {
	s.requestMetrics.observe(line.route, line.gwRoute, line.status, line.duration)
	if s.quiet && line.status < 400 {
		return
	}
	s.logRequest(ctx, line)
}

// logRequest writes one request line: through the access log when there
// is one, else through the logger (the same fields either way).
func (s *server) logRequest(ctx context.Context, line *accessLine) {
	if s.accessLog != nil {
		s.accessLog.log(line)
		return
	}
	route := line.route
	if line.gwRoute != "" {
		route = "gateway:" + line.gwRoute
	}
	attrs := [...]slog.Attr{slog.String("request_id", line.id), slog.String("method", line.method),
		slog.String("path", line.path), slog.Int("status", line.status), slog.Duration("duration", line.duration),
		slog.String("route", route), slog.String("ip", line.ip), slog.Int64("bytes", line.bytes), slog.String("host", line.host)}
	n := len(attrs)
	if line.host == "" {
		n-- // host is an Observer's field only
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs[:n]...)
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

// next returns the next ID, built in buf's array: 9 prefix bytes and at
// most 13 base-36 digits fit the 24 bytes of requestState.idBuf, so the
// string needs no allocation of its own.
func (g *requestIDs) next(buf []byte) string {
	buf = append(buf, g.prefix...)
	buf = strconv.AppendUint(buf, g.n.Add(1), 36)
	return bytesString(buf)
}

// bytesString returns b as a string without copying. b must never be
// written again: the callers build b in a per-request array that nothing
// else touches.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// requestMetrics resolves the Prometheus series of a route once, on its
// first request, so the per-request cost is a map read by route name and an
// array index by status code, without hashing label values or building
// keys.
type requestMetrics struct {
	m        *metrics.Metrics
	patterns sync.Map // ServeMux pattern (or "gateway") → *routeSeries
	gateway  sync.Map // gateway route name → *routeSeries of "gateway:" + name
}

// routeSeries are one route's series.
type routeSeries struct {
	route    string
	m        *metrics.Metrics
	duration prometheus.Observer
	codes    [600]atomic.Pointer[prometheus.Counter] // by status code, resolved on first use
}

func (rm *requestMetrics) observe(route, gw string, status int, elapsed time.Duration) {
	if rm.m == nil {
		return
	}
	rs := rm.series(route, gw)
	rs.duration.Observe(elapsed.Seconds())
	rs.counter(status).Inc()
}

func (rm *requestMetrics) series(route, gw string) *routeSeries {
	table, key := &rm.patterns, route
	if gw != "" {
		table, key = &rm.gateway, gw
	}
	if v, ok := table.Load(key); ok {
		return v.(*routeSeries)
	}
	if gw != "" {
		route = "gateway:" + gw
	}
	v, _ := table.LoadOrStore(key, &routeSeries{route: route, m: rm.m, duration: rm.m.Duration.WithLabelValues(route)})
	return v.(*routeSeries)
}

func (rs *routeSeries) counter(status int) prometheus.Counter {
	if status < 0 || status >= len(rs.codes) {
		return rs.m.Requests.WithLabelValues(rs.route, strconv.Itoa(status))
	}
	if c := rs.codes[status].Load(); c != nil {
		return *c
	}
	c := rs.m.Requests.WithLabelValues(rs.route, strconv.Itoa(status))
	rs.codes[status].Store(&c)
	return c
}

// own wraps gatehouse's own endpoints: capped bodies and security headers.
// Every answer is Cache-Control: no-store unless its handler sets another
// (the public documents: discovery, JWKS, /openapi.json, the static
// script): redirects and 204s that set or clear a cookie included, so that
// no shared cache stores a Set-Cookie (RFC 9111 section 3) or a login's
// redirect. The gateway's answers do not pass here.
func (s *server) own(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// One allocation for the four values; each slice is capped so that
		// an append to one header cannot write into the next.
		v := append(make([]string, 0, 4), "nosniff", "no-referrer", "DENY", "no-store")
		h["X-Content-Type-Options"] = v[0:1:1]
		h["Referrer-Policy"] = v[1:2:2]
		h["X-Frame-Options"] = v[2:3:3]
		h["Cache-Control"] = v[3:4:4]
		if s.tls {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		if r.Body != nil && r.Body != http.NoBody { // a GET's body needs no cap (nor its allocation)
			r.Body = http.MaxBytesReader(w, deadlineBody(w, r.Body), MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody sets the connection's read deadline to BodyTimeout from now
// and returns body, which lifts it again once read to its end. Lifted,
// because net/http's background read (for a client going away) waits on
// the connection from then on, under the same deadline: reached while the
// handler still works (a login queued for a hashing slot, a slow store),
// it would cancel the request's context. A handler that does not read the
// body to its end leaves the deadline, which then bounds what net/http
// reads of the rest before answering. HTTP/2 sets it on the stream.
func deadlineBody(w http.ResponseWriter, body io.ReadCloser) io.ReadCloser {
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(BodyTimeout)) != nil {
		return body // a writer without a connection (tests' recorders)
	}
	return &timedBody{ReadCloser: body, rc: rc}
}

type timedBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	lifted bool
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.lifted {
		b.lifted = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
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
// rule the gateway uses), built in buf's array.
func (s *server) realIP(r *http.Request, buf []byte) string {
	if a := gateway.ClientIP(r, s.trustedProxies); a.IsValid() {
		return bytesString(a.AppendTo(buf))
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
