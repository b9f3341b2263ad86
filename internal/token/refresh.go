package token

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
)

// refreshBytes is the entropy of a refresh token: 256 bits (contract §4).
const refreshBytes = 32

// UserLookup reads the current state of a user; user.Store implements it.
// A deleted user is auth.ErrNotFound.
type UserLookup interface {
	UserByID(ctx context.Context, id string) (auth.User, error)
}

// Publisher broadcasts revocations to every instance; revocation.Watcher
// implements it.
type Publisher interface {
	Publish(ctx context.Context, ev revocation.Event) error
}

// Pair is the result of a grant: the token endpoint's response body.
type Pair struct {
	AccessToken  string
	ExpiresIn    int // seconds
	RefreshToken string
	Scope        string
	Claims       Claims // of AccessToken
}

// Grants runs the refresh-token grant: families of single-use refresh tokens
// whose reuse revokes the whole family (RFC 9700 section 4.14.2).
type Grants struct {
	issuer *Issuer
	store  RefreshStore
	users  UserLookup
	pub    Publisher
	lax    *Verifier
	s      settings
}

// NewGrants returns the grant service. It uses WithRefreshTTL,
// WithRefreshIdleTTL, WithAccessTTL (default: the issuer's TTL), WithLeeway,
// WithClock, WithRandom and WithAudit. pub must not be nil in a server:
// without it a revoked family's access tokens live until they expire.
func NewGrants(issuer *Issuer, store RefreshStore, users UserLookup, pub Publisher, opts ...GrantsOption) *Grants {
	s := newSettings(append([]Option{WithTTL(issuer.TTL())}, opts...))
	lax := NewVerifier(issuer.keys, nil, WithClock(s.now))
	return &Grants{issuer: issuer, store: store, users: users, pub: pub, lax: lax, s: s}
}

// Start begins a new family for u after a successful password check (or
// any other primary authentication). A disabled user is refused with
// ErrInvalidGrant and auth.ErrDisabled.
func (g *Grants) Start(ctx context.Context, u auth.User, clientID, scope string) (Pair, error) {
	return g.Issue(ctx, Grant{User: u, ClientID: clientID, Scope: scope, Refresh: true})
}

// Grant is what a successful grant hands out tokens for.
type Grant struct {
	User     auth.User
	ClientID string
	Scope    string
	// FamilyID is the sid of the tokens; "" picks a new random one. The
	// authorization code grant chooses it when the code is issued, so that a
	// replayed code can revoke it.
	FamilyID string
	// Audience of the access tokens; empty means tokens.audience.
	Audience []string
	// Refresh issues a refresh token too. Without it the family is still
	// stored (NoRefresh: it ends with its access token) so that sid-based
	// revocation, RevokeUser and the sessions view work alike.
	Refresh bool
	// TTL is the life of the access token of a grant without Refresh; 0
	// means tokens.access_ttl. Ignored with Refresh.
	TTL time.Duration
	// AMR (RFC 8176) of the login behind the grant: the access tokens carry
	// it, refreshed ones too (an mfa route judges it: auth.MultiFactor).
	AMR []string
	// ClientRegistration is the registration of ClientID
	// (client.Client.Registration; "" for a config or built-in client).
	// The family records it, and the store refuses a family of a stored
	// registration that is no longer stored (RefreshStore.CreateRefresh).
	ClientRegistration string
}

// Issue begins a new family for gr.User and returns its first tokens.
func (g *Grants) Issue(ctx context.Context, gr Grant) (Pair, error) {
	p, err := g.issue(ctx, gr)
	if err != nil {
		return Pair{}, err
	}
	g.record(ctx, audit.TokenIssued, gr.User.ID, gr.User.Username, "client_id", gr.ClientID, "sid", p.Claims.SessionID)
	return p, nil
}

// issue is Issue without the audit event.
func (g *Grants) issue(ctx context.Context, gr Grant) (Pair, error) {
	u := gr.User
	if u.Disabled {
		return Pair{}, fmt.Errorf("start grant: %w: %w", ErrInvalidGrant, auth.ErrDisabled)
	}
	family := gr.FamilyID
	if family == "" {
		var err error
		if family, err = randomID(g.s.random, 16); err != nil {
			return Pair{}, fmt.Errorf("start grant: %w", err)
		}
	}
	rt, err := randomID(g.s.random, refreshBytes)
	if err != nil {
		return Pair{}, fmt.Errorf("start grant: %w", err)
	}
	now := g.s.now()
	end := now.Add(g.s.refreshTTL)
	r := Refresh{Hash: hashRefresh(rt), FamilyID: family, UserID: u.ID, ClientID: gr.ClientID, Scope: gr.Scope,
		IssuedAt: now, ExpiresAt: earliest(now.Add(g.s.idleTTL), end), FamilyExpiresAt: end, AMR: gr.AMR,
		ClientRegistration: gr.ClientRegistration}
	if req, ok := audit.RequestFrom(ctx); ok {
		r.IP = req.IP // trusted proxies applied by the HTTP layer
	}
	maxTTL := g.s.ttl
	if !gr.Refresh {
		// The token is never handed out: it cannot be redeemed. The family
		// ends with the access token, so RevokeUser reaches the token for
		// as long as it lives.
		if gr.TTL > 0 {
			maxTTL = gr.TTL
		}
		end := now.Add(maxTTL + g.s.leeway)
		r.ExpiresAt, r.FamilyExpiresAt, r.NoRefresh = end, end, true
	}
	ttl, err := g.accessTTL(now, r.FamilyExpiresAt, maxTTL)
	if err != nil {
		return Pair{}, fmt.Errorf("start grant: %w", err)
	}
	if err := g.store.CreateRefresh(ctx, r); err != nil {
		return Pair{}, fmt.Errorf("start grant: %w", err)
	}
	p, err := g.pair(u, r, r.Scope, rt, gr.Audience, ttl, now)
	if err != nil {
		return Pair{}, fmt.Errorf("start grant: %w", err)
	}
	if !gr.Refresh {
		p.RefreshToken = ""
	}
	return p, nil
}

// Refresh redeems a refresh token: the token is used up and a new access
// and refresh token are returned, the access token carrying the user's
// current username and roles and sid = family ID.
//
// Refusals wrap ErrInvalidGrant and the cause: auth.ErrNotFound (unknown),
// auth.ErrExpired (idle or absolute expiry, or the family ends within the
// leeway: its access token would outlive it), auth.ErrRevoked (family revoked,
// or the user was disabled or deleted — the family is then revoked too),
// auth.ErrReused (already used: the family and its sid are revoked and the
// event audited). Store failures wrap auth.ErrUnavailable as returned.
func (g *Grants) Refresh(ctx context.Context, refreshToken string) (Pair, error) {
	return g.RefreshFor(ctx, RefreshRequest{Token: refreshToken})
}

// RefreshRequest is a refresh-token grant request as RefreshFor reads it.
type RefreshRequest struct {
	// Token is the refresh token.
	Token string
	// ClientID is the calling client; "" skips the client check.
	ClientID string
	// Audience of the new access token; empty means tokens.audience.
	Audience []string
	// Scope is the request's scope parameter (RFC 6749 §6): the scope of
	// the new access token, within the family's grant. Empty asks for the
	// whole grant.
	Scope string
	// Allows reports whether the client may still be given a scope
	// (client.Client.AllowsScope); nil allows every scope of the grant.
	Allows func(scope string) bool
	// ClientRegistration is the calling client's registration
	// (client.Client.Registration; "" for a config or built-in client),
	// checked with ClientID.
	ClientRegistration string
	// ClientRegisteredAt is when that registration was stored
	// (client.Client.CreatedAt; read only for a stored registration).
	ClientRegisteredAt time.Time
}

// RefreshFor is Refresh for the client req.ClientID: a refresh token issued
// to another client, or to another registration of req.ClientID (one
// deleted before req.ClientRegistration was registered, or a config client
// and a stored one that held the ID one after the other), is refused with
// ErrInvalidGrant and auth.ErrNotFound without being used up (RFC 6749
// §6: refresh tokens are bound to their client), and the new access token
// carries audience req.Audience and the
// scope accessScope gives: req.Scope, or the family's grant when it is
// empty, less what req.Allows no longer lets the client have. A requested
// scope outside the grant, or one the client may no longer have, is
// refused with auth.ErrInvalidScope (invalid_scope) without using the token
// up. The family keeps its grant either way (RFC 6749 §6: the new refresh
// token's scope is that of the old one), so a narrower request narrows
// only the access token it gets.
func (g *Grants) RefreshFor(ctx context.Context, req RefreshRequest) (Pair, error) {
	if !wellFormed(req.Token) {
		return Pair{}, fmt.Errorf("refresh: %w: %w", ErrInvalidGrant, auth.ErrNotFound)
	}
	hash := hashRefresh(req.Token)
	old, err := g.store.Refresh(ctx, hash)
	if err != nil {
		return Pair{}, grantErr(err)
	}
	if req.ClientID != "" && old.ClientID != req.ClientID {
		return Pair{}, fmt.Errorf("refresh: token of another client: %w: %w", ErrInvalidGrant, auth.ErrNotFound)
	}
	if req.ClientID != "" && !grantedTo(old, req) {
		return Pair{}, fmt.Errorf("refresh: token of another registration of the client: %w: %w", ErrInvalidGrant, auth.ErrNotFound)
	}
	// The user is checked before the rotation: a user-store outage must not
	// burn the client's only refresh token.
	u, err := g.users.UserByID(ctx, old.UserID)
	if errors.Is(err, auth.ErrNotFound) || err == nil && u.Disabled {
		if rerr := g.revokeFamily(ctx, old.FamilyID); rerr != nil {
			return Pair{}, fmt.Errorf("refresh: revoke family of disabled user: %w", rerr)
		}
		return Pair{}, fmt.Errorf("refresh: user disabled or deleted: %w: %w", ErrInvalidGrant, auth.ErrRevoked)
	}
	if err != nil {
		return Pair{}, fmt.Errorf("refresh: load user: %w", err)
	}
	rt, err := randomID(g.s.random, refreshBytes)
	if err != nil {
		return Pair{}, fmt.Errorf("refresh: %w", err)
	}
	now := g.s.now()
	// A refresh that cannot give a usable access token (the family ends
	// within the leeway, or the scope asked for is refused) is refused
	// before the rotation, so that it does not use the token up. A token
	// already used or revoked goes on: the rotation refuses it for that,
	// and a replay is handled as reuse whatever else is wrong with it.
	scope, refused := accessScope(old.Scope, req.Scope, req.Allows)
	ttl, ttlErr := g.accessTTL(now, old.FamilyExpiresAt, g.s.ttl)
	if refused == nil {
		refused = ttlErr
	}
	if refused != nil && old.UsedAt.IsZero() && old.RevokedAt.IsZero() {
		return Pair{}, fmt.Errorf("refresh: %w", refused)
	}
	next := Refresh{Hash: hashRefresh(rt), FamilyID: old.FamilyID, UserID: old.UserID, ClientID: old.ClientID,
		Scope: old.Scope, IssuedAt: now, ExpiresAt: earliest(now.Add(g.s.idleTTL), old.FamilyExpiresAt),
		FamilyExpiresAt: old.FamilyExpiresAt, AMR: old.AMR}
	if _, err := g.store.RotateRefresh(ctx, hash, now, next); err != nil {
		if errors.Is(err, auth.ErrReused) {
			return Pair{}, g.reused(ctx, u, old)
		}
		if errors.Is(err, auth.ErrRevoked) {
			if err := g.denyAgain(ctx, old); err != nil {
				return Pair{}, fmt.Errorf("refresh: deny revoked family: %w", err)
			}
		}
		return Pair{}, grantErr(err)
	}
	if refused != nil { // used and revoked are for good: not reached
		return Pair{}, fmt.Errorf("refresh: %w", refused)
	}
	p, err := g.pair(u, next, scope, rt, req.Audience, ttl, now)
	if err != nil {
		return Pair{}, fmt.Errorf("refresh: %w", err)
	}
	g.record(ctx, audit.TokenRefreshed, u.ID, u.Username, "client_id", old.ClientID, "sid", old.FamilyID)
	return p, nil
}

// reused handles a replayed refresh token: one of the two holders is an
// attacker and gatehouse cannot tell which, so the family dies.
func (g *Grants) reused(ctx context.Context, u auth.User, old Refresh) error {
	if err := g.revokeFamily(ctx, old.FamilyID); err != nil {
		return fmt.Errorf("refresh: revoke reused family: %w", err)
	}
	g.record(ctx, audit.RefreshReuse, u.ID, u.Username, "client_id", old.ClientID, "sid", old.FamilyID)
	return fmt.Errorf("refresh: token already used, family revoked: %w: %w", ErrInvalidGrant, auth.ErrReused)
}

// denyAgain publishes the sid denial of old's family again while an access
// token of it may still be valid (revoked less than sidDenial ago). A
// revocation is stored first and published second, so a broadcast outage
// in between (reuse detected while Redis is down) leaves the
// family revoked in the store and its access tokens valid on the other
// instances; the next refresh with one of its tokens mends that. Publishing
// again is idempotent, and /auth/revoke with the same token publishes it
// as well.
func (g *Grants) denyAgain(ctx context.Context, old Refresh) error {
	if old.RevokedAt.IsZero() || !g.s.now().Before(old.RevokedAt.Add(g.sidDenial())) {
		return nil
	}
	return g.publish(ctx, g.sidEvent(Family{ID: old.FamilyID}))
}

// Revoke implements RFC 7009. A refresh token revokes its family (and
// denies the family's sid); a valid access token of this issuer has its jti
// denied until it expires (the signature is checked, its expiry is not, so
// that a token about to expire can still be revoked). Unknown or invalid
// tokens are not an error. Only store or broadcast failures are returned.
func (g *Grants) Revoke(ctx context.Context, token, hint string) error {
	return g.RevokeFor(ctx, token, hint, nil)
}

// RevokeFor is Revoke limited to tokens whose client_id mine accepts (RFC
// 7009 §2.1: a client revokes only its own tokens); a token of another
// client is left alone and, as an unknown token, is not an error. A nil
// mine accepts every client.
func (g *Grants) RevokeFor(ctx context.Context, token, hint string, mine func(clientID string) bool) error {
	if mine == nil {
		mine = func(string) bool { return true }
	}
	try := []func(context.Context, string, func(string) bool) (bool, error){g.revokeRefresh, g.revokeAccess}
	if hint == "access_token" {
		try[0], try[1] = try[1], try[0]
	}
	for _, f := range try {
		done, err := f(ctx, token, mine)
		if err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		if done {
			return nil
		}
	}
	return nil
}

func (g *Grants) revokeRefresh(ctx context.Context, token string, mine func(string) bool) (bool, error) {
	if !wellFormed(token) {
		return false, nil
	}
	r, err := g.store.Refresh(ctx, hashRefresh(token))
	if errors.Is(err, auth.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !mine(r.ClientID) {
		return true, nil
	}
	if err := g.revokeFamily(ctx, r.FamilyID); err != nil {
		return false, err
	}
	g.record(ctx, audit.TokenRevoked, r.UserID, "", "token_type", "refresh_token", "sid", r.FamilyID)
	return true, nil
}

func (g *Grants) revokeAccess(ctx context.Context, token string, mine func(string) bool) (bool, error) {
	c, err := g.lax.parseSigned(ctx, token)
	if err != nil || c.ID == "" {
		return false, nil
	}
	if !mine(c.ClientID) {
		return true, nil
	}
	until := g.s.now().Add(g.s.ttl)
	if c.ExpiresAt != nil {
		until = c.ExpiresAt.Time
	}
	until = until.Add(g.s.leeway)
	if !until.After(g.s.now()) {
		return true, nil // already dead everywhere
	}
	if err := g.publish(ctx, revocation.Event{Kind: revocation.KindJTI, Key: c.ID, Until: until}); err != nil {
		return false, err
	}
	g.record(ctx, audit.TokenRevoked, c.Subject, c.Username, "token_type", "access_token", "jti", c.ID)
	return true, nil
}

// RevokeUser revokes every live family of the user and denies their sids on
// every instance (`gatehouse user logout`, disable, delete).
func (g *Grants) RevokeUser(ctx context.Context, userID string) error {
	n, err := g.revokeFamilies(ctx, g.store.RevokeUserFamilies, userID)
	if err != nil {
		return fmt.Errorf("revoke user tokens: %w", err)
	}
	g.record(ctx, audit.TokenRevoked, userID, "", "families", strconv.Itoa(n))
	return nil
}

// RevokeClient revokes every live family of a client, whoever its user,
// and denies their sids on every instance, as a withdrawn consent does
// for one user, and denies sid, the sid of the client's own access tokens
// (client_credentials; "" for none): a deleted client's refresh and
// access tokens stop, and a client registered again under the same
// client_id starts with none.
func (g *Grants) RevokeClient(ctx context.Context, clientID, sid string) error {
	n, err := g.revokeFamilies(ctx, g.store.RevokeClientFamilies, clientID)
	if err == nil && sid != "" {
		err = g.publish(ctx, g.sidEvent(Family{ID: sid}))
	}
	if err != nil {
		return fmt.Errorf("revoke client tokens: %w", err)
	}
	kv := []string{"client_id", clientID, "families", strconv.Itoa(n)}
	if sid != "" {
		kv = append(kv, "sid", sid)
	}
	g.record(ctx, audit.TokenRevoked, "", "", kv...)
	return nil
}

// RevokeClientTokens denies sid, the sid of a client's own access tokens
// (client_credentials), on every instance and records token.revoked with
// the client and reason (secret_rotated): the tokens a client got with a
// secret stop with that secret.
func (g *Grants) RevokeClientTokens(ctx context.Context, clientID, sid, reason string) error {
	if err := g.publish(ctx, g.sidEvent(Family{ID: sid})); err != nil {
		return fmt.Errorf("revoke client tokens: %w", err)
	}
	g.record(ctx, audit.TokenRevoked, "", "", "client_id", clientID, "sid", sid, "reason", reason)
	return nil
}

// revokeFamilies revokes the families revoke(key) returns and denies
// their sids; it returns how many there were.
func (g *Grants) revokeFamilies(ctx context.Context, revoke func(context.Context, string, time.Time) ([]Family, error), key string) (int, error) {
	now := g.s.now()
	fams, err := revoke(ctx, key, now)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, f := range fams {
		errs = append(errs, g.publish(ctx, g.sidEvent(f)))
	}
	return len(fams), errors.Join(errs...)
}

// RevokeGrant ends everything issued under family (a refresh family, the
// sid of its access tokens): the family is revoked in the store, and the
// sid is denied on every instance. A family not stored yet is revoked too
// (RefreshStore.RevokeFamily revokes future tokens; the SQL store says
// auth.ErrNotFound, stores the family revoked when it comes and
// CreateRefresh then fails with auth.ErrRevoked): an
// authorization code replayed while its first redemption is still running
// thereby kills the refresh token that redemption stores, not only its
// access tokens, whose sid denial lasts one access-token lifetime.
//
// The token.revoked event names userID (the user the grant was for) and
// reason (code_replay, consent_withdrawn, session_ended, …), so that the
// user's audit trail shows why their tokens stopped.
func (g *Grants) RevokeGrant(ctx context.Context, userID, family, reason string) error {
	now := g.s.now()
	if err := g.store.RevokeFamily(ctx, family, now); err != nil && !errors.Is(err, auth.ErrNotFound) {
		return fmt.Errorf("revoke grant: %w", err)
	}
	if err := g.publish(ctx, g.sidEvent(Family{ID: family})); err != nil {
		return fmt.Errorf("revoke grant: %w", err)
	}
	g.record(ctx, audit.TokenRevoked, userID, "", "sid", family, "reason", reason)
	return nil
}

// Families lists the refresh families (grants) of a user that have not
// reached their absolute end, revoked ones included, newest first.
func (g *Grants) Families(ctx context.Context, userID string) ([]Family, error) {
	fams, err := g.store.UserFamilies(ctx, userID, g.s.now())
	if err != nil {
		return nil, fmt.Errorf("list refresh families: %w", err)
	}
	return fams, nil
}

// RevokeFamilyOf revokes one refresh family of userID (the admin API,
// /auth/grants) and denies its sid on every instance. A family of another
// user is auth.ErrNotFound, like an unknown one, so a caller cannot reach
// past the user it named. A family revoked already stays as it is (nil,
// and no second token.revoked event: it is still the user's, listed as
// revoked until its end); its sid is denied again, so that a retry after
// a denial that did not reach the feed still stops its access tokens.
func (g *Grants) RevokeFamilyOf(ctx context.Context, userID, familyID string) error {
	f, err := g.store.Family(ctx, familyID)
	if err != nil {
		return fmt.Errorf("revoke refresh family: %w", err)
	}
	if f.UserID != userID {
		return fmt.Errorf("revoke refresh family: %w", auth.ErrNotFound)
	}
	if f.RevokedAt.IsZero() {
		if err := g.store.RevokeFamily(ctx, f.ID, g.s.now()); err != nil {
			return fmt.Errorf("revoke refresh family: %w", err)
		}
		// Recorded once the store holds the revocation, before the sid
		// denial: a retry after a failed denial finds it revoked.
		g.record(ctx, audit.TokenRevoked, userID, "", "family", familyID)
	}
	if err := g.publish(ctx, g.sidEvent(f)); err != nil {
		return fmt.Errorf("revoke refresh family: %w", err)
	}
	return nil
}

// revokeFamily revokes a family in the store, then denies its sid so that
// access tokens already issued from it stop too. It is for families that
// hand out refresh tokens (whose access tokens live tokens.access_ttl at
// most); revokeFamilyOf also serves the others.
func (g *Grants) revokeFamily(ctx context.Context, family string) error {
	return g.revokeFamilyOf(ctx, Family{ID: family})
}

// revokeFamilyOf is revokeFamily for f as read from the store.
func (g *Grants) revokeFamilyOf(ctx context.Context, f Family) error {
	now := g.s.now()
	if err := g.store.RevokeFamily(ctx, f.ID, now); err != nil {
		return err
	}
	return g.publish(ctx, g.sidEvent(f))
}

// sidEvent lasts as long as any access token of family f can: one
// access_ttl plus twice the leeway from now (sidDenial) or, for a family
// without refresh token, until its end, which is its access token's exp
// plus leeway however long that token lives (Issue). Call it once the
// family's revocation is in the store: a refresh that committed before it
// (it waited for the family's row, or this process paused) signed its
// token as of a time read before that commit (pair), so the denial
// outlasts that token too; a clock read before the store write left the
// token valid for the difference after its sid was forgotten.
func (g *Grants) sidEvent(f Family) revocation.Event {
	until := g.s.now().Add(g.sidDenial())
	if f.NoRefresh && f.ExpiresAt.After(until) {
		until = f.ExpiresAt
	}
	return revocation.Event{Kind: revocation.KindSID, Key: f.ID, Until: until}
}

// sidDenial is how long after now an access token of a family revoked
// now can still be accepted: access_ttl, plus the leeway of the instance
// that issued it (its clock may be ahead of this one's by up to the
// leeway, and its exp with it), plus the leeway every verifier adds to
// exp. One leeway would let such a token come back for the skew once its
// sid was forgotten.
func (g *Grants) sidDenial() time.Duration { return g.s.ttl + 2*g.s.leeway }

func (g *Grants) publish(ctx context.Context, ev revocation.Event) error {
	if g.pub == nil {
		return nil
	}
	if err := g.pub.Publish(ctx, ev); err != nil {
		return fmt.Errorf("publish %s revocation: %w", ev.Kind, err)
	}
	return nil
}

// IssueAccess issues a lone access token for u with lifetime ttl, for
// clientID (`gatehouse token issue` uses "gatehouse-cli"): no refresh
// token, and a family of its own, sid via-<random>, that ends with the
// token (Grant.Refresh false), so that RevokeUser (`user logout`,
// `disable`, delete) and revoking that family stop it, and revoking it
// ends nothing else. It records token.issued with via. A disabled user is
// refused with auth.ErrDisabled.
//
// u is the user as the caller read it. A disable, delete or logout
// everywhere (user.Service.RevokeAll) that landed after that read may have
// ended the user's families before this one was written, so the user is
// read again once it is written, as a login does (user.Service.ConfirmLogin):
// when it is gone, disabled or a revocation was counted since, the family
// is revoked (token.revoked with reason user_revoked), no token is
// returned and the error wraps auth.ErrRevoked. RevokeAll counts before it
// ends the families, so either this read sees the count or the revocation
// finds the family. A store failure on that read revokes the family too
// and returns the error (fail closed).
func (g *Grants) IssueAccess(ctx context.Context, u auth.User, clientID string, ttl time.Duration, via string) (string, error) {
	if u.Disabled {
		return "", fmt.Errorf("issue token for %s: %w", u.Username, auth.ErrDisabled)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("issue token: need a positive ttl: %w", auth.ErrInvalidInput)
	}
	sid, err := randomID(g.s.random, 16)
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	family := via + "-" + sid
	p, err := g.issue(ctx, Grant{User: u, ClientID: clientID, FamilyID: family, TTL: ttl})
	if errors.Is(err, auth.ErrNotFound) {
		// A store with referential integrity refused the family: the
		// user was deleted since it was read.
		return "", fmt.Errorf("issue token for %s: the user was deleted while the token was issued: %w", u.Username, auth.ErrRevoked)
	}
	if err != nil {
		return "", fmt.Errorf("issue token for %s: %w", u.Username, err)
	}
	if reason, err := g.revokedSince(ctx, u); reason != "" || err != nil {
		// The token is never handed out; its sid is denied all the same
		// for as long as it would live.
		f := Family{ID: family, NoRefresh: true, ExpiresAt: p.Claims.ExpiresAt.Add(g.s.leeway)}
		rerr := g.revokeFamilyOf(context.WithoutCancel(ctx), f)
		if rerr == nil {
			g.record(ctx, audit.TokenRevoked, u.ID, u.Username, "via", via, "sid", family, "reason", "user_revoked")
		}
		if err == nil {
			err = fmt.Errorf("the user was %s while the token was issued: %w", reason, auth.ErrRevoked)
		}
		return "", fmt.Errorf("issue token for %s: %w", u.Username, errors.Join(err, rerr))
	}
	g.record(ctx, audit.TokenIssued, u.ID, u.Username, "via", via, "client_id", clientID, "jti", p.Claims.ID,
		"sid", p.Claims.SessionID, "ttl", ttl.String())
	return p.AccessToken, nil
}

// revokedSince reads u again: "" while it is still the enabled user
// read before, with no revocation counted since; otherwise what happened
// to it (deleted, disabled, logged out everywhere or its password
// changed). A store failure is returned as it is.
func (g *Grants) revokedSince(ctx context.Context, u auth.User) (string, error) {
	now, err := g.users.UserByID(ctx, u.ID)
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return "deleted", nil
	case err != nil:
		return "", fmt.Errorf("read the user again: %w", err)
	}
	if reason := u.Lapsed(now); reason != "revoked" {
		return reason, nil
	}
	return "logged out everywhere (or its password changed)", nil
}

// IssueClient issues a client's own access token (the client_credentials
// grant: s names the client, no refresh token, no family; s.SessionID is
// the client's token sid, which RevokeClient and RevokeClientTokens deny)
// and records token.issued, as every other grant does (contract §6), with
// the client in its details: the subject is no user. The token lives
// tokens.access_ttl, as long as those denials last.
func (g *Grants) IssueClient(ctx context.Context, s Subject) (string, Claims, error) {
	raw, c, err := g.issuer.Issue(s, g.s.ttl)
	if err != nil {
		return "", Claims{}, fmt.Errorf("issue client token: %w", err)
	}
	g.record(ctx, audit.TokenIssued, "", "", "grant", "client_credentials", "client_id", s.ClientID, "jti", c.ID, "sid", s.SessionID)
	return raw, c, nil
}

// PurgeExpired deletes refresh tokens and families past their absolute
// expiry and returns how many tokens it deleted. The serve command calls it
// periodically.
func (g *Grants) PurgeExpired(ctx context.Context) (int, error) {
	n, err := g.store.DeleteExpiredRefresh(ctx, g.s.now())
	if err != nil {
		return 0, fmt.Errorf("purge expired refresh tokens: %w", err)
	}
	return n, nil
}

// accessTTL is the life of an access token issued at now in a family that
// ends at familyEnd: maxTTL (the access TTL, or a lone token's own), cut so
// that the token, leeway included, ends with its family. A family past its end is neither revoked by
// RevokeUser (`user disable`, `user logout`) nor listed for revocation, so
// a token outliving it would outlive those too. Less than a second left
// wraps ErrInvalidGrant and auth.ErrExpired.
func (g *Grants) accessTTL(now, familyEnd time.Time, maxTTL time.Duration) (time.Duration, error) {
	ttl := min(maxTTL, familyEnd.Sub(now)-g.s.leeway)
	if ttl < time.Second {
		return 0, fmt.Errorf("the refresh family ends within the leeway: %w: %w", ErrInvalidGrant, auth.ErrExpired)
	}
	return ttl, nil
}

// pair issues the access token of family r with scope (r.Scope, or less
// on a narrower refresh) as of now, the time read before the store write
// that gave the family its token, and pairs it with refresh token rt.
func (g *Grants) pair(u auth.User, r Refresh, scope, rt string, aud []string, ttl time.Duration, now time.Time) (Pair, error) {
	at, c, err := g.issuer.issue(Subject{UserID: u.ID, Username: u.Username, Roles: u.Roles, Scope: scope,
		ClientID: r.ClientID, SessionID: r.FamilyID, Audience: aud, AMR: r.AMR}, ttl, now)
	if err != nil {
		return Pair{}, err
	}
	expiresIn := int(c.ExpiresAt.Sub(c.IssuedAt.Time) / time.Second)
	return Pair{AccessToken: at, ExpiresIn: expiresIn, RefreshToken: rt, Scope: scope, Claims: c}, nil
}

// accessScope is the scope of an access token refreshed from a family
// granted granted (RFC 6749 §6): requested, or the whole grant when
// requested names no scope, without repeats and limited to the scopes
// allows still lets the client have (nil: all). A requested scope that
// the client may not have (any more) wraps auth.ErrInvalidScope, one that
// it may have but was not granted auth.ErrScopeNotGranted (which httperr
// describes as such); one dropped from the client is left out of an
// omitted request silently, as a grant issues fewer scopes than asked
// (RFC 6749 §3.3).
func accessScope(granted, requested string, allows func(string) bool) (string, error) {
	have := strings.Fields(granted)
	want, explicit := strings.Fields(requested), true
	if len(want) == 0 {
		want, explicit = have, false
	}
	out := make([]string, 0, len(want))
	for _, s := range want {
		switch {
		case slices.Contains(out, s):
		case !slices.Contains(have, s) && allows != nil && !allows(s):
			return "", fmt.Errorf("scope %q is not allowed for the client: %w", s, auth.ErrInvalidScope)
		case !slices.Contains(have, s):
			return "", fmt.Errorf("scope %q: %w", s, auth.ErrScopeNotGranted)
		case allows == nil || allows(s):
			out = append(out, s)
		case explicit:
			return "", fmt.Errorf("scope %q is no longer allowed for the client: %w", s, auth.ErrInvalidScope)
		}
	}
	return strings.Join(out, " "), nil
}

func (g *Grants) record(ctx context.Context, typ, userID, username string, kv ...string) {
	if g.s.audit == nil {
		return
	}
	d := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = kv[i+1]
	}
	g.s.audit.Record(ctx, audit.Event{Type: typ, UserID: userID, Username: username, Details: d})
}

// grantErr adds ErrInvalidGrant to the store's refusals, leaving failures
// (auth.ErrUnavailable) as they are.
func grantErr(err error) error {
	for _, cause := range []error{auth.ErrNotFound, auth.ErrExpired, auth.ErrRevoked, auth.ErrReused} {
		if errors.Is(err, cause) {
			return fmt.Errorf("refresh: %w: %w", ErrInvalidGrant, err)
		}
	}
	return fmt.Errorf("refresh: %w", err)
}

// hashRefresh is the only form in which a refresh token is stored. The
// lookup is by this hash as a database key, so no comparison ever touches
// the secret itself.
func hashRefresh(rt string) string {
	sum := sha256.Sum256([]byte(rt))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// wellFormed rejects strings that cannot be a refresh token without a
// store round trip.
func wellFormed(rt string) bool {
	if len(rt) != base64.RawURLEncoding.EncodedLen(refreshBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(rt)
	return err == nil
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// grantedTo reports whether family token old was granted to the
// registration of the client req names. A family without a registration
// ("") for a stored client was written by an instance of the release
// before registrations, still serving during a rolling upgrade on the
// migrated schema: it is this registration's when it began at or after the
// registration was stored (an earlier registration of the ID, or a config
// client the ID belonged to, had it before).
func grantedTo(old Refresh, req RefreshRequest) bool {
	if old.ClientRegistration == req.ClientRegistration {
		return true
	}
	return old.ClientRegistration == "" && !req.ClientRegisteredAt.IsZero() && !old.FamilyCreatedAt.Before(req.ClientRegisteredAt)
}
