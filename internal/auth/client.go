package auth

import "net/netip"

// ClientKey is a client address as every per-client limit counts it (the
// login throttle, passwords.max_per_client, rate_limit per: ip): an IPv4
// address as is, an IPv6 address as its /64, anything unparsable verbatim.
// A /64 is the smallest block a provider hands one subscriber, so counted
// per address, one IPv6 client would have 2^64 fresh counts to rotate
// through.
func ClientKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	return ClientAddrKey(addr)
}

// ClientAddrKey is ClientKey for a parsed address (the gateway's); the zero
// Addr gives its String, "invalid IP".
func ClientAddrKey(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	if !addr.Is6() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}
