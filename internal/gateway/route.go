package gateway

import (
	"cmp"
	"fmt"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
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

	base  string // Match.PathPrefix without its trailing slash; "" for "/"
	proxy *httputil.ReverseProxy
}

// Match selects the requests of a route.
type Match struct {
	// PathPrefix matches at a segment boundary: "/app" and "/app/" both match
	// "/app", "/app/" and "/app/x" but never "/apple".
	PathPrefix string
	// Methods lists the accepted methods; empty accepts every method.
	Methods []string
}

// Policy decides who may use a route.
type Policy struct {
	Auth    Auth
	Roles   []string // any-of; empty means any authenticated user
	Forward Forward
}

// Upstream is where a route's requests go.
type Upstream struct {
	URL          *url.URL
	StripPrefix  bool          // remove Match.PathPrefix, keeping a leading "/"
	PreserveHost bool          // send the client's Host instead of the upstream's
	Timeout      time.Duration // for the response headers; streaming bodies are not cut
}

// matches reports whether the clean path p lies under the route's prefix.
func (rt *Route) matches(p string) bool {
	if !strings.HasPrefix(p, rt.base) {
		return false
	}
	return len(p) == len(rt.base) || p[len(rt.base)] == '/'
}

// allows reports whether the route accepts method.
func (rt *Route) allows(method string) bool {
	return len(rt.Match.Methods) == 0 || slices.Contains(rt.Match.Methods, method)
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

// compileRoute checks one configured route and turns it into a Route
// (without its proxy, which New attaches).
func compileRoute(c config.Route) (*Route, error) {
	fail := func(key, format string, args ...any) error {
		return fmt.Errorf("gateway: route %q: %s: %s", c.Name, key, fmt.Sprintf(format, args...))
	}
	if c.Name == "" {
		return nil, fail("name", "must not be empty")
	}
	prefix := c.Match.PathPrefix
	if clean, err := cleanPath(prefix); err != nil || clean != prefix || strings.Contains(prefix, "%") {
		return nil, fail("match.path_prefix", "must be a normalised absolute path such as /api/, got %q", prefix)
	}
	for _, m := range c.Match.Methods {
		if m == "" || m != strings.ToUpper(m) {
			return nil, fail("match.methods", "methods must be upper-case, got %q", m)
		}
	}
	u, err := url.Parse(c.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fail("upstream", "must be an absolute http(s) URL without credentials")
	}
	rt := &Route{
		Name:  c.Name,
		Match: Match{PathPrefix: prefix, Methods: slices.Clone(c.Match.Methods)},
		Policy: Policy{
			Auth:    Auth(c.Auth),
			Roles:   slices.Clone(c.Roles),
			Forward: Forward(cmp.Or(c.Forward, string(ForwardHeaders))),
		},
		Upstream: Upstream{
			URL:          u,
			StripPrefix:  c.StripPrefix,
			PreserveHost: c.PreserveHost,
			Timeout:      cmp.Or(c.Timeout.D(), DefaultTimeout),
		},
		base: strings.TrimSuffix(prefix, "/"),
	}
	switch rt.Policy.Auth {
	case AuthNone:
		if len(rt.Policy.Roles) > 0 {
			return nil, fail("roles", "roles need auth other than none")
		}
	case AuthSession, AuthToken, AuthAny:
	default:
		return nil, fail("auth", "must be none, session, token or any, got %q", c.Auth)
	}
	if rt.Policy.Forward != ForwardHeaders && rt.Policy.Forward != ForwardJWT {
		return nil, fail("forward", "must be headers or jwt, got %q", c.Forward)
	}
	if rt.Upstream.Timeout < 0 {
		return nil, fail("timeout", "must not be negative")
	}
	return rt, nil
}

// sortRoutes orders routes longest prefix first and rejects two routes that
// would claim the same request, so that one never silently shadows another.
// "/app" and "/app/" count as the same prefix because they match the same
// paths.
func sortRoutes(routes []*Route) error {
	slices.SortStableFunc(routes, func(a, b *Route) int {
		return cmp.Or(cmp.Compare(len(b.base), len(a.base)), strings.Compare(a.base, b.base))
	})
	for i, a := range routes {
		for _, b := range routes[i+1:] {
			if a.base != b.base {
				break
			}
			if a.Name == b.Name {
				return fmt.Errorf("gateway: route %q: name: used twice", a.Name)
			}
			if methodsOverlap(a.Match.Methods, b.Match.Methods) {
				return fmt.Errorf("gateway: route %q: match: path_prefix %q overlaps route %q; one would shadow the other",
					b.Name, b.Match.PathPrefix, a.Name)
			}
		}
	}
	return nil
}

func methodsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	return slices.ContainsFunc(a, func(m string) bool { return slices.Contains(b, m) })
}

// match returns the route for method and the clean path p. The longest
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
