package gateway

import (
	"net/http"
	"net/netip"
	"strings"
)

// trustedProxies is the trusted_proxies list: peers whose X-Forwarded-* and
// X-Original-* headers are believed.
type trustedProxies []netip.Prefix

// contains reports whether addr is inside one of the prefixes.
func (t trustedProxies) contains(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range t {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// peerTrusted reports whether the direct peer of r (RemoteAddr) is a
// trusted proxy. An unparsable RemoteAddr is not trusted.
func (t trustedProxies) peerTrusted(r *http.Request) bool {
	addr, ok := peerAddr(r)
	return ok && t.contains(addr)
}

func peerAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// ClientIP returns the address of the client that made r: the direct peer,
// or, when the peer is in trusted, the right-most X-Forwarded-For entry that
// is not itself a trusted proxy. Entries left of the first untrusted hop are
// ignored because the client can write anything there. The zero Addr means
// RemoteAddr could not be parsed.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	t := trustedProxies(trusted)
	addr, ok := peerAddr(r)
	if !ok || !t.contains(addr) {
		return addr
	}
	hops := r.Header["X-Forwarded-For"] // canonical name: Values would canonicalize it again
	for i := len(hops) - 1; i >= 0; i-- {
		list := strings.Split(hops[i], ",")
		for j := len(list) - 1; j >= 0; j-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(list[j]))
			if err != nil {
				return addr // garbage: stop at the last address we could vouch for
			}
			addr = hop.Unmap()
			if !t.contains(addr) {
				return addr
			}
		}
	}
	return addr
}
