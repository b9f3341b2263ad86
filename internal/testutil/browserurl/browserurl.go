// Package browserurl models, for tests and fuzz oracles, where a browser
// goes for a URL that gatehouse hands it (a Location header, a link, a form
// action): the parts of the WHATWG URL standard's basic URL parser that
// decide the origin. It is written from the standard, not from net/url, so
// that a redirect check built on net/url can be tested against it: the two
// disagree on "\", tabs and newlines inside a URL, leading control
// characters and spaces, "http:evil.example" and percent-encoded hosts.
//
// Not modelled: the IPv4 shorthand of hosts that end in a number
// ("0x7f.1" is 127.0.0.1 to a browser; Resolve reports it as a name), and
// the file: scheme's hosts (reported as no network host). The package
// imports only the standard library and golang.org/x/net/idna, so the tests
// of every package may use it.
package browserurl

import (
	"strings"

	"golang.org/x/net/idna"
)

// Target is the origin a browser navigates to.
type Target struct {
	// Scheme is the URL's scheme in lower case.
	Scheme string
	// Host is the host the browser connects to: percent-decoded, mapped to
	// ASCII as UTS #46 says (lower case, full-width forms folded), without
	// brackets around an IPv6 address. "" means no network host: a scheme
	// that is not special (javascript:, data:, a native app's scheme) or
	// file:.
	Host string
	// Port is the port as written, "" when none or the scheme's default.
	Port string
}

// special are the WHATWG special schemes and their default ports.
var special = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21", "file": ""}

// Resolve returns where ref leads from a page whose origin is base (an
// http or https origin). ok is false when a browser's parser fails on ref,
// so that it navigates nowhere.
func Resolve(base Target, ref string) (t Target, ok bool) {
	// Leading and trailing C0 controls and spaces are stripped; tabs and
	// newlines anywhere are removed.
	ref = strings.TrimFunc(ref, func(r rune) bool { return r <= ' ' })
	ref = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, ref)
	scheme, rest, hasScheme := cutScheme(ref)
	if !hasScheme {
		// Relative to a special base: "//" or "\\" (any mix) starts an
		// authority, after which every further slash is skipped; anything
		// else stays on base's origin.
		if len(ref) >= 2 && slash(ref[0]) && slash(ref[1]) {
			return authority(base.Scheme, strings.TrimLeft(ref, `/\`))
		}
		return base, true
	}
	_, isSpecial := special[scheme]
	switch {
	case !isSpecial:
		return Target{Scheme: scheme}, true
	case scheme == "file":
		return Target{Scheme: scheme}, true
	case scheme == base.Scheme:
		// "https:x" on an https page is relative; only two slashes of
		// either kind start an authority.
		if len(rest) >= 2 && slash(rest[0]) && slash(rest[1]) {
			return authority(scheme, strings.TrimLeft(rest, `/\`))
		}
		return base, true
	}
	// Another special scheme: every leading slash or backslash is skipped,
	// none needed ("http:evil.example" names evil.example).
	return authority(scheme, strings.TrimLeft(rest, `/\`))
}

// cutScheme splits "scheme:rest" where scheme is ALPHA *(ALPHA / DIGIT /
// "+" / "-" / "."); hasScheme is false when ref has no such prefix.
func cutScheme(ref string) (scheme, rest string, hasScheme bool) {
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return strings.ToLower(ref[:i]), ref[i+1:], true
		default:
			return "", ref, false
		}
	}
	return "", ref, false
}

func slash(c byte) bool { return c == '/' || c == '\\' }

// authority parses the authority at the start of s (slashes already
// skipped) for a special scheme.
func authority(scheme, s string) (Target, bool) {
	end := strings.IndexAny(s, `/\?#`)
	if end < 0 {
		end = len(s)
	}
	auth := s[:end]
	if i := strings.LastIndexByte(auth, '@'); i >= 0 {
		auth = auth[i+1:] // credentials end at the last "@"
	}
	host, port := auth, ""
	inBrackets := false
	for i := 0; i < len(auth); i++ {
		switch auth[i] {
		case '[':
			inBrackets = true
		case ']':
			inBrackets = false
		case ':':
			if !inBrackets {
				host, port = auth[:i], auth[i+1:]
				i = len(auth)
			}
		}
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return Target{}, false
		}
	}
	if port != "" {
		if port = strings.TrimLeft(port, "0"); port == "" {
			port = "0"
		}
	}
	if port == special[scheme] {
		port = ""
	}
	if host == "" {
		return Target{}, false
	}
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") || len(host) < 3 {
			return Target{}, false
		}
		return Target{Scheme: scheme, Host: strings.ToLower(host[1 : len(host)-1]), Port: port}, true
	}
	decoded, ok := percentDecode(host)
	if !ok || strings.ContainsAny(decoded, forbidden) {
		return Target{}, false
	}
	ascii, err := profile.ToASCII(decoded)
	if err != nil || ascii == "" {
		return Target{}, false
	}
	return Target{Scheme: scheme, Host: strings.ToLower(ascii), Port: port}, true
}

// forbidden are the URL standard's forbidden domain code points: a host
// holding one fails to parse.
const forbidden = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f" +
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f" +
	" #%/:<>?@[\\]^|\x7f"

// profile is UTS #46 processing as the URL standard's domain to ASCII runs
// it (non-transitional, no STD3 rules, no DNS length check).
var profile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false),
	idna.VerifyDNSLength(false), idna.CheckHyphens(false))

// percentDecode decodes %XX escapes; a "%" that starts none stays (WHATWG
// leaves it, and the host parser then refuses it as a forbidden code point).
func percentDecode(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && hex(s[i+1]) >= 0 && hex(s[i+2]) >= 0 {
			b.WriteByte(byte(hex(s[i+1])<<4 | hex(s[i+2])))
			i += 2
			continue
		}
		if s[i] == '%' {
			return "", false
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

func hex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
