package token

import (
	"crypto/rand"
	"io"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
)

// Option configures an Issuer, a Verifier or Grants. The three share one
// option type so that settings they have in common (issuer, audience,
// clock, leeway, TTLs) are spelled once; each constructor ignores options
// that do not concern it.
type Option func(*settings)

// IssuerOption, VerifierOption and GrantsOption name Option by use.
type (
	IssuerOption   = Option
	VerifierOption = Option
	GrantsOption   = Option
)

type settings struct {
	iss        string
	aud        []string
	ttl        time.Duration
	leeway     time.Duration
	refreshTTL time.Duration
	idleTTL    time.Duration
	now        func() time.Time
	random     io.Reader
	cacheSize  int
	trust      func() bool
	audit      *audit.Logger
	internal   func() []string
}

func newSettings(opts []Option) settings {
	s := settings{
		aud:        []string{"gatehouse"},
		ttl:        10 * time.Minute,
		leeway:     30 * time.Second,
		refreshTTL: 720 * time.Hour,
		idleTTL:    336 * time.Hour,
		now:        time.Now,
		random:     rand.Reader,
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// WithIssuer sets the iss claim that is issued and required (public_url).
func WithIssuer(iss string) Option { return func(s *settings) { s.iss = iss } }

// WithAudience sets the aud claim of issued tokens and the audiences a
// verified token must name one of (tokens.audience; default [gatehouse]).
func WithAudience(aud []string) Option { return func(s *settings) { s.aud = slices.Clone(aud) } }

// WithTTL sets the default access token life (tokens.access_ttl, default 10m).
func WithTTL(d time.Duration) Option { return func(s *settings) { s.ttl = d } }

// WithAccessTTL is WithTTL under the name the grant service uses: it also
// bounds how long a revoked sid stays on the deny-list.
func WithAccessTTL(d time.Duration) Option { return WithTTL(d) }

// WithLeeway sets the clock-skew allowance for exp, nbf and iat
// (tokens.leeway, default 30s).
func WithLeeway(d time.Duration) Option { return func(s *settings) { s.leeway = d } }

// WithClock sets the time source (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *settings) { s.now = now } }

// WithRandom sets the randomness for jti, family IDs and refresh tokens
// (default crypto/rand.Reader).
func WithRandom(r io.Reader) Option { return func(s *settings) { s.random = r } }

// WithCacheSize bounds the Verifier's cache of verified tokens
// (tokens.cache_size); 0 (default) disables it.
func WithCacheSize(n int) Option { return func(s *settings) { s.cacheSize = n } }

// WithCacheTrust makes the Verifier use its cache only while trusted returns
// true; pass the revocation watcher's Fresh so that a watcher that lost its
// feed never lets a cached token through. nil means always trusted.
func WithCacheTrust(trusted func() bool) Option { return func(s *settings) { s.trust = trusted } }

// WithRefreshTTL sets the absolute life of a refresh family from its start
// (tokens.refresh_ttl, default 720h).
func WithRefreshTTL(d time.Duration) Option { return func(s *settings) { s.refreshTTL = d } }

// WithRefreshIdleTTL sets how long a refresh token lives after the rotation
// that issued it (tokens.refresh_idle_ttl, default 336h).
func WithRefreshIdleTTL(d time.Duration) Option { return func(s *settings) { s.idleTTL = d } }

// WithInternalAudiences names the audiences no access token may carry:
// internal() returns the names of the current forward: jwt routes, the aud
// of the internal JWTs they send upstream (IssueInternal). Issue and Sign
// refuse them (CheckAudience), so that no access, ID or logout token
// passes for an internal JWT.
func WithInternalAudiences(internal func() []string) Option {
	return func(s *settings) { s.internal = internal }
}

// WithAudit records grant events (issued, refreshed, revoked, reuse).
func WithAudit(l *audit.Logger) Option { return func(s *settings) { s.audit = l } }
