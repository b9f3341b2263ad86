package oidc

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/seal"
)

// stateTTL bounds how long a user may take at the provider.
const stateTTL = 10 * time.Minute

// maxNextLen bounds next as the sealed cookies hold it: the OIDC state
// cookie and the second step's pending cookie (mfa.Pending) carry it as a
// JSON string, where "&", "<" and ">" take six bytes each (storedLen).
// 2048 bytes, the URL length browsers and servers have long agreed on,
// fit an authorization request with a long state (the app's own data) and
// keep either cookie under browsers' 4 KiB per cookie: base64 of 2048
// bytes of next and the other fields is about 3,200 characters.
const maxNextLen = 2048

// errBadState is returned by open for any cookie that does not decrypt.
var errBadState = errors.New("state cookie invalid")

// loginState is what Start remembers for Callback. It travels sealed in a
// cookie, so gatehouse instances share nothing but StateKey.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n,omitempty"`
	Verifier string `json:"v"`
	Provider string `json:"p"`
	Next     string `json:"x"`
	Expires  int64  `json:"e"` // unix seconds
}

// sealer encrypts and authenticates login states (internal/seal,
// AES-256-GCM; the cookie value is base64url of nonce || ciphertext || tag).
// The cookie name is the associated data, so a value cannot be replayed
// under another provider's or another login's cookie.
type sealer struct{ s *seal.Sealer }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != seal.KeySize {
		return nil, fmt.Errorf("oidc: StateKey must be %d bytes, got %d", seal.KeySize, len(key))
	}
	s, err := seal.New(key, nil)
	if err != nil {
		return nil, fmt.Errorf("oidc: state cipher: %w", err)
	}
	return &sealer{s: s}, nil
}

func (s *sealer) seal(name string, st loginState) (string, error) {
	plain, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("encode login state: %w", err)
	}
	sealed, err := s.s.Seal(plain, []byte(name))
	if err != nil {
		return "", fmt.Errorf("seal login state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

func (s *sealer) open(name, value string) (loginState, error) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return loginState{}, errBadState
	}
	plain, err := s.s.Open(raw, []byte(name))
	if err != nil {
		return loginState{}, errBadState
	}
	var st loginState
	if err := json.Unmarshal(plain, &st); err != nil {
		return loginState{}, errBadState
	}
	return st, nil
}

// The state cookies' names start with stateCookiePrefix, or with
// secureStateCookiePrefix under SecureCookies.
const (
	stateCookiePrefix       = "gatehouse-oidc-"
	secureStateCookiePrefix = "__Host-" + stateCookiePrefix
)

// StateCookiePrefixes are how the names of the state cookies start (with
// and without SecureCookies). The cookies are gatehouse's own, and under
// SecureCookies have Path=/: the gateway strips every cookie named so from
// upstream requests (gateway.Deps.PrivateCookiePrefixes).
func StateCookiePrefixes() []string { return []string{stateCookiePrefix, secureStateCookiePrefix} }

// stateCookieName is one cookie per provider and login, so that logins in
// parallel tabs do not overwrite each other. The name is derived from the
// state, which the callback receives in its query.
func stateCookieName(secure bool, provider, state string) string {
	sum := sha256.Sum256([]byte(provider + "\x00" + state))
	return statePrefix(secure) + hex.EncodeToString(sum[:8])
}

// statePrefix is how the state cookies' names start, with or without
// SecureCookies.
func statePrefix(secure bool) string {
	if secure {
		return secureStateCookiePrefix
	}
	return stateCookiePrefix
}

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// storedLen is the length of next as a JSON string in a sealed cookie.
func storedLen(next string) int {
	b, _ := json.Marshal(next) // a string always encodes
	return len(b) - 2
}

// SafeNext returns next when it is a same-origin absolute path, else "/";
// so is a next of more than 2048 bytes (maxNextLen, as stored).
func SafeNext(next string) string { return SafeNextOn(next, nil) }

// SafeNextOn is SafeNext that also accepts an absolute http(s) URL whose
// host servesHost accepts: with per-host gateway routes (contract section
// 12) a login started on app.example.com must return there, and to no host
// gatehouse does not serve (no open redirect). servesHost gets the URL's
// host[:port]; nil accepts no absolute URL.
func SafeNextOn(next string, servesHost func(host string) bool) string {
	if next == "" || len(next) > maxNextLen || strings.ContainsAny(next, "\\") || storedLen(next) > maxNextLen {
		return "/"
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.User != nil || u.Opaque != "" {
		return "/"
	}
	if next[0] == '/' && !strings.HasPrefix(next, "//") && u.Scheme == "" && u.Host == "" {
		return next
	}
	if servesHost != nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" &&
		strings.HasPrefix(next, u.Scheme+"://") && servesHost(u.Host) {
		return next
	}
	return "/"
}
