package client

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// OriginsMaxAge is how long AllowsOrigin trusts its set of redirect-URI
// origins before it lists the clients again. A change made through this
// Registry (Add, Delete) counts at once; one made elsewhere — another
// instance on the same store, `gatehouse client add` in another process —
// counts within OriginsMaxAge.
const OriginsMaxAge = 10 * time.Second

// originsRetry is how long a failed listing is kept: while the store is
// down AllowsOrigin fails (closed) for everyone and lists again at most
// once per originsRetry, not once per request.
const originsRetry = time.Second

// originSet is one listing's origins, immutable once stored.
type originSet struct {
	gen  uint64    // Registry.originsGen when the listing started
	at   time.Time // when it started
	set  map[string]struct{}
	err  error // the listing failed: nothing is allowed
	keep time.Duration
	// told is set once err has been returned: the callers that use a
	// failed listing after the first are refused without it, so an outage
	// is logged once per originsRetry, not once per request.
	told atomic.Bool
}

// AllowsOrigin reports whether origin — a request's Origin header, as a
// browser serialises it: scheme://host[:port], lower case, no default port
// — is the origin of an http(s) redirect URI of a registered client
// (config or store). It is the set of origins whose single-page apps may
// read gatehouse's token, revocation and userinfo answers (CORS).
//
// The comparison is exact: another scheme or port is another origin, and
// the RFC 8252 any-port rule of RedirectAllowed does not apply (a native
// app on a loopback port is no browser page and needs no CORS). "" and
// "null" (sandboxed frames, file: pages, privacy-sensitive redirects) are
// never allowed.
//
// The set is built from List and kept for OriginsMaxAge, so a request
// costs a map lookup, not a listing. A listing that fails allows nothing
// (fail closed) for originsRetry; its error (auth.ErrUnavailable for an
// outage, wrapped) is returned to one caller, the others get false alone.
func (r *Registry) AllowsOrigin(ctx context.Context, origin string) (bool, error) {
	if origin == "" || origin == "null" {
		return false, nil
	}
	s, err := r.originSet(ctx)
	if s == nil {
		return false, err
	}
	if s.err != nil {
		if s.told.CompareAndSwap(false, true) {
			return false, s.err
		}
		return false, nil
	}
	_, ok := s.set[origin]
	return ok, nil
}

// originSet returns the current set, listing the clients again when it is
// older than OriginsMaxAge or a change through r made it stale. One
// caller lists; the others wait for its result.
func (r *Registry) originSet(ctx context.Context) (*originSet, error) {
	if s := r.origins.Load(); r.fresh(s) {
		return s, s.err
	}
	r.originsMu.Lock()
	defer r.originsMu.Unlock()
	if s := r.origins.Load(); r.fresh(s) {
		return s, s.err
	}
	// Read the generation before listing: a change that lands during
	// the listing bumps it, so this set is stale as soon as it is stored.
	s := &originSet{gen: r.originsGen.Load(), at: r.now(), set: map[string]struct{}{}, keep: OriginsMaxAge}
	cs, err := r.List(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up; that says nothing about the store.
			return nil, fmt.Errorf("client origins: %w", err)
		}
		s.err, s.keep = fmt.Errorf("client origins: %w", err), originsRetry
	}
	for _, c := range cs {
		for _, u := range c.RedirectURIs {
			if o, ok := redirectOrigin(u); ok {
				s.set[o] = struct{}{}
			}
		}
	}
	r.origins.Store(s)
	return s, s.err
}

// fresh reports whether s may still be used.
func (r *Registry) fresh(s *originSet) bool {
	if s == nil || s.gen != r.originsGen.Load() {
		return false
	}
	age := r.now().Sub(s.at)
	return age >= 0 && age < s.keep
}

// originsChanged makes the origin set stale: the next AllowsOrigin lists
// the clients again.
func (r *Registry) originsChanged() { r.originsGen.Add(1) }

// redirectOrigin is the origin of an http(s) redirect URI as a browser
// serialises it in Origin (RFC 6454 §6.1, WHATWG URL): lower-case scheme
// and host, brackets around an IPv6 address, no port when it is the
// scheme's default. Other schemes (a native app's com.example.app:/cb)
// have no origin a page could send, and URIs Validate refuses give none.
func redirectOrigin(uri string) (string, bool) {
	if checkRedirect(uri) != "" {
		return "", false
	}
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", false
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	origin := u.Scheme + "://" + host
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return "", false
		}
		if !(u.Scheme == "http" && n == 80) && !(u.Scheme == "https" && n == 443) {
			origin += ":" + strconv.FormatUint(n, 10)
		}
	}
	return origin, true
}
