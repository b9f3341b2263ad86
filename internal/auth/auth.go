package auth

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// User is a local account. PasswordHash is a PHC argon2id string, or "" for an
// account that can only log in through an external identity provider.
type User struct {
	ID           string    `json:"id"`
	Username     string    `json:"username"`
	Roles        []string  `json:"roles"`
	Disabled     bool      `json:"disabled"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Revocations counts the times every credential of the user was ended
	// (user.Service.RevokeAll: disable, delete, password change, logout
	// everywhere). A login compares it before and after it writes its
	// session or refresh family (user.Service.ConfirmLogin).
	Revocations int64 `json:"-"`
}

// Lapsed is the one rule for a credential written for u, the account as
// read before the write, once the account is read again after it as now:
// "disabled" when it was disabled since, "revoked" when a revocation was
// counted since (Revocations: a sign-out everywhere, a password change, a
// disable undone), "" when the credential stands. A deleted account is the
// second read's ErrNotFound.
func (u User) Lapsed(now User) string {
	switch {
	case now.Disabled:
		return "disabled"
	case now.Revocations != u.Revocations:
		return "revoked"
	}
	return ""
}

// Authentication methods, as reported in X-Auth-Method.
const (
	MethodSession = "session"
	MethodToken   = "token"
)

// MaxCookieSize bounds every cookie gatehouse writes: its whole Set-Cookie
// value (name, value and attributes) stays within the 4096 bytes browsers
// keep of a cookie (RFC 6265 section 6.1). A larger cookie is dropped
// silently: the browser comes back without it.
const MaxCookieSize = 4096

// Principal is the verified identity of a request, whatever credential
// carried it. The gateway forwards it to upstreams as X-Auth-* headers.
// A Principal from an authenticator's cache shares its Roles and AMR with
// every other hit: read them, never write their elements (an append copies).
type Principal struct {
	Subject  string   // user ID
	Username string   // display name at the time the credential was issued
	Roles    []string // roles at the time the credential was issued
	Method   string   // MethodSession or MethodToken
	// SessionID is the public session ID (MethodSession) or the token's sid
	// (refresh family) claim (MethodToken).
	SessionID string
	// TokenID is the access token's jti; empty for sessions.
	TokenID string
	// AMR lists the RFC 8176 authentication methods behind the credential
	// (session amr, or the token's amr claim); see HasSecondFactor.
	AMR []string
	// Scope is the access token's scope claim: the granted scopes,
	// space-separated (RFC 9068 §2.2.3); empty for sessions. See HasScopes.
	Scope string
	// ClientID is the access token's client_id claim: the application the
	// token was issued to. Empty for sessions.
	ClientID  string
	ExpiresAt time.Time
}

// RFC 8176 authentication method references that say how many factors a
// login had (package mfa sets them; it names these same values).
const (
	AMRMFA      = "mfa"  // a second factor after the first
	AMRHardware = "hwk"  // proof of possession of a hardware-secured key
	AMRSoftware = "swk"  // proof of possession of a software-secured key
	AMRUser     = "user" // user presence and verification (PIN, biometric)
)

// MultiFactor reports whether amr shows a second factor: "mfa", or a
// passwordless passkey login (["hwk","user"] or ["swk","user"]), where the
// authenticator proved possession of the key and verified the user (PIN or
// biometric): two factors in one gesture (NIST SP 800-63B multi-factor
// cryptographic authenticator). It is the one rule behind mfa: true routes,
// admin.require_mfa and changing factors.
func MultiFactor(amr []string) bool {
	var key, user bool
	for _, a := range amr {
		switch a {
		case AMRMFA:
			return true
		case AMRHardware, AMRSoftware:
			key = true
		case AMRUser:
			user = true
		}
	}
	return key && user
}

// HasSecondFactor reports whether p's credential carries a second factor
// (MultiFactor of its amr).
func (p Principal) HasSecondFactor() bool { return MultiFactor(p.AMR) }

// HasAnyRole reports whether p holds at least one of roles. An empty roles
// list means "any authenticated user" and always matches.
func (p Principal) HasAnyRole(roles []string) bool {
	if len(roles) == 0 {
		return true
	}
	for _, want := range roles {
		for _, have := range p.Roles {
			if want == have {
				return true
			}
		}
	}
	return false
}

// HasScopes reports whether p's scope claim holds every scope of required,
// each as a whole space-separated scope-token (RFC 6749 §3.3): "orders:rea"
// and "orders:readx" are not "orders:read". An empty required list always
// matches. It is the one rule behind a gateway route's scopes (all-of,
// like Oathkeeper's required_scope) and runs on every request to such a
// route, so it walks the claim in place instead of splitting it.
func (p Principal) HasScopes(required []string) bool {
	for _, want := range required {
		if !hasScope(p.Scope, want) {
			return false
		}
	}
	return true
}

// hasScope reports whether the space-separated claim holds want.
func hasScope(claim, want string) bool {
	for claim != "" {
		i := strings.IndexByte(claim, ' ')
		if i < 0 {
			return claim == want
		}
		if claim[:i] == want {
			return true
		}
		claim = claim[i+1:]
	}
	return false
}

// ValidScope reports whether s is an RFC 6749 §3.3 scope-token: one or
// more of the printable ASCII characters %x21 / %x23-5B / %x5D-7E (no
// space, '"' or '\'). It is the one scope rule: registered clients'
// scopes (client.Validate) and gateway routes' required scopes
// (routes[].scopes) alike.
func ValidScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Invisible are the characters that show as nothing (Unicode's
// default-ignorable code points: format characters such as zero-width
// spaces and joiners, bidirectional overrides and marks, variation
// selectors, fillers). NFKC keeps them, so "admin" with a zero-width space
// is a name of its own that every listing, audit line and upstream's
// X-Auth-* header shows as "admin" — and that software ignoring such
// characters when it compares names takes for "admin". Usernames
// (user.CheckName) and roles (CheckRoles) refuse them.
var Invisible = []*unicode.RangeTable{unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector}

// CheckRoles validates role names: non-empty UTF-8 without commas, white
// space, control or invisible characters, because roles travel
// comma-separated in X-Auth-Roles (contract section 5): a comma inside one
// would split it into two, a control character makes the header invalid
// (net/http refuses to send it) and an invisible one shows as another
// role. The gateway applies it again before sending X-Auth-Roles, so that
// a role stored before this rule fails the request closed. It is the one
// role rule:
// the user service applies it to every account, configuration to the
// roles it hands out (oidc default_roles), client.Validate to a client's
// roles (client_credentials tokens). Error: ErrInvalidInput.
func CheckRoles(roles []string) error {
	for _, r := range roles {
		if !validRole(r) {
			return fmt.Errorf("%w: invalid role %q: roles must be non-empty UTF-8 without commas, spaces, control or invisible characters", ErrInvalidInput, r)
		}
	}
	return nil
}

// validRole applies CheckRoles to one role. The gateway runs it on every
// authenticated request: ASCII, nearly every role, is judged byte by byte
// and only a role with other characters goes through the Unicode tables.
func validRole(r string) bool {
	if r == "" {
		return false
	}
	for i := 0; i < len(r); i++ {
		switch c := r[i]; {
		case c >= utf8.RuneSelf:
			return utf8.ValidString(r) && !strings.ContainsFunc(r, badInRole)
		case c <= ' ' || c == ',' || c == 0x7f:
			return false
		}
	}
	return true
}

func badInRole(c rune) bool {
	return c == ',' || unicode.IsSpace(c) || unicode.IsControl(c) || unicode.IsOneOf(Invisible, c)
}

// StorableText reports whether s can be stored or looked up as text on
// every store: UTF-8 without NUL. PostgreSQL refuses anything else outright
// (an error, where SQLite merely matches nothing), so a name or ID that
// fails it is no stored value's, and its handler answers as for an unknown
// one on every store.
func StorableText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }
