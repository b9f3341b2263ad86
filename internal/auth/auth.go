package auth

import (
	"fmt"
	"strings"
	"time"
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
}

// Authentication methods, as reported in X-Auth-Method.
const (
	MethodSession = "session"
	MethodToken   = "token"
)

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
	// (session amr, or the token's amr claim); "mfa" means a second factor.
	AMR       []string
	Scope     string
	ExpiresAt time.Time
}

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

// CheckRoles validates role names: non-empty, without commas or whitespace,
// because roles travel comma-separated in X-Auth-Roles (contract section 5)
// and a comma inside one would split it into two. It is the one role rule:
// the user service applies it to every account, configuration to the
// roles it hands out (oidc default_roles). Error: ErrInvalidInput.
func CheckRoles(roles []string) error {
	for _, r := range roles {
		if r == "" || strings.ContainsAny(r, ", \t\r\n") {
			return fmt.Errorf("%w: role %q must be non-empty and contain no commas or spaces", ErrInvalidInput, r)
		}
	}
	return nil
}
