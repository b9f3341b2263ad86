package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// newProxy builds the reverse proxy of one route. Each route gets its own
// transport so that its timeout can be a ResponseHeaderTimeout: it bounds the
// wait for the upstream's response headers but not a streaming body (SSE, a
// download, a WebSocket) that follows them.
func (g *Gateway) newProxy(rt *Route) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:      func(pr *httputil.ProxyRequest) { g.rewrite(rt, pr) },
		Transport:    NewTransport(rt.Upstream.Timeout),
		BufferPool:   g.buffers,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { g.upstreamFailed(rt, w, r, err) },
		ErrorLog:     slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		ModifyResponse: func(resp *http.Response) error {
			g.dropOwnCookies(rt, resp)
			return nil
		},
		// FlushInterval 0: ReverseProxy already flushes every write of
		// text/event-stream and of bodies without Content-Length.
	}
}

// NewTransport returns the HTTP/1.1 transport of one route: timeout is its
// ResponseHeaderTimeout; connecting and the TLS handshake get at most 10 s
// (or the timeout if shorter); the environment's HTTP_PROXY is deliberately
// ignored; compression is the client's business: without
// DisableCompression the transport would ask the upstream for gzip on
// behalf of a client that did not, and inflate the answer, losing its
// Content-Length and keeping the ETag of the gzipped body. Exported for
// the benchmark's bare proxy, so that the baseline runs on exactly the
// gateway's transport settings (issue 15).
func NewTransport(timeout time.Duration) *http.Transport {
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
		DisableCompression:    true,
	}
}

// rewrite builds the outbound request: the clean path (stripped when the
// route says so) on the upstream URL, forwarding headers believed only from
// trusted proxies, and the identity headers set by gatehouse alone.
// ReverseProxy has already removed hop-by-hop headers, including the ones
// named in Connection, so nothing set here can be erased by a client.
func (g *Gateway) rewrite(rt *Route, pr *httputil.ProxyRequest) {
	gr := grantOf(pr.In)
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
	trusted := g.trusted.peerTrusted(pr.In)
	scrubHeaders(h, trusted, rt.Upstream.AllowUnderscoreHeaders)
	removeConnectionHeaders(h, pr.In.Header)
	dropUpgradeUnlessWebSocket(h)
	delete(h, "Authorization") // h.Del with the canonical name, without canonicalizing it
	stripCookies(h, g.cookies)
	// A chunked body's trailer fields are headers none of the rules above
	// judged (X-Auth-*, Authorization, Cookie): none goes upstream. The
	// request that reaches the upstream announces no trailer either.
	out.Trailer = nil
	forwardingHeaders(pr, trusted, &gr.forwarded)
	if !gr.authenticated {
		return
	}
	setIdentity(h, gr)
}

// identityHeaders are the headers gatehouse sets for an authenticated
// request, in canonical form.
var identityHeaders = [...]string{"X-Auth-Subject", "X-Auth-User", "X-Auth-Roles", "X-Auth-Method", "X-Auth-Amr"}

// setIdentity writes the X-Auth-* headers (and the internal JWT) of a grant.
// The values live in gr.identity; each header gets a one-element slice of it
// with its capacity capped, so an append by anyone cannot reach the next.
func setIdentity(h http.Header, gr *grant) {
	p, v := gr.principal, &gr.identity
	// Every header is set, empty when there is nothing to say: a proxy that
	// copies them from a forward-auth answer (Caddy's copy_headers, nginx's
	// auth_request_set) then overwrites a client's spoofed value instead of
	// leaving it, or a placeholder, in place.
	v[0], v[1], v[2], v[3] = p.Subject, p.Username, strings.Join(p.Roles, ","), p.Method
	v[4] = strings.Join(p.AMR, ",")
	for i, k := range identityHeaders {
		h[k] = v[i : i+1 : i+1]
	}
	if gr.internalToken != "" {
		n := len(identityHeaders)
		v[n] = "Bearer " + gr.internalToken
		h["Authorization"] = v[n : n+1 : n+1]
	}
}

// forwardingHeaders sets X-Forwarded-For/Host/Proto. From a trusted proxy
// the client's chain is kept and extended (and its X-Forwarded-Host/Proto
// describe the original request); from anyone else scrubHeaders has removed
// every forwarding header and they are set afresh, so a client cannot claim
// another address, host or scheme.
func forwardingHeaders(pr *httputil.ProxyRequest, trusted bool, v *[3]string) {
	if !trusted {
		setXForwarded(pr, v)
		return
	}
	h, in := pr.Out.Header, pr.In.Header
	// Canonical names index the maps directly: Values would canonicalize
	// them again on every request.
	if prior := in["X-Forwarded-For"]; len(prior) > 0 {
		h["X-Forwarded-For"] = prior
	}
	setXForwarded(pr, v)
	for _, k := range [...]string{"Forwarded", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v := in[k]; len(v) > 0 {
			h[k] = v
		}
	}
}

// setXForwarded is httputil.ProxyRequest.SetXForwarded, value for value,
// with the three values in v (the grant's array) instead of an allocation
// per header, and the canonical names used as they are.
func setXForwarded(pr *httputil.ProxyRequest, v *[3]string) {
	h := pr.Out.Header
	if clientIP, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			clientIP = strings.Join(prior, ", ") + ", " + clientIP
		}
		v[0] = clientIP
		h["X-Forwarded-For"] = v[0:1:1]
	} else {
		delete(h, "X-Forwarded-For")
	}
	v[1] = pr.In.Host
	h["X-Forwarded-Host"] = v[1:2:2]
	v[2] = "http"
	if pr.In.TLS != nil {
		v[2] = "https"
	}
	h["X-Forwarded-Proto"] = v[2:3:3]
}

// first is h.Get(name) for a canonical name, which Get would canonicalize
// again on every request (the forward-auth families' names alone were
// ≈ 1,500 instructions of a decision's ≈ 25,000, issue 15).
func first(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// headerClass is what the gateway does with a client request header.
type headerClass uint8

const (
	headerPlain     headerClass = iota // forwarded (unless its name has '_')
	headerOwn                          // X-Auth-*, method and path overrides: never from a client
	headerForwarded                    // forwarding headers: only from trusted proxies, by their real name
)

// classify folds name the way CGI, WSGI, PHP and Rack do — ASCII case
// ignored, '_' and '.' read as '-' — and says whether the result is a
// protected name (issue 11 findings 2-4): X_Auth_User and X.Auth.Roles are
// X-Auth-User and X-Auth-Roles to a gunicorn upstream. It does not allocate.
func classify(name string) headerClass {
	if name == "" {
		return headerPlain
	}
	switch fold(name[0]) {
	case 'x':
		switch {
		case foldedHasPrefix(name, "x-auth-"),
			foldedEqual(name, "x-http-method-override"), foldedEqual(name, "x-http-method"),
			foldedEqual(name, "x-method-override"),
			// Path and method overrides that IIS, Symfony, Laravel and Zend
			// serve instead of the request line: the route was matched on
			// the request line, so not even a trusted proxy's reach an
			// upstream (X-Original-* is for /auth/verify, never the gateway).
			foldedHasPrefix(name, "x-original-"), foldedEqual(name, "x-rewrite-url"):
			return headerOwn
		case foldedHasPrefix(name, "x-forwarded-"), foldedEqual(name, "x-real-ip"):
			return headerForwarded
		}
	case 'f':
		if foldedEqual(name, "forwarded") {
			return headerForwarded
		}
	case 't':
		if foldedEqual(name, "true-client-ip") {
			return headerForwarded
		}
	}
	return headerPlain
}

// scrubHeaders removes, in one pass over the outbound header map, what a
// client must not send upstream: every X-Auth-*, method-override and
// path-override (X-Original-*, X-Rewrite-URL) header in any spelling;
// forwarding headers (X-Forwarded-*, Forwarded, X-Real-IP, True-Client-IP)
// unless the peer is a trusted proxy and the name is spelled for real; and, unless
// the route allows them, every header whose name contains '_' (nginx's
// underscores_in_headers off), because upstreams fold '_' into '-'.
func scrubHeaders(h http.Header, trusted, allowUnderscore bool) {
	for k := range h {
		switch classify(k) {
		case headerOwn:
			delete(h, k)
		case headerForwarded:
			if !trusted || strings.ContainsAny(k, "_.") { // a lookalike spelling
				delete(h, k)
			}
		default:
			if !allowUnderscore && strings.IndexByte(k, '_') >= 0 {
				delete(h, k)
			}
		}
	}
}

// fold maps a header name byte to its folded form: ASCII lower case, with
// '_' and '.' read as '-'.
func fold(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case c == '_' || c == '.':
		return '-'
	}
	return c
}

// foldedHasPrefix reports whether name, folded, starts with prefix (given
// folded).
func foldedHasPrefix(name, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if fold(name[i]) != prefix[i] {
			return false
		}
	}
	return true
}

func foldedEqual(name, folded string) bool {
	return len(name) == len(folded) && foldedHasPrefix(name, folded)
}

// removeConnectionHeaders deletes every header the client named in
// Connection (ReverseProxy does this already; doing it again costs little
// and does not depend on that).
func removeConnectionHeaders(h, in http.Header) {
	for _, v := range in["Connection"] { // canonical name: no Values, which canonicalizes it again
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			if name != "" && !strings.EqualFold(name, "Upgrade") && !strings.EqualFold(name, "Connection") {
				h.Del(name)
			}
		}
	}
}

// dropUpgradeUnlessWebSocket keeps the protocol switch ReverseProxy put
// back (Connection: Upgrade, Upgrade) only for WebSocket, the one the
// contract passes through: the request goes upstream as a plain one
// otherwise. An h2c upgrade that a lax upstream honoured would turn the
// connection into an HTTP/2 tunnel whose later requests the gateway never
// sees.
func dropUpgradeUnlessWebSocket(h http.Header) {
	if up := h["Upgrade"]; len(up) > 0 && (len(up) > 1 || !strings.EqualFold(up[0], "websocket")) {
		delete(h, "Upgrade")
		delete(h, "Connection")
	}
}

// privateCookies are gatehouse's cookies, which never go upstream: the
// session cookie and PrivateCookies by name, PrivateCookiePrefixes by the
// start of the name.
type privateCookies struct{ names, prefixes []string }

func newPrivateCookies(deps Deps) privateCookies {
	notEmpty := func(vs []string) []string {
		return slices.DeleteFunc(vs, func(v string) bool { return v == "" })
	}
	return privateCookies{
		names:    notEmpty(append([]string{deps.CookieName}, deps.PrivateCookies...)),
		prefixes: notEmpty(slices.Clone(deps.PrivateCookiePrefixes)),
	}
}

func (p privateCookies) has(name string) bool {
	return slices.Contains(p.names, name) ||
		slices.ContainsFunc(p.prefixes, func(prefix string) bool { return strings.HasPrefix(name, prefix) })
}

// stripCookies removes the private cookies from the Cookie headers, keeping
// every other cookie byte for byte, and drops the header when nothing is
// left.
func stripCookies(h http.Header, private privateCookies) {
	values := h["Cookie"] // canonical name: no Values, which canonicalizes it again
	if len(values) == 0 || len(private.names)+len(private.prefixes) == 0 {
		return
	}
	var kept []string
	for _, v := range values {
		for part := range strings.SplitSeq(v, ";") {
			part = strings.TrimSpace(part)
			n, _, _ := strings.Cut(part, "=")
			if part == "" || private.has(strings.TrimSpace(n)) {
				continue
			}
			kept = append(kept, part)
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = []string{strings.Join(kept, "; ")}
}

// dropOwnCookies removes from an upstream's response every Set-Cookie that
// would set, replace or expire one of gatehouse's cookies (privateCookies):
// a route's upstream could otherwise swap the user into a session of its
// choosing (its HttpOnly flag keeps only scripts out), log the user out,
// or plant a second cookie of the name.
func (g *Gateway) dropOwnCookies(rt *Route, resp *http.Response) {
	values := resp.Header["Set-Cookie"] // canonical name: no Values, which canonicalizes it again
	if len(values) == 0 {
		return
	}
	n := len(values)
	kept := slices.DeleteFunc(values, func(v string) bool { return g.cookies.has(setCookieName(v)) })
	if len(kept) == n {
		return
	}
	g.log.LogAttrs(resp.Request.Context(), slog.LevelWarn, "gateway: upstream tried to set a gatehouse cookie",
		slog.String("route", rt.Name), slog.String("upstream", rt.Upstream.URL.Host))
	if len(kept) == 0 {
		delete(resp.Header, "Set-Cookie")
		return
	}
	resp.Header["Set-Cookie"] = kept
}

// setCookieName returns the name under which a browser sends back the
// cookie a Set-Cookie value sets (RFC 6265bis section 5.6). A pair without
// "=", or with an empty name, sets a nameless cookie that is sent back as
// its bare value, which servers then read as a name: "=gatehouse=x" comes
// back as "gatehouse=x", "gatehouse" as "gatehouse".
func setCookieName(v string) string {
	pair, _, _ := strings.Cut(v, ";")
	name, value, ok := strings.Cut(pair, "=")
	if name = strings.TrimSpace(name); ok && name == "" {
		name, _, _ = strings.Cut(value, "=")
		name = strings.TrimSpace(name)
	}
	return name
}

// upstreamFailed answers when the upstream could not be reached (502) or did
// not send its response headers within the route timeout (504), or when the
// client's own body could not be read (400: a malformed chunk is the
// client's fault, not the upstream's). The log line names the route and the
// upstream host, never request headers.
func (g *Gateway) upstreamFailed(rt *Route, w http.ResponseWriter, r *http.Request, err error) {
	status, code, reason := http.StatusBadGateway, "bad_gateway", "unreachable"
	// ReverseProxy hands over a wrapped body; the grant keeps the original.
	var body *clientBody
	if gr := grantOf(r); gr != nil {
		body = gr.body
	}
	switch {
	case errors.Is(r.Context().Err(), context.Canceled):
		reason = "client_gone"
	case body != nil && body.failed.Load():
		status, code, reason = http.StatusBadRequest, "bad_request", "bad_body"
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

// clientBody wraps a request body on its way upstream. It remembers that
// reading the client's body failed, so that a malformed body is answered as
// the client's error, and it can read the first byte ahead (peek) so that a
// chunked body that is malformed from its first chunk line (issue 11
// finding 7: "0x0") is refused before any upstream is contacted.
type clientBody struct {
	body   io.ReadCloser
	head   []byte // read ahead by peek, returned first
	buf    [1]byte
	failed atomic.Bool // read by the ErrorHandler while the transport may still read
}

func (b *clientBody) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	n, err := b.body.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.failed.Store(true)
	}
	return n, err
}

func (b *clientBody) Close() error { return b.body.Close() }

// peek reads the first byte of the body and keeps it for the upstream.
func (b *clientBody) peek() error {
	n, err := b.Read(b.buf[:])
	b.head = b.buf[:n]
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// wrapBody installs a clientBody on r when r has a body and returns it. A
// chunked body is peeked: its first chunk must parse before the upstream is
// called. This waits for the client's first chunk (or, with Expect:
// 100-continue, sends the 100 at once), which only a client that waits for
// the response before sending its body — full-duplex HTTP/1.1, which the
// gateway does not promise — would notice.
func wrapBody(r *http.Request) (*clientBody, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, nil
	}
	b := &clientBody{body: r.Body}
	r.Body = b
	if r.ContentLength < 0 && slices.Contains(r.TransferEncoding, "chunked") {
		return b, b.peek()
	}
	return b, nil
}

// bufferPool recycles the 32 KiB copy buffers of ReverseProxy. It pools
// array pointers, so Put converts the slice back without allocating.
type bufferPool struct{ p sync.Pool }

const copyBufferSize = 32 << 10

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[copyBufferSize]byte)[:] }

func (b *bufferPool) Put(v []byte) {
	if cap(v) >= copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(v[:copyBufferSize]))
	}
}
