package gateway

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/duration"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

// Auth names how a route authenticates requests (config key routes[].auth).
type Auth string

// The route authentication kinds of contract section 5.
const (
	AuthNone    Auth = "none"    // no credential needed; no identity forwarded
	AuthSession Auth = "session" // the gatehouse session cookie
	AuthToken   Auth = "token"   // Authorization: Bearer <access token>
	AuthAny     Auth = "any"     // a bearer token when an Authorization header is sent, else the session cookie
)

// Forward names how the identity reaches the upstream (routes[].forward).
type Forward string

// The identity forwarding modes.
const (
	ForwardHeaders Forward = "headers" // X-Auth-* headers only
	ForwardJWT     Forward = "jwt"     // X-Auth-* plus Authorization: Bearer <internal JWT, aud = route name>
)

// DefaultTimeout bounds the wait for an upstream's response headers when a
// route sets no timeout.
const DefaultTimeout = 30 * time.Second

// Route is one compiled gateway route. It is plain data once New returns and
// must not be modified.
type Route struct {
	Name     string
	Match    Match
	Policy   Policy
	Upstream Upstream
	// RateLimit is nil when the route has none.
	RateLimit *RateLimit

	base string // Match.PathPrefix without its trailing slash; "" for "/"
	// scopeChallenge is the WWW-Authenticate of a token refused for its
	// scopes (RFC 6750 §3.1): error="insufficient_scope" and scope= the
	// route's Policy.Scopes, made once here rather than per refusal.
	scopeChallenge string
	proxy          *httputil.ReverseProxy
}

// Match selects the requests of a route.
type Match struct {
	// Host is "" (any host), an exact lower-case name, or "*." plus a name
	// of two labels or more, or localhost (exactly one more label); see
	// checkHost and table.forHost.
	Host string
	// PathPrefix matches at a segment boundary: "/app" and "/app/" both match
	// "/app", "/app/" and "/app/x" but never "/apple".
	PathPrefix string
	// Methods lists the accepted methods; empty accepts every method but
	// TRACE and TRACK, and GET accepts HEAD too (see methodAccepted).
	Methods []string
}

// Policy decides who may use a route.
type Policy struct {
	Auth  Auth
	Roles []string // any-of; empty means any authenticated user
	MFA   bool     // the credential's amr must show a second factor
	// Scopes are all-of: a token's scope claim must hold every one
	// (auth.Principal.HasScopes; Oathkeeper's required_scope). Empty means
	// no scope check. A session (auth any) is not checked: it is the
	// user's own first-party login and carries no scopes.
	Scopes  []string
	Forward Forward
	// SkipAuthPreflight lets CORS preflights (see preflight) through to the
	// upstream without authentication (routes[].skip_auth_preflight,
	// oauth2-proxy's --skip-auth-preflight): a browser sends them without
	// credentials, so on a token route every cross-origin call with
	// Authorization would otherwise fail at its preflight's 401.
	SkipAuthPreflight bool
}

// Upstream is where a route's requests go.
type Upstream struct {
	URL          *url.URL
	StripPrefix  bool          // remove Match.PathPrefix, keeping a leading "/"
	PreserveHost bool          // send the client's Host instead of the upstream's
	Timeout      time.Duration // for the response headers; streaming bodies are not cut
	// AllowUnderscoreHeaders forwards client headers with '_' in the name
	// (routes[].allow_underscore_headers; default false, like nginx).
	AllowUnderscoreHeaders bool
}

// matches reports whether the clean path p lies under the route's prefix.
func (rt *Route) matches(p string) bool {
	if !strings.HasPrefix(p, rt.base) {
		return false
	}
	return len(p) == len(rt.base) || p[len(rt.base)] == '/'
}

// allows reports whether the route accepts method.
func (rt *Route) allows(method string) bool { return methodAccepted(rt.Match.Methods, method) }

// methodAccepted reports whether a route's method list accepts method: one it
// lists (HEAD when it lists GET), or, when it lists none, any method but TRACE and TRACK in any
// letter case. An upstream that answers TRACE echoes the request it got,
// with the headers gatehouse added (X-Auth-*, the internal JWT of forward:
// jwt), back to the client (cross-site tracing), so only a route that lists
// TRACE gets it.
func methodAccepted(methods []string, method string) bool {
	if len(methods) == 0 {
		return !strings.EqualFold(method, "TRACE") && !strings.EqualFold(method, "TRACK")
	}
	// HEAD is GET without the body (RFC 9110 section 9.3.2): a route that
	// serves GET serves it, as ServeMux's GET patterns and nginx's
	// limit_except GET do. It reads what GET reads and changes nothing.
	return slices.Contains(methods, method) || method == http.MethodHead && slices.Contains(methods, http.MethodGet)
}

// strip removes the route's prefix from the clean path p, keeping a leading
// "/": with prefix "/api/", "/api/x" becomes "/x" and "/api" becomes "/".
func (rt *Route) strip(p string) string {
	rest := p[len(rt.base):]
	if rest == "" {
		return "/"
	}
	return rest
}

// RouteConfig is one configured gateway route: the routes[] entries of the
// YAML file (contract section 5). Compile is the only judge of its values.
type RouteConfig struct {
	Name     string     `yaml:"name"`
	Match    RouteMatch `yaml:"match"`
	Upstream string     `yaml:"upstream" secret:"url"`
	Auth     string     `yaml:"auth"`
	Roles    []string   `yaml:"roles"`
	// MFA requires a second factor in the credential's amr (step-up).
	MFA bool `yaml:"mfa"`
	// Scopes are the OAuth scopes a bearer token must all carry in its
	// scope claim (RFC 6749 §3.3 scope-tokens, each once); only on auth
	// token or any routes. Empty: no scope check.
	Scopes       []string `yaml:"scopes"`
	StripPrefix  bool     `yaml:"strip_prefix"`
	PreserveHost bool     `yaml:"preserve_host"`
	Forward      string   `yaml:"forward"`
	// Timeout 0 means DefaultTimeout.
	Timeout duration.Duration `yaml:"timeout"`
	// AllowUnderscoreHeaders forwards client headers whose names contain
	// '_' (dropped by default, as nginx does); lookalikes of protected names
	// are dropped regardless.
	AllowUnderscoreHeaders bool `yaml:"allow_underscore_headers"`
	// RateLimit is optional (contract section 12).
	RateLimit *RateLimitConfig `yaml:"rate_limit,omitempty"`
	// SkipAuthPreflight passes CORS preflights (OPTIONS with Origin and
	// Access-Control-Request-Method) to the upstream unauthenticated, even
	// when match.methods leaves OPTIONS out; default false.
	SkipAuthPreflight bool `yaml:"skip_auth_preflight"`
}

// RouteMatch is the match section of a RouteConfig.
type RouteMatch struct {
	// Host is optional: app.example.com or *.tenants.example.com (contract
	// section 12).
	Host       string   `yaml:"host"`
	PathPrefix string   `yaml:"path_prefix"`
	Methods    []string `yaml:"methods"`
}

// ErrInvalidRoute is wrapped by every *RouteError.
var ErrInvalidRoute = errors.New("invalid route")

// RouteError is one problem in the configured routes, keyed like the YAML
// (routes[2].upstream). Its message never contains an upstream's
// credentials.
type RouteError struct {
	Index int    // position in the configured list
	Field string // key inside the route: "upstream", "match.path_prefix"
	Msg   string
}

// Key is the YAML key at fault, such as routes[2].upstream.
func (e *RouteError) Key() string { return fmt.Sprintf("routes[%d].%s", e.Index, e.Field) }

func (e *RouteError) Error() string { return e.Key() + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrInvalidRoute) true.
func (e *RouteError) Unwrap() error { return ErrInvalidRoute }

// reservedPaths are gatehouse's own endpoints: a route under one of them
// would never be reached, because the endpoint wins.
// /admin/api/ is the admin API (a route at /admin/ itself is allowed: it
// takes /admin/ from the console, see admin.ConsoleFree).
var reservedPaths = []string{"/auth/", "/login", "/account", "/.well-known/", "/healthz", "/readyz", "/admin/api/", "/openapi.json"}

var routeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Compile checks every configured route and returns them compiled, longest
// prefix first. It reports every problem, joined, each a *RouteError; config
// validation, serve and reload all go through it, so they agree.
func Compile(cfgs []RouteConfig) ([]*Route, error) {
	var errs []error
	routes := make([]*Route, 0, len(cfgs))
	names := make(map[string]int, len(cfgs))
	for i, c := range cfgs {
		rt, problems := compileRoute(i, c)
		errs = append(errs, problems...)
		if j, dup := names[c.Name]; dup && c.Name != "" {
			errs = append(errs, &RouteError{i, "name", fmt.Sprintf("%q is already used by routes[%d]", c.Name, j)})
		} else {
			names[c.Name] = i
		}
		for j, prev := range routes[:i] {
			if prev != nil && rt != nil && prev.Match.Host == rt.Match.Host && prev.base == rt.base &&
				methodsOverlap(prev.Match.Methods, rt.Match.Methods) {
				errs = append(errs, &RouteError{i, "match", fmt.Sprintf(
					"host %q and path_prefix %q overlap routes[%d] for the same methods; one would silently shadow the other",
					rt.Match.Host, c.Match.PathPrefix, j)})
			}
		}
		routes = append(routes, rt)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(routes, func(a, b *Route) int {
		return cmp.Or(cmp.Compare(len(b.base), len(a.base)), strings.Compare(a.base, b.base))
	})
	return routes, nil
}

// Warnings returns what config check and serve should say about cfgs
// without refusing them, each starting with the key at fault: a
// skip_auth_preflight that changes nothing, on an auth: none route whose
// methods already accept OPTIONS. On an auth: none route that lists its
// methods without OPTIONS the key still admits preflights (matchPreflight),
// so it is not warned about.
func Warnings(cfgs []RouteConfig) []string {
	var w []string
	for i, c := range cfgs {
		if c.SkipAuthPreflight && Auth(c.Auth) == AuthNone && methodAccepted(c.Match.Methods, http.MethodOptions) {
			w = append(w, fmt.Sprintf("routes[%d].skip_auth_preflight has no effect: auth none already lets every request through, preflights included, and match.methods accepts OPTIONS", i))
		}
	}
	return w
}

// WithDefaults returns c with the values Compile uses for what it leaves
// out (forward headers, timeout DefaultTimeout), so that config check
// prints the route as it runs.
func (c RouteConfig) WithDefaults() RouteConfig {
	c.Forward = cmp.Or(c.Forward, string(ForwardHeaders))
	c.Timeout = cmp.Or(c.Timeout, duration.Duration(DefaultTimeout))
	return c
}

// compileRoute checks the configured route at index i and turns it into a
// Route (without its proxy, which New attaches). It returns a nil Route when
// the match cannot be compiled.
func compileRoute(i int, c RouteConfig) (*Route, []error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &RouteError{i, field, fmt.Sprintf(format, args...)})
	}
	c = c.WithDefaults()
	if !routeName.MatchString(c.Name) {
		bad("name", "must be a non-empty name of letters, digits, '-', '_' or '.', got %q", c.Name)
	}
	prefix := c.Match.PathPrefix
	prefixOK := checkPrefix(prefix, bad)
	host, herr := checkHost(c.Match.Host)
	if herr != nil {
		bad("match.host", "%s", herr.Error())
	}
	for _, m := range c.Match.Methods {
		if m == "" || m != strings.ToUpper(m) {
			bad("match.methods", "methods must be upper-case, got %q", m)
		}
	}
	u, uerr := url.Parse(c.Upstream)
	switch {
	case uerr != nil && schemeless(c.Upstream):
		bad("upstream", "must be an absolute http(s) URL such as http://127.0.0.1:9001: it has no scheme")
	case uerr != nil:
		bad("upstream", "must be an absolute http(s) URL such as http://127.0.0.1:9001")
	case u.User != nil:
		// Refused rather than masked: the URL would be printed by config
		// check and in logs, and the proxy does not send userinfo anyway.
		bad("upstream", "must not contain credentials (user:password@ before the host)")
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		// Not echoed either: its query or path may hold an API key.
		what := "it has no host"
		switch {
		case u.Scheme == "" || (u.Opaque != "" && schemeless(c.Upstream)):
			what = "it has no scheme"
		case u.Scheme != "http" && u.Scheme != "https":
			what = fmt.Sprintf("its scheme is %q", u.Scheme)
		}
		bad("upstream", "must be an absolute http(s) URL such as http://127.0.0.1:9001: %s", what)
	case !validPort(u.Port()):
		bad("upstream", "its port is not between 1 and 65535")
	}
	switch Auth(c.Auth) {
	case AuthNone:
		if len(c.Roles) > 0 {
			bad("roles", "roles need auth other than none")
		}
		if c.MFA {
			bad("mfa", "mfa: true needs auth other than none")
		}
	case AuthSession, AuthToken, AuthAny:
	default:
		bad("auth", "must be none, session, token or any, got %q", c.Auth)
	}
	checkScopes(c, bad)
	forward := Forward(c.Forward)
	if forward != ForwardHeaders && forward != ForwardJWT {
		bad("forward", "must be headers or jwt, got %q", c.Forward)
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative")
	}
	limit := compileRateLimit(c, bad)
	if !prefixOK || herr != nil {
		return nil, errs
	}
	return &Route{
		RateLimit: limit,
		Name:      c.Name,
		Match:     Match{Host: host, PathPrefix: prefix, Methods: slices.Clone(c.Match.Methods)},
		Policy: Policy{Auth: Auth(c.Auth), Roles: slices.Clone(c.Roles), MFA: c.MFA, Scopes: slices.Clone(c.Scopes), Forward: forward,
			SkipAuthPreflight: c.SkipAuthPreflight},
		Upstream: Upstream{
			URL:                    u,
			StripPrefix:            c.StripPrefix,
			PreserveHost:           c.PreserveHost,
			Timeout:                c.Timeout.D(),
			AllowUnderscoreHeaders: c.AllowUnderscoreHeaders,
		},
		base:           strings.TrimSuffix(prefix, "/"),
		scopeChallenge: httperr.ChallengeWith("insufficient_scope") + `, scope="` + strings.Join(c.Scopes, " ") + `"`,
	}, errs
}

// checkScopes checks a route's required scopes: RFC 6749 §3.3
// scope-tokens (auth.ValidScope), each once, and only where a token is
// read (auth token or any). A session carries no scope claim, so on an
// auth session route the key would refuse every request, and on auth none
// it would check nothing: both are refused rather than guessed at.
func checkScopes(c RouteConfig, bad func(field, format string, args ...any)) {
	if len(c.Scopes) > 0 {
		switch a := Auth(c.Auth); a {
		case AuthNone, AuthSession:
			bad("scopes", "route %q has auth %s, whose credential carries no scopes; scopes need auth token or any", c.Name, a)
		}
	}
	for i, s := range c.Scopes {
		switch {
		case !auth.ValidScope(s):
			bad(fmt.Sprintf("scopes[%d]", i), "route %q: %q is not an RFC 6749 scope-token (printable ASCII without spaces, '\"' or '\\')", c.Name, s)
		case slices.Contains(c.Scopes[:i], s):
			bad(fmt.Sprintf("scopes[%d]", i), "route %q: scope %q is listed twice", c.Name, s)
		}
	}
}

// checkPrefix accepts only a path_prefix that cleanPath leaves unchanged
// and that holds no escapes or ";" (what the matcher compares must be what
// the operator wrote), outside gatehouse's own endpoints.
func checkPrefix(prefix string, bad func(field, format string, args ...any)) bool {
	if clean, err := cleanPath(prefix); err != nil || clean != prefix || strings.ContainsAny(prefix, "%;") {
		bad("match.path_prefix", "must be a normalised absolute path such as /api/, got %q", prefix)
		return false
	}
	for _, reserved := range reservedPaths {
		if r := strings.TrimSuffix(reserved, "/"); prefix == r || strings.HasPrefix(prefix, r+"/") {
			bad("match.path_prefix", "%q is under gatehouse's own endpoint %s, which would shadow the route", prefix, reserved)
			return false
		}
	}
	return true
}

// methodsOverlap reports whether two method lists (empty = every method
// but TRACE and TRACK, see methodAccepted) share a method: two routes with one
// prefix may not.
func methodsOverlap(a, b []string) bool {
	if len(a) == 0 {
		if len(b) == 0 {
			return true
		}
		a, b = b, a
	}
	// Both ways: [GET] takes HEAD, which [HEAD] lists.
	return slices.ContainsFunc(a, func(m string) bool { return methodAccepted(b, m) }) ||
		slices.ContainsFunc(b, func(m string) bool { return methodAccepted(a, m) })
}

// match returns the route among routes (one host's, longest prefix first)
// for method and the clean path p. The longest
// matching prefix wins; if none of the routes with that prefix accepts the
// method there is no match. A shorter prefix never catches the methods a
// longer one left out, so restricting a protected route's methods cannot
// send the other methods to a less protected route.
func match(routes []*Route, method, p string) *Route {
	for i, rt := range routes {
		if !rt.matches(p) {
			continue
		}
		for _, same := range routes[i:] {
			if same.base != rt.base {
				break
			}
			if same.allows(method) {
				return same
			}
		}
		return nil
	}
	return nil
}

// IsPreflight reports whether h, the headers of an OPTIONS request, make
// it a CORS preflight (Fetch standard, "CORS-preflight request"): exactly
// one non-empty Origin and exactly one non-empty
// Access-Control-Request-Method, as a browser sends them. Anything else, a
// repeated header included, is an ordinary OPTIONS request: a route
// authenticates it like any other (skip_auth_preflight), and gatehouse's
// own CORS endpoints answer it with 405 and Allow (httpapi). It is the one
// rule of both; the caller checks the method.
func IsPreflight(h http.Header) bool {
	o, m := h["Origin"], h["Access-Control-Request-Method"]
	return len(o) == 1 && o[0] != "" && len(m) == 1 && m[0] != ""
}

// matchPreflight returns the route among routes (one host's, longest
// prefix first) that judges an OPTIONS request with headers h for the
// clean path p when match found none: for a CORS preflight, the route that
// serves the method it asks about (Access-Control-Request-Method), when
// that route sets skip_auth_preflight. A preflight asks whether that
// request may be sent, so that route's upstream is the one to answer it.
// Otherwise nil: without the key an OPTIONS the methods leave out is
// unrouted, as before.
func matchPreflight(routes []*Route, h http.Header, p string) *Route {
	if !IsPreflight(h) {
		return nil
	}
	rt := match(routes, h["Access-Control-Request-Method"][0], p)
	if rt == nil || !rt.Policy.SkipAuthPreflight {
		return nil
	}
	return rt
}

// schemeless reports whether raw is host:port (and perhaps a path) with the
// http:// left out, which url.Parse refuses ("127.0.0.1:9001") or reads as
// a scheme ("localhost:9001" has scheme "localhost"): it parses as an http
// URL with a host and a numeric port once the scheme is added.
func schemeless(raw string) bool {
	u, err := url.Parse("http://" + raw)
	return err == nil && u.Hostname() != "" && u.Port() != "" && validPort(u.Port())
}

// validPort reports whether port, a URL's port (digits, url.Parse checks
// that), is empty or a TCP port a connection can use.
func validPort(port string) bool {
	if port == "" {
		return true
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}
