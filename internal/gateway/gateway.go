package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// SessionAuthenticator resolves the gatehouse session cookie of a request.
type SessionAuthenticator interface {
	// AuthenticateSession returns the principal of the request's session cookie, auth.ErrUnauthenticated when
	// there is no/invalid/expired cookie, a wrapped auth.ErrUnavailable when the store is down.
	AuthenticateSession(r *http.Request) (auth.Principal, error)
}

// TokenVerifier verifies bearer access tokens.
type TokenVerifier interface {
	// Verify checks a raw JWT access token: errors wrap auth.ErrUnauthenticated/ErrExpired/ErrRevoked, or
	// auth.ErrUnavailable when the revocation store is down.
	Verify(ctx context.Context, raw string) (auth.Principal, error)
}

// InternalIssuer mints the short-lived JWTs sent upstream by forward: jwt
// routes.
type InternalIssuer interface {
	IssueInternal(p auth.Principal, audience string, ttl time.Duration) (string, error)
}

// InternalTokenTTL is the lifetime of the internal JWT of forward: jwt.
const InternalTokenTTL = 60 * time.Second

// Deps are the gateway's collaborators and settings.
type Deps struct {
	Sessions SessionAuthenticator // needed when a route uses auth session or any
	Tokens   TokenVerifier        // needed when a route uses auth token or any
	Internal InternalIssuer       // needed when a route uses forward: jwt
	// CookieName is the gatehouse session cookie: never forwarded upstream.
	CookieName string
	// PrivateCookies are gatehouse's other cookies that are credentials
	// (the pending login between its two steps, a passkey ceremony): never
	// forwarded upstream either. Their paths keep browsers from sending
	// them to applications, but a path under gatehouse's own that no
	// endpoint has still reaches a "/" route. nil strips only CookieName.
	PrivateCookies []string
	// PrivateCookiePrefixes strip, like PrivateCookies, every cookie whose
	// name starts with one of them: gatehouse's cookies named per login
	// (the "Sign in with" state cookies, which have Path=/ with secure
	// cookies). nil strips none by prefix.
	PrivateCookiePrefixes []string
	// TrustedProxies are the peers whose X-Forwarded-* and X-Original-*
	// headers are believed; nil trusts nobody.
	TrustedProxies []netip.Prefix
	// LoginURL is where browsers without a session are redirected, with
	// ?next=<path and query>; "" means "/login".
	LoginURL string
	// PublicURL (public_url) prefixes a relative LoginURL in forward-auth
	// answers, whose browsers are on the proxy's host; "" leaves it relative.
	PublicURL string
	// Logger receives denials (Info, granted=false reason=…) and upstream
	// failures (Warn); nil discards.
	Logger *slog.Logger
	// Observe, when set, is called once per decision with the route name (""
	// when no route matched), the credential kind that was evaluated
	// ("none" | "session" | "token") and the outcome ("allow" |
	// "unauthorized" | "forbidden" | "unavailable" | "bad_request" |
	// "not_found" | "error").
	Observe func(route, method, outcome string)
	// RateLimits keeps the buckets of routes with a rate_limit; nil means a
	// ratelimit.Memory of this Gateway (pass one to keep buckets across
	// reloads, or the Redis store to share them between instances).
	RateLimits ratelimit.Store
	// RateLimited, when set, is called when a rate limit refuses a request
	// ("limited") or its store does not answer ("unavailable", or
	// "fail_open" on a route that lets requests through then).
	RateLimited func(route, outcome string)
	// Now is the clock of in-memory rate limits; nil means time.Now.
	Now func() time.Time
}

// Gateway is the compiled route table plus one reverse proxy per route. It
// is safe for concurrent use and immutable; build a new one to reload.
type Gateway struct {
	table   *table
	deps    Deps
	log     *slog.Logger
	trusted trustedProxies
	origin  *http.CrossOriginProtection
	cookies privateCookies // stripped from upstream requests
	// internalAuds are the names of the forward: jwt routes
	// (InternalAudiences), asked on every access token issued.
	internalAuds []string
	loginURL     string
	buffers      *bufferPool
	limits       ratelimit.Store
	now          func() time.Time
}

// New compiles routes once (see Compile). It opens no connections and
// starts no goroutines, so building a Gateway on every reload is cheap.
// Configuration errors are *RouteError values keyed routes[i].field; a
// route whose policy needs a missing dependency is an error too, so a
// misconfiguration never turns into an open route.
func New(routes []RouteConfig, deps Deps) (*Gateway, error) {
	g := &Gateway{
		deps:     deps,
		log:      deps.Logger,
		trusted:  trustedProxies(deps.TrustedProxies),
		origin:   http.NewCrossOriginProtection(),
		cookies:  newPrivateCookies(deps),
		loginURL: deps.LoginURL,
		buffers:  newBufferPool(),
		limits:   deps.RateLimits,
		now:      deps.Now,
	}
	if g.limits == nil {
		g.limits = ratelimit.NewMemory()
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.loginURL == "" {
		g.loginURL = "/login"
	}
	compiled, err := Compile(routes)
	if err != nil {
		return nil, err
	}
	for _, rt := range compiled {
		if err := g.checkDeps(rt); err != nil {
			return nil, err
		}
		rt.proxy = g.newProxy(rt)
		if rt.Policy.Forward == ForwardJWT {
			g.internalAuds = append(g.internalAuds, rt.Name)
		}
	}
	g.table = newTable(compiled)
	return g, nil
}

func (g *Gateway) checkDeps(rt *Route) error {
	a := rt.Policy.Auth
	if (a == AuthSession || a == AuthAny) && g.deps.Sessions == nil {
		return fmt.Errorf("gateway: route %q: auth %s needs a session authenticator", rt.Name, a)
	}
	if (a == AuthSession || a == AuthAny) && g.deps.CookieName == "" {
		return fmt.Errorf("gateway: route %q: auth %s needs the session cookie name", rt.Name, a)
	}
	if (a == AuthToken || a == AuthAny) && g.deps.Tokens == nil {
		return fmt.Errorf("gateway: route %q: auth %s needs a token verifier", rt.Name, a)
	}
	if rt.Policy.Forward == ForwardJWT && g.deps.Internal == nil {
		return fmt.Errorf("gateway: route %q: forward jwt needs an internal token issuer", rt.Name)
	}
	return nil
}

// Match returns the route that a request without a host-specific route
// (method and escaped path, as sent on the wire) would use; false when the
// path is refused or no route matches. It sees no headers, so it does not
// route a CORS preflight by its Access-Control-Request-Method as ServeHTTP
// does for skip_auth_preflight routes (matchPreflight).
func (g *Gateway) Match(method, path string) (*Route, bool) { return g.MatchHost("", method, path) }

// MatchHost is Match for a request whose Host header is host (port, case
// and a trailing dot ignored): its exact-host routes, else its wildcard
// routes, else the routes without a host.
func (g *Gateway) MatchHost(host, method, path string) (*Route, bool) {
	h, ok := requestHost(host)
	p, err := cleanPath(path)
	if !ok || err != nil {
		return nil, false
	}
	rt := g.table.match(h, method, p)
	return rt, rt != nil
}

// Routes returns the compiled routes, longest prefix first.
func (g *Gateway) Routes() []*Route { return g.table.all }

// InternalAudiences returns the names of the routes with forward: jwt: the
// aud of the internal JWTs they send upstream, which no access token may
// carry (client.CheckAudience).
// The list is the gateway's own, computed once: callers must not change it.
func (g *Gateway) InternalAudiences() []string { return g.internalAuds }

// Close releases the idle upstream connections of every route. Requests in
// flight finish normally; call Close on the old Gateway after a reload.
func (g *Gateway) Close() {
	for _, rt := range g.table.all {
		if t, ok := rt.proxy.Transport.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
	}
}

// ServeHTTP routes, authorises and proxies r. Refusals are JSON:
// 400 bad_request, 404 not_found, 401 unauthorized, 403 forbidden,
// 503 unavailable; upstream failures 502 bad_gateway or 504 gateway_timeout.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, rt, err := g.target(r)
	if err != nil {
		g.refuseBadPath(w, r, err)
		return
	}
	if rt == nil {
		g.refuseNotFound(w, r, p)
		return
	}
	audit.SetRoute(r.Context(), rt.Name)
	d := g.authorize(r, rt)
	if d.outcome != outcomeAllow {
		g.deny(w, r, rt, p, d, g.redirectBrowser(r, d))
		return
	}
	setLimitHeaders(w.Header(), rt, d)
	gc := &grantContext{grant: grant{path: p, principal: d.principal, authenticated: d.kind != kindNone}}
	gr := &gc.grant
	if !g.carryIdentity(w, r, rt, d, gr) {
		return
	}
	body, err := wrapBody(r)
	if err != nil {
		g.refuseBadBody(w, r, rt, d, err)
		return
	}
	gr.body = body
	g.observe(rt.Name, d.kind, outcomeAllow)
	// The grant rides in the request's one context value (httpapi's
	// audit.Request) when there is one; otherwise gc is the context.
	if !audit.SetGatewayState(r.Context(), gr) {
		gc.Context = r.Context()
		r = r.WithContext(gc)
	}
	rt.proxy.ServeHTTP(w, r)
}

// target returns the clean path and the route the gateway judges r by (nil
// when none matches), or an error for a request it refuses with 400.
// ServeHTTP and Explain both start here.
func (g *Gateway) target(r *http.Request) (string, *Route, error) {
	if err := noTunnel(r.Method); err != nil {
		return "", nil, err
	}
	// "GET a:admin/x HTTP/1.1" parses with an opaque URL and an empty path:
	// the matcher would judge "/" while ReverseProxy sends the opaque part
	// upstream as the request-target (found by FuzzGatewayForwardsJudgedPath).
	if r.URL.Opaque != "" {
		return "", nil, fmt.Errorf("%w: opaque request-target", ErrBadPath)
	}
	raw := r.URL.EscapedPath()
	p, err := cleanPath(raw)
	if err != nil {
		return "", nil, err
	}
	// Under /auth/verify, proxies read gatehouse's answer as an
	// authorization decision (forward-auth, Envoy's HTTP ext_authz), so no
	// route may answer there: an upstream's 200 would read as an allow.
	// Envoy appends the client's raw path to /auth/verify/envoy, where
	// "../" would otherwise climb out to a public route, and a proxy
	// configured with a typo'd endpoint would be told "allowed" by a
	// catch-all route. The raw path is checked as well as the clean one,
	// and a spelling that needed cleaning is refused, not judged.
	if inVerifyNamespace(raw) || inVerifyNamespace(p) {
		if raw != p {
			return "", nil, fmt.Errorf("%w: not canonical under %s", ErrBadPath, VerifyPath)
		}
		return p, nil, nil
	}
	// The gateway judges the Host the client sent: it is the host the
	// browser holds cookies for and the one TLS (SNI) was negotiated with.
	host, ok := requestHost(r.Host)
	if !ok {
		return "", nil, fmt.Errorf("%w: Host %q", ErrBadPath, r.Host)
	}
	return p, g.table.route(host, r, p), nil
}

// inVerifyNamespace reports whether p is VerifyPath or below it, where
// gatehouse's own verify endpoints live.
func inVerifyNamespace(p string) bool {
	return strings.HasPrefix(p, VerifyPath) && (len(p) == len(VerifyPath) || p[len(VerifyPath)] == '/')
}

// carryIdentity readies the identity an allowed request carries upstream:
// it checks that the principal's roles can travel in X-Auth-Roles (a role
// stored before auth.CheckRoles refused controls would make the header
// invalid, which net/http refuses to send, or misleading) and mints the
// internal JWT of forward: jwt into gr. It returns false when it answered
// the request instead: never proxied or allowed without that identity.
func (g *Gateway) carryIdentity(w http.ResponseWriter, r *http.Request, rt *Route, d decision, gr *grant) bool {
	if !gr.authenticated {
		return true
	}
	if err := auth.CheckRoles(d.principal.Roles); err != nil {
		g.failIdentity(w, r, rt, d, "gateway: identity headers", fmt.Errorf("principal %q: %w", d.principal.Subject, err))
		return false
	}
	if rt.Policy.Forward == ForwardJWT {
		tok, err := g.deps.Internal.IssueInternal(d.principal, rt.Name, InternalTokenTTL)
		if err != nil {
			g.failIdentity(w, r, rt, d, "gateway: issue internal token", err)
			return false
		}
		gr.internalToken = tok
	}
	return true
}

// failIdentity answers when the identity of an allowed request cannot be
// carried (carryIdentity): 503 when a store is down, else 500.
func (g *Gateway) failIdentity(w http.ResponseWriter, r *http.Request, rt *Route, d decision, msg string, err error) {
	p, outcome := httperr.Internal, "error"
	if httperr.Unavailable(err) {
		p, outcome = httperr.Of(err), outcomeUnavailable
	}
	g.log.LogAttrs(r.Context(), slog.LevelWarn, msg,
		slog.String("route", rt.Name), slog.String("error", err.Error()))
	g.observe(rt.Name, d.kind, outcome)
	writeError(w, p.Status, p.Code)
}

func (g *Gateway) observe(route, kind, outcome string) {
	if g.deps.Observe != nil {
		g.deps.Observe(route, kind, outcome)
	}
}

// grant is what the authorisation step hands to the proxy's Rewrite through
// the request context.
type grant struct {
	path          string // clean path, as matched
	principal     auth.Principal
	authenticated bool
	internalToken string
	body          *clientBody // nil without a request body
	// identity backs the X-Auth-* (and Authorization) header values that
	// setIdentity sets, so they need no allocation of their own.
	identity [len(identityHeaders) + 1]string
	// noStore backs the Cache-Control value of a forward-auth answer.
	noStore [1]string
	// forwarded backs X-Forwarded-For, -Host and -Proto (setXForwarded).
	forwarded [3]string
}

type grantKey struct{}

// grantOf returns the grant of a request that ServeHTTP handed to the
// proxy, or nil.
func grantOf(r *http.Request) *grant {
	if gr, ok := audit.GatewayState(r.Context()).(*grant); ok {
		return gr
	}
	gr, _ := r.Context().Value(grantKey{}).(*grant)
	return gr
}

// grantContext is the context of the request handed to the proxy when its
// context carries no audit.Request: the request's context plus the grant,
// in one allocation. Everything but the
// grant's key goes to the parent, so cancellation and deadlines are the
// parent's (context.WithCancel on it finds the parent's cancelCtx and
// starts no goroutine).
type grantContext struct {
	context.Context
	grant grant
}

func (c *grantContext) Value(key any) any {
	if key == (grantKey{}) {
		return &c.grant
	}
	return c.Context.Value(key)
}
