package credential

import (
	"errors"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// Accept says which credentials a caller takes.
type Accept uint8

// The credential sources. Any prefers the token when an Authorization
// header is present (the contract's auth: any).
const (
	Bearer Accept = 1 << iota // Authorization: Bearer <token>
	Cookie                    // the session cookie
	Any    = Bearer | Cookie
)

// Kind is what a request presented.
type Kind uint8

// The credential kinds.
const (
	None    Kind = iota // nothing the caller accepts
	Token               // an Authorization header (Value is the token when Err is nil)
	Session             // the session cookie (Value is the cookie value when Err is nil)
)

// Errors say why a presented credential is unusable. Callers branch on them
// with errors.Is to choose the RFC 6750 challenge.
var (
	// ErrDuplicate: the Authorization header or the session cookie occurs
	// more than once. Never resolved by picking one.
	ErrDuplicate = errors.New("credential: sent more than once")
	// ErrScheme: an Authorization header with another scheme than Bearer
	// (Basic, Digest, …) or no scheme at all.
	ErrScheme = errors.New("credential: authorization scheme is not Bearer")
	// ErrMalformed: a Bearer header whose token is empty or not one
	// RFC 6750 b64token.
	ErrMalformed = errors.New("credential: malformed bearer token")
)

// Credential is what a request presented. Kind None means nothing was
// presented (Value "" and Err nil); otherwise Err, when set, says why the
// presented credential cannot be used and Value is "".
type Credential struct {
	Kind  Kind
	Value string
	Err   error
}

// FromRequest returns the credential of r that accept allows. With Any an
// Authorization header, even an unusable one, wins over the cookie: a client
// that sent a token meant the token, and falling back to the cookie would
// let a broken token ride on a browser's session. cookieName "" disables the
// cookie.
func FromRequest(r *http.Request, cookieName string, accept Accept) Credential {
	return FromHeader(r.Header, cookieName, accept)
}

// FromHeader is FromRequest for a header map.
func FromHeader(h http.Header, cookieName string, accept Accept) Credential {
	if accept&Bearer != 0 {
		if values, sent := h["Authorization"]; sent {
			tok, err := bearer(values)
			return Credential{Kind: Token, Value: tok, Err: err}
		}
	}
	if accept&Cookie != 0 && cookieName != "" {
		v, n := SessionCookie(h, cookieName)
		switch {
		case n == 1:
			return Credential{Kind: Session, Value: v}
		case n > 1:
			return Credential{Kind: Session, Err: ErrDuplicate}
		}
	}
	return Credential{}
}

// bearer returns the token of a single "Bearer <token>" header value.
func bearer(values []string) (string, error) {
	if len(values) != 1 {
		return "", ErrDuplicate
	}
	v := strings.Trim(values[0], " \t")
	scheme, tok, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrScheme
	}
	tok = strings.TrimLeft(tok, " ")
	if !b64token(tok) {
		return "", ErrMalformed
	}
	return tok, nil
}

// b64token reports whether s is an RFC 6750 §2.1 b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func b64token(s string) bool {
	t := strings.TrimRight(s, "=")
	if t == "" {
		return false
	}
	// Four bytes and one branch per step: a JWT is hundreds of bytes and
	// this runs on every bearer request.
	i := 0
	for ; i+3 < len(t); i += 4 {
		if b64tokenChars[t[i]]&b64tokenChars[t[i+1]]&b64tokenChars[t[i+2]]&b64tokenChars[t[i+3]] == 0 {
			return false
		}
	}
	for ; i < len(t); i++ {
		if b64tokenChars[t[i]] == 0 {
			return false
		}
	}
	return true
}

// b64tokenChars is 1 for the bytes b64token allows before the '=' padding:
// one table load per byte instead of a chain of range tests (the token route
// checks every byte of every bearer token).
var b64tokenChars = [256]uint8{
	'-': 1, '.': 1, '_': 1, '~': 1, '+': 1, '/': 1,
	'0': 1, '1': 1, '2': 1, '3': 1, '4': 1, '5': 1, '6': 1, '7': 1, '8': 1, '9': 1,
	'A': 1, 'B': 1, 'C': 1, 'D': 1, 'E': 1, 'F': 1, 'G': 1, 'H': 1, 'I': 1, 'J': 1,
	'K': 1, 'L': 1, 'M': 1, 'N': 1, 'O': 1, 'P': 1, 'Q': 1, 'R': 1, 'S': 1, 'T': 1,
	'U': 1, 'V': 1, 'W': 1, 'X': 1, 'Y': 1, 'Z': 1,
	'a': 1, 'b': 1, 'c': 1, 'd': 1, 'e': 1, 'f': 1, 'g': 1, 'h': 1, 'i': 1, 'j': 1,
	'k': 1, 'l': 1, 'm': 1, 'n': 1, 'o': 1, 'p': 1, 'q': 1, 'r': 1, 's': 1, 't': 1,
	'u': 1, 'v': 1, 'w': 1, 'x': 1, 'y': 1, 'z': 1,
}

// SessionCookie returns the value of the cookie called name and how many
// times that name occurs across all Cookie headers (RFC 6265 §5.4 pairs,
// names compared exactly after trimming white space, one pair of double
// quotes removed from the value, exactly as net/http reads them). The value is meaningful only when the count is
// 1. It does not allocate.
func SessionCookie(h http.Header, name string) (value string, count int) {
	for _, line := range h["Cookie"] {
		for line != "" {
			var v string
			var ok bool
			if v, line, ok = nextCookie(line, name); ok {
				value = v
				count++
			}
		}
	}
	return value, count
}

// SessionCookies returns every value of the cookie called name, in the
// order sent (read as SessionCookie reads them). A request with more than
// one authenticates as none, but a logout or login must still end each
// session they name: knowing a session's cookie is owning it.
func SessionCookies(h http.Header, name string) []string {
	var values []string
	for _, line := range h["Cookie"] {
		for line != "" {
			var v string
			var ok bool
			if v, line, ok = nextCookie(line, name); ok && !slices.Contains(values, v) {
				values = append(values, v)
			}
		}
	}
	return values
}

// nextCookie reads the first pair of a Cookie header line: the pair's
// value when its name is name (ok), and the rest of the line.
func nextCookie(line, name string) (value, rest string, ok bool) {
	pair, rest, _ := strings.Cut(line, ";")
	n, v, _ := strings.Cut(textproto.TrimString(pair), "=")
	if textproto.TrimString(n) != name {
		return "", rest, false
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return v, rest, true
}
