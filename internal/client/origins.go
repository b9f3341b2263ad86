package client

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/idna"
)

// OriginsMaxAge is how long AllowsOrigin and AnyAllowsGrant trust their
// listing of the clients (the origins of their redirect URIs, the grants
// they may use) before they list the clients again. A change made through
// this Registry (Add, Delete) counts at once; one made elsewhere — another
// instance on the same store, `gatehouse client add` in another process —
// counts within OriginsMaxAge.
const OriginsMaxAge = 10 * time.Second

// originsRetry is how long a failed listing is kept: while the store is
// down AllowsOrigin and AnyAllowsGrant fail (closed) for everyone, and the
// clients are listed again at most once per originsRetry, not once per
// request.
const originsRetry = time.Second

// originSet is what one listing of the clients found, immutable once
// stored.
type originSet struct {
	gen    uint64              // Registry.originsGen when the listing started
	at     time.Time           // when it started
	set    map[string]struct{} // the origins of the redirect URIs (AllowsOrigin)
	grants map[string]struct{} // the grants some client may use (AnyAllowsGrant)
	err    error               // the listing failed: nothing is allowed
	keep   time.Duration
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
	s, err := r.listing(ctx)
	if s == nil {
		return false, err
	}
	_, ok := s.set[origin]
	return ok, nil
}

// AnyAllowsGrant reports whether some registered client (config or store)
// may use grant type g (Client.AllowsGrant: the password grant only for a
// first-party client), as discovery's grant_types_supported says. It
// answers from AllowsOrigin's listing, kept for OriginsMaxAge, with the
// same failure rules: false when the clients cannot be listed, the error
// returned to one caller per failed listing.
func (r *Registry) AnyAllowsGrant(ctx context.Context, g string) (bool, error) {
	s, err := r.listing(ctx)
	if s == nil {
		return false, err
	}
	_, ok := s.grants[g]
	return ok, nil
}

// listing returns the current listing, nil when it failed; its error
// only to the first caller that gets a failed listing (originSet.told).
func (r *Registry) listing(ctx context.Context) (*originSet, error) {
	s, err := r.originSet(ctx)
	if s == nil {
		return nil, err
	}
	if s.err != nil {
		if s.told.CompareAndSwap(false, true) {
			return nil, s.err
		}
		return nil, nil
	}
	return s, nil
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
	s := &originSet{gen: r.originsGen.Load(), at: r.now(), set: map[string]struct{}{}, grants: map[string]struct{}{}, keep: OriginsMaxAge}
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
		for _, g := range c.GrantTypes {
			if c.AllowsGrant(g) {
				s.grants[g] = struct{}{}
			}
		}
	}
	r.origins.Store(s)
	return s, s.err
}

// browserIDNA turns a host into the ASCII form a browser puts in Origin:
// the WHATWG URL Standard's "domain to ASCII" with beStrict false, that is
// UTS #46 ToASCII, nontransitional (ß stays ß, xn--fa-hia), with CheckBidi
// and CheckJoiners but without CheckHyphens, UseSTD3ASCIIRules or
// VerifyDnsLength. It is not idna.Lookup, which checks hyphens and the
// STD3 rules and so would give no origin for hosts browsers load
// (r3---sn-….example, under_score.example).
var browserIDNA = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false),
	idna.CheckHyphens(false), idna.StrictDomainName(false), idna.VerifyDNSLength(false))

// fresh reports whether s may still be used.
func (r *Registry) fresh(s *originSet) bool {
	if s == nil || s.gen != r.originsGen.Load() {
		return false
	}
	age := r.now().Sub(s.at)
	return age >= 0 && age < s.keep
}

// originsChanged makes the listing stale: the next AllowsOrigin or
// AnyAllowsGrant lists the clients again.
func (r *Registry) originsChanged() { r.originsGen.Add(1) }

// redirectOrigin is the origin of an http(s) redirect URI as a browser
// serialises it in Origin (RFC 6454 §6.1, WHATWG URL): lower-case scheme,
// the host in ASCII (browserIDNA: https://bücher.example/cb has the origin
// https://xn--bcher-kva.example), brackets around an IPv6 address, no port
// when it is the scheme's default. Other schemes (a native app's
// com.example.app:/cb) have no origin a page could send, nor do a host
// that has no ASCII form (invalid punycode, a bidi violation: a browser
// refuses to load such a URL) and URIs Validate refuses. The redirect URI
// itself is kept, and matched at /auth/authorize, as written.
func redirectOrigin(uri string) (string, bool) {
	if checkRedirect(uri) != "" {
		return "", false
	}
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false
	}
	host := u.Hostname()
	if host == "" {
		return "", false
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	} else if host, err = browserIDNA.ToASCII(host); err != nil || host == "" {
		return "", false
	}
	host = strings.ToLower(host) // an IPv6 address; ToASCII has mapped a name's case already
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
