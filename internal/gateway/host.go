package gateway

import (
	"cmp"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Host specificity of a route (contract section 12): a request is judged by
// the routes of the most specific tier that names its host, like nginx's
// server_name: exact, else the one-label wildcard, else the routes without a
// host. A host that has routes of its own never falls back to a less
// specific tier, so adding `host: app.example.com` routes cannot leave that
// host's other paths to a weaker host-less policy by accident.
const (
	hostNone = iota
	hostWildcard
	hostExact
)

// checkHost validates a configured match.host and returns it in the form
// the matcher compares: lower case, no trailing dot; "" (no host) stays "".
// "*." followed by a name matches exactly one more label; the name needs two
// labels or more, localhost excepted: "*.com" would match every name.com,
// and ServesHost would take any of them as a login's next URL (an open
// redirect). "*.localhost" names only this machine (RFC 6761 section 6.3).
// Without a public-suffix list, "*.co.uk" passes. Internationalised names
// must be written in punycode (xn--…): the Host header on the wire is
// ASCII, so a Unicode name would never match.
func checkHost(h string) (string, error) {
	if h == "" {
		return "", nil
	}
	for i := 0; i < len(h); i++ {
		if h[i] >= 0x80 {
			return "", fmt.Errorf("%q is not ASCII: write an internationalised name in punycode (xn--…)", h)
		}
	}
	name := strings.TrimSuffix(strings.ToLower(h), ".")
	wild := strings.HasPrefix(name, "*.")
	if wild {
		name = name[2:]
	}
	if strings.Contains(name, ":") {
		return "", fmt.Errorf("%q must be a host name without a port (the port of a request is ignored)", h)
	}
	if !validHostName(name) {
		return "", fmt.Errorf("%q is not a host name such as app.example.com or *.tenants.example.com", h)
	}
	if wild {
		if !strings.Contains(name, ".") && name != "localhost" {
			return "", fmt.Errorf("%q would match every name under %q: a wildcard needs at least two labels after *. (*.tenants.example.com), or list the hosts", h, name)
		}
		return "*." + name, nil
	}
	return name, nil
}

// validHostName accepts a lower-case DNS name (RFC 1123 labels of letters,
// digits and '-', at most 253 characters); IPv4 addresses pass as names.
func validHostName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// requestHost returns the host a request names (a Host header value or
// X-Forwarded-Host) in the matcher's form: without port, lower case, without
// a trailing dot. ok is false for a value that is no host name, or whose
// port is not a number: a proxy in front strips only a numeric port (Envoy's
// strip_any_host_port), so it would route "app.example.com:x" or
// "app.example.com:1@evil.example" by another virtual host than the one
// judged here. "" is ok and names no host.
func requestHost(h string) (host string, ok bool) {
	if h == "" {
		return "", true
	}
	// The checks on ':' and on the last byte skip calls that can only fail:
	// their errors are allocations on every request that names a host.
	if strings.IndexByte(h, ':') >= 0 { // without one, SplitHostPort fails
		if hp, port, err := net.SplitHostPort(h); err == nil {
			if !numeric(port) {
				return "", false
			}
			h = hp
		} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
	}
	// An IP address ends in a digit (IPv4) or contains ':' (IPv6).
	if h != "" && (h[len(h)-1] >= '0' && h[len(h)-1] <= '9' || strings.IndexByte(h, ':') >= 0) {
		if ip := net.ParseIP(h); ip != nil {
			return ip.String(), true
		}
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	return h, validHostName(h)
}

// numeric reports whether port is a non-empty string of ASCII digits.
func numeric(port string) bool {
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	return port != ""
}

// table is the compiled routes grouped by host, each group longest prefix
// first.
type table struct {
	all   []*Route            // every route, longest prefix first
	exact map[string][]*Route // by host
	wild  map[string][]*Route // by the suffix after "*."
	none  []*Route            // routes without a host
}

func newTable(routes []*Route) *table {
	t := &table{all: routes, exact: map[string][]*Route{}, wild: map[string][]*Route{}}
	for _, rt := range routes {
		switch h := rt.Match.Host; {
		case h == "":
			t.none = append(t.none, rt)
		case strings.HasPrefix(h, "*."):
			t.wild[h[2:]] = append(t.wild[h[2:]], rt)
		default:
			t.exact[h] = append(t.exact[h], rt)
		}
	}
	return t
}

// The route sets a host can select (Explanation.HostRoutes).
const (
	routesExact    = "exact"    // routes whose match.host is the host
	routesWildcard = "wildcard" // routes whose match.host is *. and its parent
	routesHostless = "hostless" // routes without match.host
)

// forHost returns the routes that judge requests for host (matcher form).
func (t *table) forHost(host string) []*Route {
	rs, _ := t.lookup(host)
	return rs
}

// lookup is forHost plus which set of routes it returned: a host's
// exact-host routes, else its wildcard routes, else the host-less ones.
func (t *table) lookup(host string) ([]*Route, string) {
	if rs, ok := t.exact[host]; ok {
		return rs, routesExact
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		if rs, ok := t.wild[host[i+1:]]; ok {
			return rs, routesWildcard
		}
	}
	return t.none, routesHostless
}

// match returns the route for a request on host with method and clean path
// p; nil when none.
func (t *table) match(host, method, p string) *Route {
	return match(t.forHost(host), method, p)
}

// route returns the route for r, a request on host for the clean path p:
// the one its method selects, else, for an OPTIONS request, a
// skip_auth_preflight route its CORS preflight asks about
// (matchPreflight). Any other method costs one comparison more than match.
func (t *table) route(host string, r *http.Request, p string) *Route {
	routes := t.forHost(host)
	if rt := match(routes, r.Method, p); rt != nil || r.Method != http.MethodOptions {
		return rt
	}
	return matchPreflight(routes, r.Header, p)
}

// servesHost reports whether some route names host, exactly or by wildcard.
// Host-less routes do not count: they would make every host "served".
func (t *table) servesHost(host string) bool {
	if _, ok := t.exact[host]; ok {
		return true
	}
	i := strings.IndexByte(host, '.')
	_, ok := t.wild[host[i+1:]]
	return i > 0 && ok
}

// absoluteNext returns next (a path) as an absolute URL on fr's host when a
// route names that host and it is not public_url's host; else next.
func (g *Gateway) absoluteNext(fr *http.Request, next string) string {
	host, ok := requestHost(fr.Host)
	if !ok || host == "" || !g.table.servesHost(host) {
		return next
	}
	pub, err := url.Parse(g.deps.PublicURL)
	if err != nil {
		return next
	}
	if ph, _ := requestHost(pub.Host); ph == host {
		return next
	}
	scheme := fr.URL.Scheme
	if scheme != "http" && scheme != "https" {
		scheme = cmp.Or(pub.Scheme, "https")
	}
	return scheme + "://" + strings.ToLower(fr.Host) + next
}

// ServesHost reports whether a route names host (a Host header value: port,
// case and a trailing dot are ignored) exactly or through a wildcard. The
// login page uses it to accept an absolute next URL on such a host and on
// no other.
func (g *Gateway) ServesHost(host string) bool {
	h, ok := requestHost(host)
	return ok && h != "" && g.table.servesHost(h)
}
