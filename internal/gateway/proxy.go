package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strings"
	"sync"
	"time"
)

// newProxy builds the reverse proxy of one route. Each route gets its own
// transport so that its timeout can be a ResponseHeaderTimeout: it bounds the
// wait for the upstream's response headers but not a streaming body (SSE, a
// download, a WebSocket) that follows them.
func (g *Gateway) newProxy(rt *Route) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:      func(pr *httputil.ProxyRequest) { g.rewrite(rt, pr) },
		Transport:    newTransport(rt.Upstream.Timeout),
		BufferPool:   g.buffers,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { g.upstreamFailed(rt, w, r, err) },
		ErrorLog:     slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		// FlushInterval 0: ReverseProxy already flushes every write of
		// text/event-stream and of bodies without Content-Length.
	}
}

// newTransport returns an HTTP/1.1 transport for one route. Connecting and
// the TLS handshake get at most 10 s (or the route timeout if shorter); the
// environment's HTTP_PROXY is deliberately ignored.
func newTransport(timeout time.Duration) *http.Transport {
	connect := min(timeout, 10*time.Second)
	dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     false,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
}

// rewrite builds the outbound request: the clean path (stripped when the
// route says so) on the upstream URL, forwarding headers believed only from
// trusted proxies, and the identity headers set by gatehouse alone.
// ReverseProxy has already removed hop-by-hop headers, including the ones
// named in Connection, so nothing set here can be erased by a client.
func (g *Gateway) rewrite(rt *Route, pr *httputil.ProxyRequest) {
	gr, _ := pr.In.Context().Value(grantKey{}).(*grant)
	if gr == nil { // not routed through ServeHTTP: refuse to guess a path or identity
		gr = &grant{path: "/"}
	}
	out := pr.Out
	p := gr.path
	if rt.Upstream.StripPrefix {
		p = rt.strip(p)
	}
	out.URL.Path, out.URL.RawPath = p, ""
	if e := escapePath(p); e != p {
		out.URL.RawPath = e
	}
	pr.SetURL(rt.Upstream.URL)
	if rt.Upstream.PreserveHost {
		out.Host = pr.In.Host
	}
	// Client headers go before gatehouse sets its own, so that nothing a
	// client names in Connection can erase what is set below.
	h := out.Header
	removeIdentityHeaders(h, pr.In.Header)
	h.Del("Authorization")
	stripCookie(h, g.deps.CookieName)
	g.forwardingHeaders(pr)
	if !gr.authenticated {
		return
	}
	setIdentity(h, gr)
}

// identityHeaders are the headers gatehouse sets for an authenticated
// request, in canonical form.
var identityHeaders = [...]string{"X-Auth-Subject", "X-Auth-User", "X-Auth-Roles", "X-Auth-Method"}

// setIdentity writes the X-Auth-* headers (and the internal JWT) of a grant.
func setIdentity(h http.Header, gr *grant) {
	p := gr.principal
	h.Set("X-Auth-Subject", p.Subject)
	h.Set("X-Auth-User", p.Username)
	h.Set("X-Auth-Roles", strings.Join(p.Roles, ","))
	h.Set("X-Auth-Method", p.Method)
	if gr.internalToken != "" {
		h.Set("Authorization", "Bearer "+gr.internalToken)
	}
}

// forwardingHeaders sets X-Forwarded-For/Host/Proto. From a trusted proxy
// the client's chain is kept and extended (and its X-Forwarded-Host/Proto
// describe the original request); from anyone else every forwarding header
// is replaced, so a client cannot claim another address, host or scheme.
func (g *Gateway) forwardingHeaders(pr *httputil.ProxyRequest) {
	h := pr.Out.Header
	if !g.trusted.peerTrusted(pr.In) {
		for k := range h {
			if isForwardingHeader(k) {
				delete(h, k)
			}
		}
		pr.SetXForwarded()
		return
	}
	in := pr.In.Header
	if prior := in.Values("X-Forwarded-For"); len(prior) > 0 {
		h["X-Forwarded-For"] = prior
	}
	pr.SetXForwarded()
	for _, k := range []string{"Forwarded", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v := in.Values(k); len(v) > 0 {
			h[k] = v
		}
	}
}

func isForwardingHeader(k string) bool {
	return hasPrefixFold(k, "X-Forwarded-") || hasPrefixFold(k, "X-Original-") ||
		strings.EqualFold(k, "X-Real-Ip") || strings.EqualFold(k, "Forwarded")
}

// removeIdentityHeaders deletes every X-Auth-* header, in any spelling, and
// every header the client named in Connection (ReverseProxy does the latter
// already; doing it again costs little and does not depend on that).
func removeIdentityHeaders(h, in http.Header) {
	for k := range h {
		if hasPrefixFold(k, "X-Auth-") {
			delete(h, k)
		}
	}
	for _, v := range in.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			if name != "" && !strings.EqualFold(name, "Upgrade") && !strings.EqualFold(name, "Connection") {
				h.Del(name)
			}
		}
	}
}

// stripCookie removes the cookie called name from the Cookie headers,
// keeping every other cookie byte for byte, and drops the header when
// nothing is left.
func stripCookie(h http.Header, name string) {
	values := h.Values("Cookie")
	if len(values) == 0 || name == "" {
		return
	}
	var kept []string
	for _, v := range values {
		for part := range strings.SplitSeq(v, ";") {
			part = strings.TrimSpace(part)
			n, _, _ := strings.Cut(part, "=")
			if part == "" || strings.TrimSpace(n) == name {
				continue
			}
			kept = append(kept, part)
		}
	}
	if len(kept) == 0 {
		h.Del("Cookie")
		return
	}
	h.Set("Cookie", strings.Join(kept, "; "))
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// upstreamFailed answers when the upstream could not be reached (502) or did
// not send its response headers within the route timeout (504). The log line
// names the route and the upstream host, never request headers.
func (g *Gateway) upstreamFailed(rt *Route, w http.ResponseWriter, r *http.Request, err error) {
	status, code, reason := http.StatusBadGateway, "bad_gateway", "unreachable"
	switch {
	case errors.Is(r.Context().Err(), context.Canceled):
		reason = "client_gone"
	case isTimeout(err):
		status, code, reason = http.StatusGatewayTimeout, "gateway_timeout", "timeout"
	}
	level := slog.LevelWarn
	if reason == "client_gone" {
		level = slog.LevelDebug
	}
	g.log.LogAttrs(r.Context(), level, "gateway: upstream failed",
		slog.String("route", rt.Name), slog.String("upstream", rt.Upstream.URL.Host),
		slog.String("reason", reason), slog.String("error", err.Error()))
	writeError(w, status, code)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// bufferPool recycles the 32 KiB copy buffers of ReverseProxy.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }
