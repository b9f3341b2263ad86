package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrBadPath is returned (wrapped) for a request path the gateway refuses to
// route: encoded "/" or "\", a raw "\", encoded or ";"-decorated dot
// segments, NUL and other control characters, or an invalid escape. Such
// spellings exist only to make a matcher and an upstream disagree about the
// path, so they are refused (400) rather than repaired. The method CONNECT,
// which names no path at all, is refused with it too (noTunnel).
var ErrBadPath = errors.New("refused request path")

// errConnect is ErrBadPath for the method CONNECT (see noTunnel).
var errConnect = fmt.Errorf("%w: CONNECT names a host and port, not a path", ErrBadPath)

// noTunnel refuses the method CONNECT with ErrBadPath, the one rule of the
// gateway, forward-auth and Envoy's ext_authz (Check). A CONNECT asks for a
// tunnel to a host and port, not for a path, so no route can judge it:
// the gateway would match it as "/", Caddy describes "CONNECT host:port" to
// forward-auth as the URI "/", and Envoy passes an HTTP/2 CONNECT's :path
// (which it may carry) as if the tunnel were a request for that path. The
// same holds for an HTTP/2 or HTTP/3 extended CONNECT (RFC 8441, RFC 9220:
// a WebSocket with a :path): it is refused, not judged as its path
// (docs/forward-auth.md says what that means for WebSockets).
func noTunnel(method string) error {
	if method == http.MethodConnect {
		return errConnect
	}
	return nil
}

// cleanPath checks an escaped request path (URL.EscapedPath, or the path
// part of X-Forwarded-Uri) and returns it decoded and normalised: repeated
// slashes collapsed, "." and ".." resolved (never above the root, RFC 3986
// section 5.2.4), unreserved characters such as %61 decoded. A path that
// ended in "/", "." or ".." keeps a trailing slash, so "/admin/." is
// "/admin/". Matching is case-sensitive and works on this decoded form; the
// upstream receives exactly this path, re-escaped by escapePath.
//
// A ";" is an ordinary character except in a dot segment: "/admin;x" is the
// literal segment "admin;x", while "/..;/" is refused.
func cleanPath(escaped string) (string, error) {
	if escaped == "" {
		return "/", nil
	}
	if escaped[0] != '/' {
		return "", fmt.Errorf("%w: not an absolute path", ErrBadPath)
	}
	if fastClean(escaped) {
		return escaped, nil
	}
	segs := make([]string, 0, 8)
	trailing := false
	for rest := escaped[1:]; ; {
		raw, tail, more := strings.Cut(rest, "/")
		seg, err := decodeSegment(raw)
		if err != nil {
			return "", err
		}
		dot, err := dotSegment(raw, seg)
		if err != nil {
			return "", err
		}
		switch {
		case dot == "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		case dot == "." || seg == "":
		default:
			segs = append(segs, seg)
		}
		if !more {
			trailing = seg == "" || dot != ""
			break
		}
		rest = tail
	}
	p := "/" + strings.Join(segs, "/")
	if trailing && len(segs) > 0 {
		p += "/"
	}
	return p, nil
}

// fastClean reports whether p is already clean and needs no decoding, so
// that the common case allocates nothing.
func fastClean(p string) bool {
	prev := byte(0)
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/' && prev == '/':
			return false
		case c == '.' && prev == '/':
			return false // possibly a dot segment; take the slow path
		case c == '%' || c == '\\' || c <= ' ' || c >= 0x7f || c == '#' || c == '?':
			return false
		}
		prev = c
	}
	return true
}

// decodeSegment percent-decodes one raw path segment and refuses bytes that
// could split or hide a segment from the matcher.
func decodeSegment(raw string) (string, error) {
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c == 0x7f || c == '\\' || c == '#' || c == '?' {
			return "", fmt.Errorf("%w: forbidden character %q", ErrBadPath, c)
		}
	}
	if !strings.Contains(raw, "%") {
		return raw, nil
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "", fmt.Errorf("%w: invalid percent escape", ErrBadPath)
			}
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
			if c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
				return "", fmt.Errorf("%w: forbidden encoded character %#x", ErrBadPath, c)
			}
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// dotSegment returns "." or ".." when the decoded segment seg is a dot
// segment, and refuses dot segments that are spelled with escapes or carry
// ";" parameters: servers disagree on how to read those ("/..;/" is ".." to
// Tomcat), which is exactly how matchers get bypassed.
func dotSegment(raw, seg string) (string, error) {
	base, _, params := strings.Cut(seg, ";")
	if base != "." && base != ".." {
		return "", nil
	}
	if params || strings.Contains(raw, "%") {
		return "", fmt.Errorf("%w: encoded or parameterised dot segment", ErrBadPath)
	}
	return base, nil
}

// escapePath returns the canonical escaped form of a clean, decoded path:
// unreserved characters, sub-delimiters other than ";", ":" and "@" stay
// literal, everything else is percent-encoded. ";" is encoded (%3B) so that
// an upstream which reads ";" as a parameter separator sees the same literal
// segment as the matcher did, not a shorter path.
func escapePath(p string) string {
	n := 0
	for i := 0; i < len(p); i++ {
		if mustEscape(p[i]) {
			n++
		}
	}
	if n == 0 {
		return p
	}
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(p)+2*n)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if mustEscape(c) {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

func mustEscape(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return false
	}
	return !strings.ContainsRune("-._~!$&'()*+,=:@/", rune(c))
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
