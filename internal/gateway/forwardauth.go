package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// errBadVerify is returned (wrapped) for a forward-auth request that does
// not say which request it is asking about.
var errBadVerify = errors.New("malformed forward-auth request")

// VerifyHandler answers forward-auth subrequests (GET /auth/verify) for
// nginx auth_request, Traefik ForwardAuth and Caddy forward_auth with the
// same decision ServeHTTP makes:
//
//   - The original request comes from X-Forwarded-Method + X-Forwarded-Uri
//     (+ X-Forwarded-Host), as Traefik and Caddy send them, or from
//     X-Original-Method + X-Original-URI, as configured for nginx. These are
//     believed only from trusted proxies: any other peer gets 400, and so does
//     a missing or malformed method or URI, or a path ServeHTTP would refuse.
//     Nothing malformed is ever allowed.
//   - No matching route: 404 {"error":"not_found"}, so that a typo in a
//     proxy's configuration never opens a service.
//   - Allowed: 200 with X-Auth-Subject, X-Auth-User, X-Auth-Roles,
//     X-Auth-Method (and Authorization: Bearer <internal JWT> for forward:
//     jwt routes) for the proxy to copy onto the upstream request. On auth:
//     none routes the four headers are present and empty.
//   - 401 (with WWW-Authenticate), 403 or 503 otherwise. A browser on a
//     session route gets 302 to the login page when the request came
//     Traefik/Caddy style (they pass the 302 on), and 401 plus an
//     X-Auth-Redirect header with the login URL when it came nginx style
//     (auth_request can only turn a 401 into its own error_page redirect).
//
// The handler accepts any method of its own, because some proxies send the
// subrequest with the original method.
func (g *Gateway) VerifyHandler() http.Handler {
	return http.HandlerFunc(g.serveVerify)
}

func (g *Gateway) serveVerify(w http.ResponseWriter, r *http.Request) {
	if !g.trusted.peerTrusted(r) {
		g.refuseVerify(w, r, reasonUntrustedPeer, errors.New("peer is not a trusted proxy"))
		return
	}
	fr, mode, err := g.forwardedRequest(r)
	if err != nil {
		reason := reasonBadVerify
		if errors.Is(err, ErrBadPath) {
			reason = reasonBadPath
		}
		g.refuseVerify(w, r, reason, err)
		return
	}
	p := fr.URL.Path
	rt := match(g.routes, fr.Method, p)
	if rt == nil {
		g.refuseNotFound(w, fr, p)
		return
	}
	d := g.decide(fr, rt)
	if d.outcome != outcomeAllow {
		if !wantsLogin(fr, d) {
			mode = loginNone
		}
		g.deny(w, fr, rt, p, d, mode)
		return
	}
	gr := &grant{path: p, principal: d.principal, authenticated: d.kind != kindNone}
	if gr.authenticated && rt.Policy.Forward == ForwardJWT {
		tok, err := g.deps.Internal.IssueInternal(d.principal, rt.Name, InternalTokenTTL)
		if err != nil {
			g.failIssue(w, fr, rt, d, err)
			return
		}
		gr.internalToken = tok
	}
	g.observe(rt.Name, d.kind, outcomeAllow)
	w.Header().Set("Cache-Control", "no-store")
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
}

// forwardedRequest rebuilds the original request a proxy is asking about:
// its method, clean path and query, host, and client address, with the
// headers (Cookie, Authorization, Origin, Sec-Fetch-Site, Accept) of the
// subrequest, which every supported proxy copies from the original.
func (g *Gateway) forwardedRequest(r *http.Request) (*http.Request, loginMode, error) {
	method, uri, mode := r.Header.Get("X-Forwarded-Method"), r.Header.Get("X-Forwarded-Uri"), loginRedirect
	if uri == "" {
		method, uri, mode = r.Header.Get("X-Original-Method"), r.Header.Get("X-Original-Uri"), loginHint
	}
	if uri == "" {
		return nil, 0, fmt.Errorf("%w: no X-Forwarded-Uri or X-Original-URI", errBadVerify)
	}
	if !validMethod(method) {
		return nil, 0, fmt.Errorf("%w: missing or invalid X-Forwarded-Method/X-Original-Method", errBadVerify)
	}
	rawPath, rawQuery, _ := strings.Cut(uri, "?")
	if !strings.HasPrefix(rawPath, "/") || strings.ContainsAny(rawQuery, "# \t\r\n") {
		return nil, 0, fmt.Errorf("%w: URI is not an origin-form path", errBadVerify)
	}
	p, err := cleanPath(rawPath)
	if err != nil {
		return nil, 0, err
	}
	fr := r.WithContext(r.Context())
	fr.Method = method
	fr.URL = &url.URL{Path: p, RawQuery: rawQuery}
	if e := escapePath(p); e != p {
		fr.URL.RawPath = e
	}
	fr.RequestURI = fr.URL.RequestURI()
	if host := r.Header.Get("X-Forwarded-Host"); host != "" {
		fr.Host = host
	}
	if client := ClientIP(r, g.trusted); client.IsValid() {
		fr.RemoteAddr = netip.AddrPortFrom(client, 0).String()
	}
	return fr, mode, nil
}

// validMethod accepts an upper-case HTTP method token.
func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

func (g *Gateway) refuseVerify(w http.ResponseWriter, r *http.Request, reason string, err error) {
	g.log.LogAttrs(r.Context(), slog.LevelInfo, "gateway: verify refused",
		slog.Bool("granted", false), slog.String("reason", reason), slog.String("error", err.Error()))
	g.observe("", kindNone, "bad_request")
	writeError(w, http.StatusBadRequest, "bad_request")
}
