package httpapi

import (
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

// routes lists every endpoint (contract sections 3–7). Cookie-authenticated
// state-changing endpoints are wrapped in cross-origin protection.
func (s *server) routes() *router {
	mux := http.NewServeMux()
	rt := &router{mux: mux, ownFirst: map[string]bool{}, families: map[string]string{}, preflights: map[string]bool{}}
	family := "" // of the patterns that follow: what explain names
	own := func(pattern string, h http.Handler) {
		mux.Handle(pattern, s.own(h))
		rt.methods.Add(pattern)
		rt.families[pattern] = family
		p := pattern // "[METHOD ]PATH"
		if _, after, ok := strings.Cut(pattern, " "); ok {
			p = after
		}
		rt.ownFirst[firstSegment(p)] = true
		if len(p) > 1 && strings.HasSuffix(p, "/") {
			// ServeMux answers the path without the slash itself, with a
			// redirect to the subtree (307) that no pattern's handler
			// wraps.
			rt.toSubtree = append(rt.toSubtree, strings.TrimSuffix(p, "/"))
		}
	}
	// page registers one of gatehouse's own HTML pages or an endpoint
	// that its HTML forms post to (templates/*.html): the one place that
	// decides which failures a browser gets as an HTML error page
	// (htmlPage); every endpoint registered with own alone answers errors
	// with JSON.
	page := func(pattern string, h http.Handler) { own(pattern, htmlPage(h)) }
	csrf := s.cop.Handler
	// methodNotAllowed is the catch-all's answer (below) to a method the
	// path's endpoints do not serve.
	methodNotAllowed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httperr.MethodNotAllowed(w, rt.methods.Allowed(mux, r, catchAll))
	})
	// preflight answers CORS preflights for path (cors.go); its OPTIONS
	// pattern stays out of rt.methods, so an OPTIONS request that is no
	// preflight gets the same 405 with Allow as before.
	preflight := func(path string, p corsPolicy) {
		pattern := http.MethodOptions + " " + path
		mux.Handle(pattern, s.own(s.preflight(p, func(r *http.Request) string {
			return rt.methods.Allowed(mux, r, catchAll)
		}, methodNotAllowed)))
		rt.families[pattern] = family
		rt.preflights[pattern] = true
	}

	// Sessions (section 3)
	family = "sessions"
	page("POST /auth/login", csrf(s.handleLogin()))
	own("GET /auth/session", s.handleSession())
	page("POST /auth/logout", csrf(s.handleLogout()))
	own("GET /auth/sessions", s.handleListSessions())
	own("DELETE /auth/sessions/{id}", csrf(s.handleRevokeSession()))
	page("POST /auth/sessions/{id}/revoke", csrf(s.handleRevokeSession())) // HTML form on /account
	own("DELETE /auth/sessions", csrf(s.handleRevokeOtherSessions()))
	page("POST /auth/sessions/revoke-others", csrf(s.handleRevokeOtherSessions())) // HTML form on /account
	page("POST /auth/password", csrf(s.handleChangePassword()))
	page("GET /login", s.handleLoginPage())
	page("GET /account", s.handleAccountPage())

	// Second factor (section 9)
	family = "second factor"
	if s.MFA != nil {
		page("POST /auth/login/mfa", csrf(s.handleLoginMFA()))
		page("GET /login/mfa", s.handleLoginMFAPage())
		page("POST /auth/mfa/totp", csrf(s.handleTOTPEnrol()))
		page("POST /auth/mfa/totp/confirm", csrf(s.handleTOTPConfirm()))
		own("DELETE /auth/mfa/totp", csrf(s.handleTOTPDelete()))
		page("POST /auth/mfa/totp/delete", csrf(s.handleTOTPDelete())) // HTML form on /account
		page("POST /auth/mfa/recovery-codes", csrf(s.handleRecoveryCodes()))
	}
	if s.MFA != nil && s.Passkeys != nil {
		page("POST /auth/webauthn/register/begin", csrf(s.handleWebAuthnRegisterBegin())) // the form webauthn.js takes over
		own("POST /auth/webauthn/register/finish", csrf(s.handleWebAuthnRegisterFinish()))
		own("GET /auth/webauthn", s.handleWebAuthnList())
		own("DELETE /auth/webauthn/{id}", csrf(s.handleWebAuthnDelete()))
		page("POST /auth/webauthn/{id}/delete", csrf(s.handleWebAuthnDelete())) // HTML form on /account
		own("POST /auth/webauthn/login/begin", csrf(s.handleWebAuthnLoginBegin()))
		own("POST /auth/webauthn/login/finish", csrf(s.handleWebAuthnLoginFinish()))
	}
	family = "static"
	own("GET /static/webauthn.js", handleStatic(webauthnScript()))

	// Tokens (section 4). A single-page app on a registered client's
	// origin calls these with fetch (CORS, docs/apps.md); discovery and
	// JWKS are public documents. Nothing else gets CORS.
	family = "tokens"
	own("POST /auth/token", s.cors(corsClients, s.handleToken()))
	preflight("/auth/token", corsClients)
	own("POST /auth/revoke", s.cors(corsClients, s.handleRevoke()))
	preflight("/auth/revoke", corsClients)
	own("GET /.well-known/jwks.json", s.cors(corsPublic, s.handleJWKS()))
	preflight("/.well-known/jwks.json", corsPublic)
	own("GET /.well-known/oauth-authorization-server", s.cors(corsPublic, s.handleMetadata()))
	preflight("/.well-known/oauth-authorization-server", corsPublic)
	own("GET /auth/userinfo", s.cors(corsClients, s.handleUserinfo()))
	own("POST /auth/userinfo", s.cors(corsClients, s.handleUserinfo())) // OIDC Core §5.3.1: GET and POST
	preflight("/auth/userinfo", corsClients)

	// Apps: authorization server and OpenID Provider (section 8)
	family = "apps"
	page("GET /auth/authorize", s.handleAuthorize())
	// A relying party's form POST (OIDC Core §3.1.2.1) is cross-site by
	// design and becomes the GET; only the consent form's answer, same-origin,
	// reaches handleAuthorize.
	page("POST /auth/authorize", s.authorizePOST(csrf(s.handleAuthorize())))
	own("GET /.well-known/openid-configuration", s.cors(corsPublic, s.handleMetadata()))
	preflight("/.well-known/openid-configuration", corsPublic)
	page("POST /auth/consents/{client}/revoke", csrf(s.handleWithdrawConsent())) // HTML form on /account
	own("DELETE /auth/consents/{client}", csrf(s.handleWithdrawConsent()))
	// Grants (refresh families) that no browser session holds (contract §8).
	own("DELETE /auth/grants/{id}", csrf(s.handleRevokeGrant()))
	page("POST /auth/grants/{id}/revoke", csrf(s.handleRevokeGrant())) // HTML form on /account
	page("GET /auth/end_session", s.handleEndSession())
	// No cross-origin wrapper: an RP may POST here with an id_token_hint;
	// the handler checks the origin of its own confirmation form.
	page("POST /auth/end_session", s.handleEndSession())

	// Gateway (section 5)
	family = "forward-auth"
	if s.Verify != nil {
		// One handler; the path picks the proxy family whose headers it reads.
		for _, p := range []string{gateway.VerifyPath, gateway.VerifyNginxPath, gateway.VerifyForwardPath} {
			own("GET "+p, s.Verify)
		}
	}
	if s.VerifyEnvoy != nil { // section 12: the original method and path follow the prefix
		own(envoyPrefix, s.VerifyEnvoy)
		rt.envoy = s.own(s.VerifyEnvoy)
	}

	// OIDC (section 7)
	family = "oidc"
	if s.OIDC != nil {
		own("GET /auth/oidc/{name}/start", s.OIDC.Start())
		own("GET /auth/oidc/{name}/callback", s.OIDC.Callback())
		// Server to server from the provider: no cookie, no CSRF wrapper.
		own("POST /auth/oidc/{name}/backchannel-logout", s.OIDC.BackchannelLogout())
	}

	// Administration (section 11): internal/admin lists its endpoints.
	if s.Admin != nil {
		family = "admin api"
		own("/admin/api/", s.Admin)
		if s.AdminConsole {
			family = "admin console"
			own("/admin/", s.Admin)
		}
	}
	family = "openapi"
	own("GET /openapi.json", s.handleOpenAPI())

	// Operations (section 6)
	family = "health"
	own("GET /healthz", s.handleHealthz())
	own("GET /readyz", s.handleReadyz())

	rt.ownMux = s.own(mux)
	rt.fallback = s.Gateway
	if rt.fallback == nil {
		rt.fallback = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httperr.Write(w, auth.ErrNotFound)
		})
	}
	// The catch-all "/" matches every method, so ServeMux never answers 405
	// by itself: a path an endpoint serves with other methods only answers
	// 405 with Allow (RFC 9110 section 15.5.6) here, and the gateway gets
	// the rest.
	mux.Handle(catchAll, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow := rt.methods.Allowed(mux, r, catchAll); allow != "" {
			s.own(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				httperr.MethodNotAllowed(w, allow)
			})).ServeHTTP(w, r)
			return
		}
		rt.fallback.ServeHTTP(w, r)
	}))
	return rt
}

// catchAll is the ServeMux pattern of everything no endpoint serves.
const catchAll = "/"

// router sends each request to one of gatehouse's own endpoints or to the
// gateway. ServeHTTP and Endpoint (what explain reports) share its
// decisions: first, then the ServeMux's match.
type router struct {
	mux      *http.ServeMux
	ownFirst map[string]bool   // first path segments of the endpoints' patterns
	methods  httperr.MethodSet // of the endpoints' patterns
	families map[string]string // endpoint family by pattern
	// preflights holds the OPTIONS patterns of the CORS endpoints, whose
	// answer the routing gives (204 or 405, Endpoint).
	preflights map[string]bool
	envoy      http.Handler // nil without Envoy's ext_authz
	fallback   http.Handler // the gateway
	// toSubtree are the paths that ServeMux redirects to a subtree
	// pattern ("/admin" to "/admin/"); ownMux is the mux under s.own, which
	// gives those redirects the headers of every own answer.
	toSubtree []string
	ownMux    http.Handler
}

// Where first sends a request.
const (
	toMux = iota
	toEnvoy
	toFallback
)

// first is the router's decision before any pattern is matched.
func (rt *router) first(r *http.Request) int {
	// Envoy's HTTP ext_authz appends the client's raw path to the
	// prefix, so this path is the client's to spell. Whatever it is,
	// the Envoy handler answers (400 for a path that is not canonical):
	// sent on to the gateway below, "../" segments would climb out of
	// the prefix to a route whose upstream's 200 Envoy takes for an
	// allow. The gateway, second, never proxies a path under
	// /auth/verify either.
	if rt.envoy != nil && strings.HasPrefix(rawPath(r.URL), envoyPrefix) {
		return toEnvoy
	}
	// ServeMux would answer an unclean path ("//x", "/a/../b") with a
	// redirect; the gateway instead normalises it (or refuses it) itself,
	// so the path it matches is the path that goes upstream.
	// A path whose first segment no pattern has can only reach the
	// fallback: skip ServeMux (its matching allocates) on that hot path.
	if !rt.ownFirst[firstSegment(r.URL.Path)] || !isClean(r.URL.Path) || r.Method == http.MethodConnect {
		return toFallback
	}
	return toMux
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch rt.first(r) {
	case toEnvoy:
		// The pattern ServeMux would have matched: the log line's and
		// metrics' route, as for every endpoint (not "gateway", which
		// names requests no gateway route matched).
		r.Pattern = envoyPrefix
		rt.envoy.ServeHTTP(w, r)
	case toFallback:
		rt.fallback.ServeHTTP(w, r)
	default:
		if slices.Contains(rt.toSubtree, r.URL.Path) {
			rt.ownMux.ServeHTTP(w, r)
			return
		}
		rt.mux.ServeHTTP(w, r)
	}
}

// Endpoint says which of gatehouse's own endpoints answers r, as
// ServeHTTP would route it; nil when the gateway does. It runs no handler.
func (rt *router) Endpoint(r *http.Request) *gateway.ExplainedEndpoint {
	switch rt.first(r) {
	case toEnvoy:
		return &gateway.ExplainedEndpoint{Family: rt.families[envoyPrefix], Pattern: envoyPrefix}
	case toFallback:
		return nil
	}
	h, pattern := rt.mux.Handler(r)
	switch {
	case pattern == catchAll:
		if allow := rt.methods.Allowed(rt.mux, r, catchAll); allow != "" {
			return &gateway.ExplainedEndpoint{Family: "method not allowed", Pattern: catchAll, Status: http.StatusMethodNotAllowed, Allow: allow}
		}
		return nil
	case !strings.HasSuffix(r.URL.Path, "/") && pattern == r.URL.Path+"/":
		// ServeMux redirects "/admin" to the subtree "/admin/": h is its
		// redirect handler, which writes nothing but the answer.
		var w statusOnly
		h.ServeHTTP(&w, r)
		return &gateway.ExplainedEndpoint{Family: rt.families[pattern], Pattern: pattern, Status: w.code}
	case rt.preflights[pattern]:
		// A CORS endpoint's OPTIONS pattern answers a preflight with 204
		// (allow headers or not, by Origin) and any other OPTIONS request
		// with 405 and Allow (cors.go preflight).
		if gateway.IsPreflight(r.Header) {
			return &gateway.ExplainedEndpoint{Family: rt.families[pattern], Pattern: pattern, Status: http.StatusNoContent}
		}
		return &gateway.ExplainedEndpoint{Family: "method not allowed", Pattern: pattern, Status: http.StatusMethodNotAllowed,
			Allow: rt.methods.Allowed(rt.mux, r, catchAll)}
	}
	return &gateway.ExplainedEndpoint{Family: rt.families[pattern], Pattern: pattern}
}

// statusOnly is a ResponseWriter that keeps only the status.
type statusOnly struct {
	header http.Header
	code   int
}

func (w *statusOnly) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *statusOnly) WriteHeader(code int) { w.code = code }

func (w *statusOnly) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(b), nil
}

// envoyPrefix is where Envoy's HTTP ext_authz service sends its checks
// (path_prefix /auth/verify/envoy, then the original path).
const envoyPrefix = gateway.VerifyEnvoyPath + "/"

// rawPath is u's path as it came on the wire: Envoy's prefix is literal
// there, whatever the client's path after it decodes to.
func rawPath(u *url.URL) string {
	if u.RawPath != "" {
		return u.RawPath
	}
	return u.Path
}

// firstSegment is the first segment of an absolute path ("auth" for
// "/auth/login").
func firstSegment(p string) string {
	p = strings.TrimPrefix(p, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return p
}

// isClean reports whether p is its own cleanPath. An absolute path without
// "//" and "/." has nothing for path.Clean to remove, so the common case
// (every forward-auth subrequest) is one scan instead of a Clean that
// ServeMux then repeats.
func isClean(p string) bool {
	if p != "" && p[0] == '/' && !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return true
	}
	return p == cleanPath(p)
}

// cleanPath is path.Clean keeping a trailing slash, as ServeMux cleans.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c
}
