package client

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Client types (RFC 6749 §2.1).
const (
	Public       = "public"
	Confidential = "confidential"
)

// Grant types a client may list.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
)

// Standard scopes. Any other scope a client lists is a custom scope that
// ends up in its access tokens' scope claim.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
)

// MinSecretLen is the shortest secret a config file may give a
// confidential client; generated secrets are 256 bits.
const MinSecretLen = 32

var (
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9._-]{3,64}$`)
	knownGrants = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantPassword}
)

// Client is one registered client. The YAML keys are those of `clients:`
// in the config (contract §8); the untagged fields are the registry's.
type Client struct {
	ID                     string   `yaml:"client_id"`
	Name                   string   `yaml:"name"`
	Type                   string   `yaml:"type"`
	Secret                 string   `yaml:"secret" secret:"true"`
	SecretFile             string   `yaml:"secret_file"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	GrantTypes             []string `yaml:"grant_types"`
	Scopes                 []string `yaml:"scopes"`
	FirstParty             bool     `yaml:"first_party"`
	BackchannelLogoutURI   string   `yaml:"backchannel_logout_uri"`
	Audience               []string `yaml:"audience"`
	Roles                  []string `yaml:"roles"`

	// SecretHash is the base64url SHA-256 of the secret; the secret itself
	// is never stored.
	SecretHash string `yaml:"-"`
	// TokenSID is the sid of a stored confidential client's own access
	// tokens (client_credentials): random, replaced with the secret, and
	// denied when the client is deleted or its secret changes. "" for
	// config and public clients (their tokens have no sid).
	TokenSID string `yaml:"-"`
	// Registration identifies this registration of the client_id: 128
	// random bits, set when a stored client is registered and never
	// changed; "" for config clients. A refresh family records the
	// registration it was granted to, and only that registration may
	// refresh it (token.RefreshRequest): a client registered again under
	// a deleted client's ID, or a config client and a stored one that
	// took the ID one after the other, never share a grant.
	Registration string    `yaml:"-"`
	CreatedAt    time.Time `yaml:"-"`
	UpdatedAt    time.Time `yaml:"-"`
	// FromConfig marks a client declared in the config file: read-only.
	FromConfig bool `yaml:"-"`
}

// DefaultType is the type of a config client that gives none: public, as
// contract §8 shows it, unless it has a secret (secret or secret_file),
// which only a confidential client can have.
func DefaultType(c Client) string {
	if c.Secret != "" || c.SecretFile != "" {
		return Confidential
	}
	return Public
}

// DefaultGrantTypes returns the grants of a config client that lists none
// (contract §8): the authorization code flow with refresh tokens.
func DefaultGrantTypes() []string { return []string{GrantAuthorizationCode, GrantRefreshToken} }

// DefaultScopes returns the scopes of a config client that lists none
// (contract §8): the standard OpenID ones; custom scopes are added by name.
func DefaultScopes() []string {
	return []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess}
}

// IsPublic reports whether c has no secret and must prove itself with PKCE
// alone.
func (c Client) IsPublic() bool { return c.Type == Public }

// The client IDs gatehouse uses itself: a token request that names no
// client (the built-in password grant) and `gatehouse token issue`. No
// registered client may take one: the refresh families, consents and
// tokens of that ID would be its own, and deleting it would end them.
const (
	BuiltinID = "gatehouse"
	CLIID     = "gatehouse-cli"
)

// AllowsGrant reports whether c may use grant type g. The password grant
// is for first-party clients only (contract §4): a client that is not
// first_party, which users must consent to, never gets their password
// (a client stored before Validate refused that combination included).
func (c Client) AllowsGrant(g string) bool {
	return slices.Contains(c.GrantTypes, g) && (g != GrantPassword || c.FirstParty)
}

// AllowsScope reports whether c may be given scope s.
func (c Client) AllowsScope(s string) bool { return slices.Contains(c.Scopes, s) }

// IssuesRefresh says whether a grant of scopes to c comes with a refresh
// token: c must have the refresh_token grant and, for an OpenID request,
// offline_access must be among the scopes (contract §8, OIDC Core §11).
// Every grant that issues refresh tokens to clients asks here.
func (c Client) IssuesRefresh(scopes []string) bool {
	if !c.AllowsGrant(GrantRefreshToken) {
		return false
	}
	return !slices.Contains(scopes, ScopeOpenID) || slices.Contains(scopes, ScopeOfflineAccess)
}

// DisplayName is what the consent page shows.
func (c Client) DisplayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// FieldError is one problem with a client, keyed by its YAML field.
type FieldError struct {
	Field string // client_id, redirect_uris[0], …
	Msg   string
	// Err is the sentinel of a problem that each surface explains in its
	// own terms (ErrPasswordGrantNotFirstParty: the config names the key
	// first_party, the CLI its flag), or nil.
	Err error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns e.Err.
func (e *FieldError) Unwrap() error { return e.Err }

// CheckAudience returns a problem for each audience of c that is one of
// internal: the names of the gateway routes with forward: jwt. The internal
// JWT such a route sends upstream has aud = the route name and gatehouse's
// issuer and keys, so an access token of c with that aud would pass at the
// route's upstream for one the gateway vouched for. The same goes for c's
// client_id, the aud of its ID and logout tokens.
func CheckAudience(c Client, internal []string) []error {
	var errs []error
	if slices.Contains(internal, c.ID) {
		errs = append(errs, &FieldError{Field: "client_id",
			Msg: fmt.Sprintf("%q is the name of a forward: jwt route; the client's ID and logout tokens would pass for that route's internal JWTs", c.ID)})
	}
	for i, a := range c.Audience {
		if slices.Contains(internal, a) {
			errs = append(errs, &FieldError{Field: fmt.Sprintf("audience[%d]", i),
				Msg: fmt.Sprintf("%q is the name of a forward: jwt route; the client's tokens would pass for that route's internal JWTs", a)})
		}
	}
	return errs
}

// Validate returns every problem with c (nil when it is usable). Secrets
// are checked only for config clients, whose secret is given rather than
// generated: it must be at least MinSecretLen characters.
func Validate(c Client) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case !idPattern.MatchString(c.ID):
		bad("client_id", "must match [A-Za-z0-9._-]{3,64}, got %q", c.ID)
	case c.ID == BuiltinID || c.ID == CLIID:
		bad("client_id", "%q is gatehouse's own client ID", c.ID)
	}
	switch c.Type {
	case Public:
		if c.Secret != "" || c.SecretFile != "" || c.SecretHash != "" {
			bad("secret", "a public client has no secret")
		}
		if c.AllowsGrant(GrantClientCredentials) {
			bad("grant_types", "a public client cannot use client_credentials")
		}
	case Confidential:
		if c.FromConfig && len(c.Secret) < MinSecretLen {
			bad("secret", "a confidential client needs a secret (or secret_file) of at least %d characters", MinSecretLen)
		}
	default:
		bad("type", "must be public or confidential, got %q", c.Type)
	}
	if len(c.GrantTypes) == 0 {
		bad("grant_types", "must list at least one grant")
	}
	for i, g := range c.GrantTypes {
		if !slices.Contains(knownGrants, g) {
			bad(fmt.Sprintf("grant_types[%d]", i), "unknown grant %q (use %s)", g, strings.Join(knownGrants, ", "))
		}
	}
	if slices.Contains(c.GrantTypes, GrantPassword) && !c.FirstParty {
		errs = append(errs, &FieldError{Field: "grant_types", Msg: ErrPasswordGrantNotFirstParty.Error(), Err: ErrPasswordGrantNotFirstParty})
	}
	if c.AllowsGrant(GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		bad("redirect_uris", "authorization_code needs at least one redirect URI")
	}
	for i, s := range c.Scopes {
		if !auth.ValidScope(s) { // RFC 6749 §3.3 scope-token
			bad(fmt.Sprintf("scopes[%d]", i), "%q is not a valid scope token", s)
		}
	}
	for i, u := range c.RedirectURIs {
		if msg := checkRedirect(u); msg != "" {
			bad(fmt.Sprintf("redirect_uris[%d]", i), "%s, got %q", msg, u)
		}
	}
	for i, u := range c.PostLogoutRedirectURIs {
		if msg := checkRedirect(u); msg != "" {
			bad(fmt.Sprintf("post_logout_redirect_uris[%d]", i), "%s, got %q", msg, u)
		}
	}
	// The roles of client_credentials tokens reach upstreams in
	// X-Auth-Roles as users' roles do: the same one role rule.
	for i, r := range c.Roles {
		if auth.CheckRoles([]string{r}) != nil {
			bad(fmt.Sprintf("roles[%d]", i), "must be non-empty UTF-8 without commas, spaces, control or invisible characters, got %q", r)
		}
	}
	if c.BackchannelLogoutURI != "" {
		if u, err := url.Parse(c.BackchannelLogoutURI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
			bad("backchannel_logout_uri", "must be an absolute http(s) URL without fragment, got %q", c.BackchannelLogoutURI)
		}
	}
	return errs
}

// checkRedirect says what is wrong with a redirect URI: it must be
// absolute, without fragment (RFC 6749 §3.1.2) or userinfo. Custom schemes
// (com.example.app:/cb, RFC 8252 §7.1) are allowed for native apps, but
// not the schemes a browser runs or reads locally instead of handing to an
// app (unsafeSchemes).
func checkRedirect(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme == "":
		return "must be an absolute URI"
	case slices.Contains(unsafeSchemes, u.Scheme): // url.Parse lower-cases the scheme
		return "must not use the " + u.Scheme + ": scheme"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "must not contain a fragment"
	case u.User != nil:
		return "must not contain userinfo"
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		return "must name a host"
	}
	return ""
}

// unsafeSchemes are the schemes a redirect URI may not have: a browser
// sent to one runs script in the page's origin (javascript:, vbscript:),
// shows content the URI itself carries (data:, blob:) or opens a local
// file (file:), instead of handing the code to an app.
var unsafeSchemes = []string{"javascript", "vbscript", "data", "blob", "file"}

// Errors of this package.
var (
	// ErrInvalidClient: unknown client, wrong or missing secret (RFC 6749
	// §5.2 invalid_client); defined in auth for httperr.
	ErrInvalidClient = auth.ErrInvalidClient
	// ErrReadOnly: the client is declared in the config file.
	ErrReadOnly = errors.New("client is declared in the config file")
	// ErrPasswordGrantNotFirstParty: a client that is not first-party
	// lists the password grant (contract §4). The caller says how its user
	// marks a client first-party (the key first_party, the flag
	// --first-party) or drops the grant.
	ErrPasswordGrantNotFirstParty = errors.New("the password grant is for first-party clients only")
)
