package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
)

// judge answers for fr, the original request as a proxy in front describes
// it (forward-auth, Envoy): route by host, method and path, the route's
// rate limit and policy (authorize), then the refusal, or 200 with the
// identity headers for the proxy to copy upstream. mode is how a browser
// without a session is sent to the login page. gr, when not nil, is where
// the grant of an allowed request is built (forward-auth passes the one in
// its forwarded request, saving an allocation); nil allocates one. It
// returns the matched route when the request is allowed, else nil.
func (g *Gateway) judge(w http.ResponseWriter, fr *http.Request, mode loginMode, gr *grant) *Route {
	p := fr.URL.Path
	host, ok := requestHost(fr.Host)
	if !ok {
		g.refuseVerify(w, fr, reasonBadVerify, fmt.Errorf("%w: host %q", errBadVerify, fr.Host))
		return nil
	}
	rt := g.table.route(host, fr, p)
	if rt == nil {
		g.refuseNotFound(w, fr, p)
		return nil
	}
	d := g.authorize(fr, rt)
	if d.outcome != outcomeAllow {
		// An outage keeps mode too: its page links to the login URL.
		if !wantsLogin(fr, d) && d.outcome != outcomeStepUp && d.outcome != outcomeUnavailable {
			mode = loginNone
		}
		g.deny(w, fr, rt, p, d, mode)
		return nil
	}
	if gr == nil {
		gr = new(grant)
	}
	*gr = grant{path: p, principal: d.principal, authenticated: d.kind != kindNone}
	if !g.carryIdentity(w, fr, rt, d, gr) {
		return nil
	}
	g.observe(rt.Name, d.kind, outcomeAllow)
	gr.noStore[0] = "no-store"
	w.Header()["Cache-Control"] = gr.noStore[:]
	setLimitHeaders(w.Header(), rt, d)
	if gr.authenticated {
		setIdentity(w.Header(), gr)
	} else {
		// Empty rather than absent: a proxy told to copy these headers then
		// overwrites a client's spoofed values instead of skipping them (or,
		// in Caddy before 2.9, copying a literal placeholder).
		for _, k := range identityHeaders {
			w.Header()[k] = []string{""}
		}
	}
	w.WriteHeader(http.StatusOK)
	return rt
}

// Verdict is the gateway's decision on one request, for a proxy that
// applies it itself (Envoy's external authorization).
type Verdict struct {
	// Status is 200 when the request may go upstream, else the status of
	// the refusal: 302 (browser to the login page), 400, 401, 403, 404, 429,
	// 500 (the internal JWT of forward: jwt could not be minted) or 503.
	Status int
	// Header holds the response headers: a refusal's (Content-Type,
	// WWW-Authenticate, Location, Retry-After, RateLimit…), or on 200 the
	// RateLimit fields for the client.
	Header http.Header
	// Body is a refusal's body: the gateway's JSON error, or its HTML
	// error page for a browser on a session route whose store is down.
	Body []byte
	// SetUpstream (on 200) are the headers to put on the upstream request,
	// replacing any the client sent: X-Auth-*, Authorization for forward:
	// jwt, and Cookie without the gatehouse session cookie.
	SetUpstream http.Header
	// RemoveUpstream (on 200) names client headers that must not reach the
	// upstream: X-Auth-* and their lookalikes, method overrides,
	// Authorization, forwarding and routing headers (Forwarded,
	// X-Forwarded-* other than Envoy's own X-Forwarded-For and
	// X-Forwarded-Proto, X-Real-IP, True-Client-IP, X-Original-*,
	// X-Rewrite-URL) and their lookalikes, a Cookie holding only the
	// session cookie, and names with '_' unless the route allows them. The
	// same rules as the gateway's own proxy facing an untrusted client.
	RemoveUpstream []string
}

// Allowed reports whether the request may go upstream.
func (v Verdict) Allowed() bool { return v.Status == http.StatusOK }

// Check judges r, the original request as a trusted proxy (Envoy) describes
// it: r.Method, r.URL (the request-target as the client sent it), r.Host,
// r.Header (the client's headers plus the proxy's X-Forwarded-For and
// X-Forwarded-Proto) and r.RemoteAddr (the proxy). It makes the decision of
// ServeHTTP and the forward-auth endpoints: a peer that is not a trusted
// proxy, the method CONNECT (see noTunnel), or a path that is not in
// canonical form (see canonicalPath: the proxy forwards the raw path, so
// gatehouse must judge exactly that), is refused with 400; browsers
// without a session get 302 to the login page on public_url, as from the
// forward-auth endpoints.
func (g *Gateway) Check(r *http.Request) Verdict {
	rec := &recorder{header: http.Header{}}
	rt := g.check(rec, r)
	v := Verdict{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()}
	if rt == nil || !v.Allowed() {
		return v
	}
	v.Header = http.Header{}
	for _, k := range []string{"Ratelimit", "Ratelimit-Policy"} {
		if vals := rec.header[k]; len(vals) > 0 {
			v.Header[k] = vals
		}
	}
	// The upstream request as the gateway's own proxy would send it to an
	// untrusted client's request, then the difference from what the client
	// sent. Envoy is a trusted peer, but the headers it describes are the
	// client's, apart from the two its connection manager sets on every
	// request (envoyForwarded): every other forwarding or routing header
	// (Forwarded, X-Forwarded-Host, X-Real-IP, X-Original-URL, …) is the
	// client's claim and must not reach the upstream (contract §5).
	out := r.Header.Clone()
	scrubHeaders(out, false, rt.Upstream.AllowUnderscoreHeaders)
	for _, k := range envoyForwarded {
		if v := r.Header[k]; len(v) > 0 {
			out[k] = v
		}
	}
	out.Del("Authorization")
	stripCookies(out, g.cookies)
	for _, k := range append(identityHeaders[:], "Authorization") {
		if val := rec.header.Get(k); val != "" {
			out.Set(k, val)
		}
	}
	v.SetUpstream = http.Header{}
	for k, vals := range out {
		if !slices.Equal(vals, r.Header[k]) {
			v.SetUpstream[k] = vals
		}
	}
	for k := range r.Header {
		if _, kept := out[k]; !kept {
			v.RemoveUpstream = append(v.RemoveUpstream, k)
		}
	}
	// Named even when the description did not carry them: Envoy's HTTP
	// service sees only the headers its allowed_headers lists, and removing
	// an absent header costs nothing.
	for _, k := range append(append(identityHeaders[:], "Authorization"), alwaysRemoved[:]...) {
		if _, set := out[k]; !set && !slices.Contains(v.RemoveUpstream, k) {
			v.RemoveUpstream = append(v.RemoveUpstream, k)
		}
	}
	slices.Sort(v.RemoveUpstream)
	return v
}

// envoyForwarded are the forwarding headers Envoy's HTTP connection
// manager sets itself on every request (use_remote_address: true appends
// the client address to X-Forwarded-For and overwrites X-Forwarded-Proto),
// so Check keeps them, by their real spelling only. Envoy's own x-envoy-*
// and x-request-id are not protected names and stay too.
var envoyForwarded = [...]string{"X-Forwarded-For", "X-Forwarded-Proto"}

// alwaysRemoved are the protected names (besides X-Auth-* and
// Authorization) that Check names for removal even when the description
// lacks them: a client can send them to Envoy, and Envoy's HTTP service
// shows gatehouse only what its allowed_headers lets through. The prefix
// families (X-Forwarded-*, X-Original-*) and lookalike spellings cannot be
// listed; docs/envoy.md has allowed_headers send them.
var alwaysRemoved = [...]string{
	"Forwarded", "X-Forwarded-Host", "X-Real-Ip", "True-Client-Ip",
	"X-Original-Url", "X-Original-Uri", "X-Original-Method", "X-Rewrite-Url",
	"X-Http-Method-Override", "X-Http-Method", "X-Method-Override",
}

func (g *Gateway) check(w http.ResponseWriter, r *http.Request) *Route {
	if !g.trusted.peerTrusted(r) {
		g.refuseVerify(w, r, reasonUntrustedPeer, fmt.Errorf("%w: peer is not a trusted proxy", errBadVerify))
		return nil
	}
	if err := noTunnel(r.Method); err != nil {
		g.refuseVerify(w, r, reasonBadPath, err)
		return nil
	}
	raw := r.URL.EscapedPath()
	p, err := canonicalPath(raw)
	if err != nil || r.URL.Opaque != "" || !validMethod(r.Method) {
		g.refuseVerify(w, r, reasonBadPath, fmt.Errorf("%w: %q", ErrBadPath, raw))
		return nil
	}
	fr := r.WithContext(r.Context())
	fr.URL = &url.URL{Path: p, RawPath: raw, RawQuery: r.URL.RawQuery}
	if proto := first(r.Header, "X-Forwarded-Proto"); proto == "http" || proto == "https" {
		fr.URL.Scheme = proto // set by Envoy itself on every request it forwards
	}
	fr.RequestURI = fr.URL.RequestURI()
	if client := ClientIP(r, g.trusted); client.IsValid() {
		fr.RemoteAddr = netip.AddrPortFrom(client, 0).String()
	}
	return g.judge(w, fr, loginRedirectPublic, nil)
}

// recorder is the http.ResponseWriter Check answers into.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
