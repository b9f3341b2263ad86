package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Limits of the strict JSON check. Tokens gatehouse issues have a dozen
// claims and nest two levels deep; the limits only bound the work a
// hostile (but validly signed) token can cause.
const (
	maxJSONMembers = 64
	maxJSONDepth   = 16
)

// numericDateClaims must be JSON numbers (RFC 7519 section 2 NumericDate).
// encoding/json would also accept a string holding digits ("exp":"99…"),
// which another verifier in front of the same service may read differently.
var numericDateClaims = []string{"exp", "iat", "nbf", "auth_time"}

// claimNames are the payload members Claims decodes. encoding/json matches
// struct fields case-insensitively ("EXP" fills ExpiresAt), so a member
// that folds to one of these without being spelled exactly is refused: a
// case-sensitive parser would ignore it. TestClaimNamesCoverClaims keeps
// the list in step with Claims.
var claimNames = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "username", "roles", "scope", "sid", "amr"}

// checkStrict refuses what encoding/json lets through but another JSON
// parser may read differently (issue 11 finding 5): duplicate member names
// in the header or payload, at any depth (RFC 8259 section 4 leaves their
// meaning undefined; RFC 7519 section 4 lets a parser refuse them), and
// numeric-date claims that are not JSON numbers. It runs on a token whose
// segments jwt.Parser has already decoded, so only a signature-checked
// token costs the second decode; the cached verify path never gets here.
func checkStrict(raw string) error {
	head, rest, ok := strings.Cut(raw, ".")
	payload, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return fmt.Errorf("%w: segments", ErrMalformedJSON)
	}
	// One pooled buffer serves both segments (headers are ~100 bytes,
	// payloads ~400), so the check adds no allocation to a verify.
	bp := strictBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 8<<10 {
			strictBufs.Put(bp)
		}
	}()
	b, err := base64.RawURLEncoding.AppendDecode((*bp)[:0], []byte(head))
	if err != nil {
		return fmt.Errorf("%w: header: %w", ErrMalformedJSON, err)
	}
	s := jsonScan{b: b}
	if err := s.document(false); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	b, err = base64.RawURLEncoding.AppendDecode(b[:0], []byte(payload))
	if err != nil {
		return fmt.Errorf("%w: payload: %w", ErrMalformedJSON, err)
	}
	*bp = b
	s = jsonScan{b: b}
	if err := s.document(true); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	return nil
}

var strictBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// jsonScan walks one JSON text without building values. It does not
// replace a validating parser (encoding/json has accepted the text before
// it runs) but it never panics and refuses anything it does not expect.
type jsonScan struct {
	b     []byte
	i     int
	depth int
}

// document scans a text that must be exactly one object; claims selects
// the payload rules (case-folded member names, numeric dates).
func (s *jsonScan) document(claims bool) error {
	// RFC 8259 section 8.1: JSON exchanged between systems is UTF-8.
	// encoding/json turns invalid bytes into U+FFFD, so two different raw
	// names could decode to one; refusing them keeps "same name" exact.
	if !utf8.Valid(s.b) {
		return s.fail("invalid UTF-8")
	}
	s.space()
	if err := s.object(claims); err != nil {
		return err
	}
	s.space()
	if s.i != len(s.b) {
		return s.fail("trailing data")
	}
	return nil
}

func (s *jsonScan) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformedJSON, what, s.i)
}

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// object scans {…} at s.i; top marks the payload's top level.
func (s *jsonScan) object(top bool) error {
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return s.fail("object expected")
	}
	if s.depth++; s.depth > maxJSONDepth {
		return s.fail("nested too deep")
	}
	s.i++
	var small [16]member
	names := small[:0]
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		s.space()
		name, err := s.name()
		if err != nil {
			return err
		}
		if len(names) == maxJSONMembers {
			return s.fail("too many members")
		}
		m := member{name, isASCII(name)}
		for _, n := range names {
			if n.same(m, top) {
				return fmt.Errorf("%w: %q", ErrDuplicateMember, string(name))
			}
		}
		names = append(names, m)
		if top {
			if err := checkClaimName(m); err != nil {
				return err
			}
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.fail("colon expected")
		}
		s.i++
		s.space()
		if top && isNumericDate(name) {
			if s.i >= len(s.b) || (s.b[s.i] != '-' && (s.b[s.i] < '0' || s.b[s.i] > '9')) {
				return fmt.Errorf("%w: %s is not a JSON number", ErrNumericDate, string(name))
			}
		}
		if err := s.value(); err != nil {
			return err
		}
		s.space()
		if s.i >= len(s.b) {
			return s.fail("unterminated object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return nil
		default:
			return s.fail("comma or } expected")
		}
	}
}

// member is a decoded member name; ascii lets the common case skip
// Unicode case folding (which can change a name's length: K is "\u212a").
type member struct {
	name  []byte
	ascii bool
}

// same compares two names exactly, or as encoding/json matches struct
// fields (bytes.EqualFold) when fold is set.
func (a member) same(b member, fold bool) bool {
	if !fold {
		return bytes.Equal(a.name, b.name)
	}
	if a.ascii && b.ascii && len(a.name) != len(b.name) {
		return false
	}
	return bytes.EqualFold(a.name, b.name)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func checkClaimName(m member) error {
	for _, c := range claimNames {
		if string(m.name) == c {
			return nil
		}
	}
	for _, c := range claimNames {
		if m.same(member{[]byte(c), true}, true) {
			return fmt.Errorf("%w: member %q folds to claim %q", ErrMalformedJSON, string(m.name), c)
		}
	}
	return nil
}

func isNumericDate(name []byte) bool {
	for _, c := range numericDateClaims {
		if string(name) == c {
			return true
		}
	}
	return false
}

// name scans a member name and returns it decoded: "\u0065xp" is "exp",
// so escapes cannot hide a duplicate.
func (s *jsonScan) name() ([]byte, error) {
	start := s.i
	escaped, err := s.str()
	if err != nil {
		return nil, err
	}
	raw := s.b[start:s.i]
	if !escaped {
		return raw[1 : len(raw)-1], nil
	}
	var n string
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("%w: member name: %w", ErrMalformedJSON, err)
	}
	return []byte(n), nil
}

// str scans a string at s.i and reports whether it holds escapes.
func (s *jsonScan) str() (escaped bool, err error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false, s.fail("string expected")
	}
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			escaped = true
			s.i++ // the escaped byte; \uXXXX's hex digits need no care
		case '"':
			s.i++
			return escaped, nil
		}
	}
	return false, s.fail("unterminated string")
}

func (s *jsonScan) value() error {
	if s.i >= len(s.b) {
		return s.fail("value expected")
	}
	switch s.b[s.i] {
	case '{':
		return s.object(false)
	case '[':
		return s.array()
	case '"':
		_, err := s.str()
		return err
	}
	// A number or literal: encoding/json validated it, skip to its end.
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			if s.i == start {
				return s.fail("value expected")
			}
			return nil
		}
		s.i++
	}
	return nil
}

func (s *jsonScan) array() error {
	if s.depth++; s.depth > maxJSONDepth {
		return s.fail("nested too deep")
	}
	s.i++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return nil
	}
	for {
		s.space()
		if err := s.value(); err != nil {
			return err
		}
		s.space()
		if s.i >= len(s.b) {
			return s.fail("unterminated array")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return nil
		default:
			return s.fail("comma or ] expected")
		}
	}
}
