package gateway

import (
	"context"
	"net"
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

// peerAddr is the direct peer of r. A request whose context carries the
// parsed address of its connection (ConnContext) with the same RemoteAddr
// uses it; any other request (a handler's copy with a rewritten RemoteAddr,
// as forward-auth makes, or a server without ConnContext) is parsed here.
func peerAddr(r *http.Request) (netip.Addr, bool) {
	if p, ok := r.Context().Value(peerKey{}).(*peer); ok && p.raw == r.RemoteAddr {
		return p.addr, p.ok
	}
	return parsePeer(r.RemoteAddr)
}

func parsePeer(remoteAddr string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// peer is a connection's remote address, parsed once for all the requests
// the connection carries.
type peer struct {
	raw  string // as http.Server puts it in Request.RemoteAddr
	addr netip.Addr
	ok   bool
}

type peerKey struct{}

// ConnContext is an http.Server ConnContext: it parses the connection's
// remote address once, where every request on a keep-alive connection
// parsed it two or three times (client IP for the log, trusted peer for the
// proxy and forward-auth; issue 15).
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return WithPeer(ctx, c.RemoteAddr().String())
}

// WithPeer returns ctx carrying remoteAddr parsed, for requests whose
// RemoteAddr is remoteAddr (ConnContext; benchmarks that call a handler
// directly).
func WithPeer(ctx context.Context, remoteAddr string) context.Context {
	p := &peer{raw: remoteAddr}
	p.addr, p.ok = parsePeer(remoteAddr)
	return context.WithValue(ctx, peerKey{}, p)
}

// ClientIP returns the address of the client that made r: the direct peer,
// or, when the peer is in trusted, the right-most X-Forwarded-For entry that
// is not itself a trusted proxy. Entries left of the first untrusted hop are
// ignored because the client can write anything there. An entry is an
// address, or an address with a port ("203.0.113.7:4711",
// "[2001:db8::1]:4711", as some load balancers send); any other entry stops
// the walk at the last trusted hop. The zero Addr means RemoteAddr could not
// be parsed.
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
			hop, ok := parseHop(strings.TrimSpace(list[j]))
			if !ok {
				return addr // garbage: stop at the last address we could vouch for
			}
			addr = hop
			if !t.contains(addr) {
				return addr
			}
		}
	}
	return addr
}

// parseHop parses an X-Forwarded-For entry: an address, or an address and
// port (an IPv6 one in brackets), unmapped.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	return parsePeer(s)
}
