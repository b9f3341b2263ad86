package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"unsafe"
)

// The forward-auth endpoints of contract section 5. VerifyHandler serves all
// three; they differ only in which request headers describe the original
// request.
const (
	// VerifyPath is the generic endpoint: either header family, but never
	// both, and never a header twice.
	VerifyPath = "/auth/verify"
	// VerifyNginxPath reads only X-Original-Method and X-Original-URI, which
	// the nginx configuration sets explicitly on the auth_request subrequest.
	VerifyNginxPath = "/auth/verify/nginx"
	// VerifyForwardPath reads only X-Forwarded-Method, -Uri, -Host and
	// -Proto, which Traefik ForwardAuth and Caddy forward_auth overwrite.
	VerifyForwardPath = "/auth/verify/forward"
	// VerifyEnvoyPath is the prefix of Envoy's HTTP ext_authz service
	// (internal/extauthz), followed by the original path.
	VerifyEnvoyPath = "/auth/verify/envoy"
)

// errBadVerify is returned (wrapped) for a forward-auth request that does
// not say unambiguously which request it is asking about.
var errBadVerify = errors.New("malformed forward-auth request")

// family is the set of headers one kind of proxy uses to describe the
// request it asks about.
type family struct {
	method, uri string    // canonical header names
	host, proto string    // "" when the family carries none
	url         string    // a header holding the absolute original URL, whose host is judged when sent
	login       loginMode // how a browser is sent to the login page
}

var (
	// nginxFamily: auth_request can only turn a 401 into its own
	// error_page redirect, so browsers get 401 plus X-Auth-Redirect. The
	// host is that of X-Original-URL when sent (contract §12; the snippet
	// sets it to $scheme://$host$gatehouse_port$request_uri, so a client's
	// copy never survives), else the subrequest's own Host, which the
	// snippet sets to $host$gatehouse_port (":port" off the default port, as
	// the browser's Origin has it).
	nginxFamily = family{method: "X-Original-Method", uri: "X-Original-Uri", url: "X-Original-Url", login: loginHint}
	// forwardFamily: Traefik and Caddy pass any non-2xx answer, so a 302 to
	// the login page reaches the browser.
	forwardFamily = family{method: "X-Forwarded-Method", uri: "X-Forwarded-Uri",
		host: "X-Forwarded-Host", proto: "X-Forwarded-Proto", login: loginRedirectPublic}
)

// verifyFamilies maps each endpoint to the families it accepts.
var verifyFamilies = map[string][]family{
	VerifyPath:        {nginxFamily, forwardFamily},
	VerifyNginxPath:   {nginxFamily},
	VerifyForwardPath: {forwardFamily},
}

// VerifyHandler answers forward-auth subrequests at VerifyPath,
// VerifyNginxPath and VerifyForwardPath (any other path: 404) with the same
// decision ServeHTTP makes. One endpoint per proxy family, each reading only
// the headers its proxy sets itself, because nginx copies every client
// header into the subrequest: a generic endpoint that preferred
// X-Forwarded-Uri let a client name a public path while fetching an
// admin one (Authelia learned the same in 4.38).
//
//   - The original request is described by the endpoint's header family.
//     Those headers are believed only from trusted proxies: any other peer
//     gets 400. So does a missing or malformed method or URI, a header of the
//     family sent twice, headers of both families on the generic endpoint
//     (X-Forwarded-Host counts as much as X-Forwarded-Uri; see pickFamily),
//     and a URI path that is not canonical (see canonicalPath): nginx and
//     Caddy send the raw path upstream, so gatehouse must judge exactly that
//     path, not a normalised one. Nothing malformed is ever allowed.
//   - No matching route: 404 {"error":"not_found"}, so that a typo in a
//     proxy's configuration never opens a service.
//   - Allowed: 200 with X-Auth-Subject, X-Auth-User, X-Auth-Roles,
//     X-Auth-Method, X-Auth-AMR (and Authorization: Bearer <internal JWT> for forward:
//     jwt routes) for the proxy to copy onto the upstream request. On auth:
//     none routes, and for a CORS preflight on a skip_auth_preflight route
//     (see decide), the five headers are present and empty.
//   - 401 (with WWW-Authenticate), 403 or 503 otherwise. A browser on a
//     session route is sent to {public_url}/login?next=<path and query>:
//     with a 302 for the forward family, with 401 plus an X-Auth-Redirect
//     header for nginx. The login URL is absolute because the browser is on
//     the proxy's host, not necessarily gatehouse's.
func (g *Gateway) VerifyHandler() http.Handler {
	return http.HandlerFunc(g.serveVerify)
}

func (g *Gateway) serveVerify(w http.ResponseWriter, r *http.Request) {
	families, ok := verifyFamilies[r.URL.Path]
	if !ok {
		g.refuseNotFound(w, r, r.URL.Path)
		return
	}
	if !g.trusted.peerTrusted(r) {
		g.refuseVerify(w, r, reasonUntrustedPeer, errors.New("peer is not a trusted proxy"))
		return
	}
	fw, mode, err := g.forwardedRequest(r, families)
	if err != nil {
		reason := reasonBadVerify
		if errors.Is(err, ErrBadPath) {
			reason = reasonBadPath
		}
		g.refuseVerify(w, r, reason, err)
		return
	}
	g.judge(w, &fw.req, mode, &fw.grant)
}

// pickFamily returns the one family of families whose headers describe the
// request. Every header of every accepted family may appear at most once,
// and the generic endpoint refuses a request that carries two families: a
// proxy that copies client headers (nginx) would otherwise let the client
// choose which description is judged. Any header of a family that
// describes the request (method, URI, host or URL) counts as that family
// present, so that the request judged is never put together from two
// descriptions. X-Forwarded-Proto alone does not: the scheme is not part
// of the decision, and nginx's stock proxy_params sets it on every proxied
// request, the auth_request subrequest included.
func pickFamily(h http.Header, families []family) (family, error) {
	var (
		found [2]*family // at most two families exist
		n     int
	)
	for i := range families {
		f := &families[i]
		present := false
		for _, name := range [...]string{f.method, f.uri, f.host, f.proto, f.url} {
			if name == "" {
				continue
			}
			v, ok := h[name]
			if len(v) > 1 {
				return family{}, fmt.Errorf("%w: %s sent %d times", errBadVerify, name, len(v))
			}
			if ok && !present && name != f.proto {
				present = true
				if n < len(found) {
					found[n] = f
					n++
				}
			}
		}
	}
	switch n {
	case 0:
		names := make([]string, len(families))
		for i, f := range families {
			names[i] = f.uri
		}
		return family{}, fmt.Errorf("%w: no %s header", errBadVerify, strings.Join(names, " or "))
	case 1:
		return *found[0], nil
	}
	return family{}, fmt.Errorf("%w: headers of both the %s and the %s family sent", errBadVerify, found[0].uri, found[1].uri)
}

// forwardedRequest rebuilds the original request a proxy is asking about:
// its method, path and query, host, and client address, with the headers
// (Cookie, Authorization, Origin, Sec-Fetch-Site, Accept) of the subrequest,
// which every supported proxy copies from the original.
func (g *Gateway) forwardedRequest(r *http.Request, families []family) (*forwarded, loginMode, error) {
	f, err := pickFamily(r.Header, families)
	if err != nil {
		return nil, 0, err
	}
	method, uri := first(r.Header, f.method), first(r.Header, f.uri)
	if !validMethod(method) {
		return nil, 0, fmt.Errorf("%w: missing or invalid %s", errBadVerify, f.method)
	}
	if err := noTunnel(method); err != nil {
		return nil, 0, err
	}
	rawPath, rawQuery, _ := strings.Cut(uri, "?")
	if !strings.HasPrefix(rawPath, "/") || !targetText(rawQuery) {
		return nil, 0, fmt.Errorf("%w: %s is not an origin-form path", errBadVerify, f.uri)
	}
	p, err := canonicalPath(rawPath)
	if err != nil {
		return nil, 0, err
	}
	fw := &forwarded{req: *r, url: url.URL{Path: p, RawPath: rawPath, RawQuery: rawQuery}} // r.WithContext, and its URL, in one allocation
	fr := &fw.req
	fr.Method = method
	fr.URL = &fw.url
	fr.RequestURI = uri
	if f.host != "" {
		if host := first(r.Header, f.host); host != "" {
			if !validHost(host) {
				return nil, 0, fmt.Errorf("%w: invalid %s", errBadVerify, f.host)
			}
			fr.Host = host
		}
	}
	if f.url != "" {
		if v := first(r.Header, f.url); v != "" {
			scheme, host, ok := originalURL(v)
			if !ok {
				return nil, 0, fmt.Errorf("%w: invalid %s", errBadVerify, f.url)
			}
			// The scheme is nginx's $scheme, kept as that of an absolute
			// login next, as the forward family's X-Forwarded-Proto is.
			fr.Host, fr.URL.Scheme = host, scheme
		}
	}
	if f.proto != "" {
		// A proxy that sends something else is broken. The value is kept as
		// the scheme of an absolute login next (loginLocation).
		proto := first(r.Header, f.proto)
		if proto != "" && proto != "http" && proto != "https" {
			return nil, 0, fmt.Errorf("%w: invalid %s", errBadVerify, f.proto)
		}
		fr.URL.Scheme = proto
	}
	if client := ClientIP(r, g.trusted); client.IsValid() {
		b := netip.AddrPortFrom(client, 0).AppendTo(fw.addr[:0])
		// b is fw.addr (or, for a zone too long for it, a fresh array); neither is written again.
		fr.RemoteAddr = unsafe.String(unsafe.SliceData(b), len(b))
	}
	return fw, f.login, nil
}

// targetText reports whether q can be the path or query of a
// request-target: no "#", space or other control character (RFC 9112
// section 3.2), which gatehouse's own HTTP server and the Envoy endpoints
// (url.ParseRequestURI) refuse as well; a proxy that sends one is
// describing no request a client could have made. FuzzVerifyHost found
// "/?\x00" allowed.
func targetText(q string) bool {
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c == 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// originalURL returns the scheme ("http" or "https", lower case) and the
// host[:port] of an X-Original-URL, which must
// have exactly the shape of the snippet's
// $scheme://$host$gatehouse_port$request_uri: the scheme http or https,
// "://", a plain host[:port] (validHost: no userinfo, no "\", "?" or "#" at
// which one URL parser or another ends the authority), then an origin-form
// path ("/" first) and an optional query, with no fragment, white space or
// control character, and no "\" in the path. ok is false for anything
// else. A generic URL parser accepted "http://open.example?x/admin",
// "http://open.example#x" or a URL without a path and judged the host
// open.example: harmless while the subrequest's Host is the snippet's
// $host$gatehouse_port, which gatehouse's HTTP server refuses first for
// such a host, but a configuration that builds the URL from $http_host
// without setting Host would let the client choose the host judged. The
// path and query are not compared with X-Original-URI, which is what is
// judged.
func originalURL(v string) (scheme, host string, ok bool) {
	var rest string
	switch {
	case len(v) > len("https://") && strings.EqualFold(v[:len("https://")], "https://"):
		scheme, rest = "https", v[len("https://"):]
	case len(v) > len("http://") && strings.EqualFold(v[:len("http://")], "http://"):
		scheme, rest = "http", v[len("http://"):]
	default:
		return "", "", false
	}
	i := strings.IndexByte(rest, '/')
	// An empty host ("https:///x") names none: judging "" would pick the
	// host-less routes.
	if i <= 0 || !validHost(rest[:i]) {
		return "", "", false
	}
	// In the query a raw "\" is data (browsers send it, and X-Original-URI
	// accepts it there); in the path WHATWG parsers read it as "/".
	path, query, _ := strings.Cut(rest[i:], "?")
	if strings.ContainsRune(path, '\\') || !targetText(path) || !targetText(query) {
		return "", "", false
	}
	return scheme, rest[:i], true
}

// forwarded is the original request a forward-auth subrequest describes,
// with its URL, and the grant judge builds when it is allowed: one
// allocation for all of them.
type forwarded struct {
	req   http.Request
	url   url.URL
	addr  [64]byte // the bytes of req.RemoteAddr: "[IPv6%zone]:0" fits
	grant grant
}

// canonicalPath returns the decoded form of an escaped forward-auth path,
// and refuses (ErrBadPath) every path that is not already in canonical form:
// everything cleanPath refuses, plus dot segments, empty segments ("//"),
// ";" anywhere, and percent-encoded unreserved characters (RFC 3986 section
// 6.2.2.2, which covers an encoded "."). The built-in gateway may normalise
// because it forwards the normalised path; a forward-auth proxy forwards the
// raw one, so normalising here would judge one path and serve another
// ("/admin/../app/x" judged as /app/x, served to an upstream that routes on
// "/admin"). The returned path decodes the input without moving any
// segment.
func canonicalPath(escaped string) (string, error) {
	p, err := cleanPath(escaped)
	if err != nil {
		return "", err
	}
	if strings.IndexByte(escaped, ';') >= 0 {
		return "", fmt.Errorf("%w: not canonical: ';'", ErrBadPath)
	}
	for i := 0; i+2 < len(escaped); i++ {
		// cleanPath has checked that every '%' starts a valid escape.
		if escaped[i] == '%' && unreserved(unhex(escaped[i+1])<<4|unhex(escaped[i+2])) {
			return "", fmt.Errorf("%w: not canonical: encoded unreserved character", ErrBadPath)
		}
	}
	decoded, err := url.PathUnescape(escaped)
	if err != nil || decoded != p {
		return "", fmt.Errorf("%w: not canonical: dot or empty segment", ErrBadPath)
	}
	return p, nil
}

// unreserved reports whether c is an RFC 3986 unreserved character, which
// a canonical URI never percent-encodes.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// validHost accepts a host[:port] as a proxy writes it: registered-name,
// IPv4 or bracketed IPv6 characters only, so the value cannot smuggle a
// path, userinfo or a second host.
func validHost(h string) bool {
	if len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~:[]", c) >= 0) {
			return false
		}
	}
	return true
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
