package authserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// CodeTTL is the life of an authorization code (contract §8: 60 s).
const CodeTTL = 60 * time.Second

// UserLookup reads a user by ID (user.Store).
type UserLookup interface {
	UserByID(ctx context.Context, id string) (auth.User, error)
}

// EmailLookup returns a user's email and whether it is verified ("" when
// none is known). Optional: without it no email claim is issued.
type EmailLookup func(ctx context.Context, userID string) (email string, verified bool)

// Deps are what the authorization server works with.
type Deps struct {
	Store  Store
	Grants *token.Grants
	Issuer *token.Issuer
	// Tokens verifies access tokens whose audience is a client's own at
	// userinfo (UserinfoPrincipal); nil accepts none of them.
	Tokens *token.Verifier
	Users  UserLookup
	Email  EmailLookup
	Now    func() time.Time
	// Back-channel logout; nil Logouts switches it off.
	Logouts LogoutStore
	Clients ClientLookup
	HTTP    *http.Client
	Log     *slog.Logger

	// SessionAlive reports whether a browser session is still live: nil
	// when it is, an error wrapping auth.ErrUnauthenticated or
	// auth.ErrNotFound when it ended or expired, any other error when the
	// session store could not tell. Exchange asks it about the session a
	// code was issued in (contract §8: codes are bound to it); nil refuses
	// every such code.
	SessionAlive func(ctx context.Context, sessionID string) error
	// SessionLifetime is the longest a browser session lives
	// (sessions.absolute_timeout). PurgeExpired deletes the session grants
	// of sessions that must have ended by then; zero keeps them.
	SessionLifetime time.Duration
}

// Server issues codes, redeems them and runs the client grants.
type Server struct {
	Deps
	kick chan struct{}
	ends *sessionEnds
}

// New returns an authorization server.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Server{Deps: d, kick: make(chan struct{}, 1), ends: newSessionEnds()}
}

// Request is a validated authorization request.
type Request struct {
	Client      client.Client
	RedirectURI string
	Scopes      []string
	State       string
	Nonce       string
	Challenge   string
}

// Tokens is the token endpoint's answer: the token pair plus an ID token
// when openid was granted.
type Tokens struct {
	token.Pair
	IDToken string
}

// ParseScope splits a scope parameter and refuses scopes c may not have
// (ErrInvalidScope): a token never carries a scope just because it was
// asked for.
func ParseScope(c client.Client, scope string) ([]string, error) {
	requested := strings.Fields(scope)
	granted := c.GrantableScopes(requested)
	for _, s := range requested {
		if !slices.Contains(granted, s) {
			return nil, fmt.Errorf("scope %q is not allowed for client %s: %w", s, c.ID, ErrInvalidScope)
		}
	}
	return granted, nil
}

// ValidChallenge reports whether s can be an S256 code_challenge: the
// base64url SHA-256 of a verifier is exactly 43 characters.
func ValidChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil
}

// NeedsConsent reports whether the user must be asked before c gets
// scopes: never for first-party clients, else unless an earlier consent
// covers every scope.
func (s *Server) NeedsConsent(ctx context.Context, c client.Client, userID string, scopes []string) (bool, error) {
	if c.FirstParty {
		return false, nil
	}
	got, err := s.Store.Consent(ctx, userID, c.ID)
	if errors.Is(err, auth.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("load consent: %w", err)
	}
	for _, sc := range scopes {
		if !slices.Contains(got.Scopes, sc) {
			return true, nil
		}
	}
	return false, nil
}

// Consent records that the user allowed c the scopes (added to what they
// allowed before, by the store in one step: consents given at once add up,
// and one racing a withdrawal does not bring the withdrawn scopes back).
func (s *Server) Consent(ctx context.Context, c client.Client, userID string, scopes []string) error {
	err := s.Store.AddConsent(ctx, Consent{UserID: userID, ClientID: c.ID, Scopes: scopes, GrantedAt: s.Now(), StoredClient: !c.FromConfig})
	if err != nil {
		return fmt.Errorf("save consent: %w", err)
	}
	return nil
}

// IssueCode stores a code for req, issued to userID in browser session
// sessionID, and returns it.
func (s *Server) IssueCode(ctx context.Context, req Request, userID, sessionID string, authTime time.Time, amr []string) (string, error) {
	code, err := client.NewSecret() // codes, family IDs and secrets: 256 random bits, base64url
	if err != nil {
		return "", fmt.Errorf("issue code: %w", err)
	}
	family, err := client.NewSecret()
	if err != nil {
		return "", fmt.Errorf("issue code: %w", err)
	}
	now := s.Now()
	if err := s.Store.CreateCode(ctx, Code{
		Hash: client.HashSecret(code), ClientID: req.Client.ID, UserID: userID, SessionID: sessionID, RedirectURI: req.RedirectURI,
		Challenge: req.Challenge, Nonce: req.Nonce, Scope: strings.Join(req.Scopes, " "), FamilyID: family,
		AuthTime: authTime, AMR: amr, IssuedAt: now, ExpiresAt: now.Add(CodeTTL),
	}); err != nil {
		return "", fmt.Errorf("issue code: %w", err)
	}
	return code, nil
}

// Exchange redeems an authorization code for client c (already
// authenticated). Every refusal wraps token.ErrInvalidGrant: unknown,
// expired or used code, another client's code, another redirect_uri, a
// wrong PKCE verifier, a browser session that ended or (clients
// that are not first-party) a consent withdrawn since the code was issued
// (contract §8: codes are bound to user and session). A code used a second
// time also revokes every token issued from it (RFC 6749 §4.1.2). When the
// session or consent cannot be checked nothing is issued and the store's
// error (auth.ErrUnavailable) is returned: a code is never redeemed on a
// guess.
func (s *Server) Exchange(ctx context.Context, c client.Client, code, redirectURI, verifier string) (Tokens, error) {
	if !c.AllowsGrant(client.GrantAuthorizationCode) {
		return Tokens{}, fmt.Errorf("exchange code: %w", ErrUnauthorizedClient)
	}
	if code == "" || verifier == "" {
		return Tokens{}, fmt.Errorf("exchange code: code and code_verifier are required: %w", ErrInvalidRequest)
	}
	// Every code was issued for a redirect_uri (the authorization request
	// must name one), so an exchange without it cannot succeed: say so,
	// and leave the code for the corrected request rather than burn it as
	// "invalid, expired, used or revoked".
	if redirectURI == "" {
		return Tokens{}, fmt.Errorf("exchange code: redirect_uri is required: %w", ErrInvalidRequest)
	}
	rec, err := s.Store.RedeemCode(ctx, client.HashSecret(code), s.Now())
	switch {
	case errors.Is(err, auth.ErrReused):
		if rerr := s.Grants.RevokeGrant(ctx, rec.UserID, rec.FamilyID, "code_replay"); rerr != nil {
			return Tokens{}, fmt.Errorf("exchange code: revoke tokens of replayed code: %w", rerr)
		}
		return Tokens{}, fmt.Errorf("exchange code: replayed, its tokens revoked: %w: %w", token.ErrInvalidGrant, err)
	case errors.Is(err, auth.ErrNotFound), errors.Is(err, auth.ErrExpired):
		return Tokens{}, fmt.Errorf("exchange code: %w: %w", token.ErrInvalidGrant, err)
	case err != nil:
		return Tokens{}, fmt.Errorf("exchange code: %w", err)
	}
	// The code is used up from here on: a refusal below also burns it, so
	// that a stolen code cannot be tried against several verifiers.
	switch {
	case rec.ClientID != c.ID:
		return Tokens{}, fmt.Errorf("exchange code: issued to another client: %w: %w", token.ErrInvalidGrant, auth.ErrNotFound)
	case rec.RedirectURI != redirectURI:
		return Tokens{}, fmt.Errorf("exchange code: redirect_uri differs: %w: %w", token.ErrInvalidGrant, auth.ErrNotFound)
	case !verifierMatches(verifier, rec.Challenge):
		return Tokens{}, fmt.Errorf("exchange code: PKCE verifier does not match: %w: %w", token.ErrInvalidGrant, auth.ErrNotFound)
	}
	u, err := s.Users.UserByID(ctx, rec.UserID)
	if errors.Is(err, auth.ErrNotFound) {
		return Tokens{}, fmt.Errorf("exchange code: user gone: %w: %w", token.ErrInvalidGrant, auth.ErrRevoked)
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("exchange code: %w", err)
	}
	scopes := strings.Fields(rec.Scope)
	// A code redeemed after its session ended or its consent was withdrawn
	// is refused here, before anything is written.
	if err := s.stillBound(ctx, c, rec, scopes); err != nil {
		return Tokens{}, fmt.Errorf("exchange code: %w", err)
	}
	// The ID token's aud is the client_id: a client named as a forward:
	// jwt route (stored before the route was made one) gets no tokens, and
	// nothing is written for it (token.Issuer.CheckAudience). The message
	// is the error_description, so it holds no ": ".
	if slices.Contains(scopes, client.ScopeOpenID) && s.Issuer.CheckAudience(c.ID) != nil {
		return Tokens{}, fmt.Errorf("exchange code: the client_id is the name of a forward-jwt route, so no ID token can be issued to it: %w", ErrInvalidRequest)
	}
	// A session end or consent withdrawal may still run from here on. The
	// session grant is therefore written before the tokens are stored, and
	// the session and consent are checked again after: a session end
	// deletes the session before EndSession takes its grants, and
	// WithdrawConsent deletes the consent before it lists the user's
	// families and session grants, so either they find this family (and
	// revoke it, even before it is stored) or the check below finds the
	// session or consent gone.
	if s.Logouts != nil && rec.SessionID != "" {
		if err := s.Logouts.AddSessionGrant(ctx, SessionGrant{FamilyID: rec.FamilyID, SessionID: rec.SessionID,
			ClientID: c.ID, UserID: u.ID, CreatedAt: s.Now()}); err != nil {
			return Tokens{}, fmt.Errorf("exchange code: %w", err)
		}
	}
	// The family records c's registration, and the store writes it only
	// while that registration is stored (token.RefreshStore.CreateRefresh):
	// a deletion of c that committed since c was authenticated leaves no
	// family behind, for the deletion's revocation to miss or a client
	// registered again under c's ID to refresh.
	pair, err := s.Grants.Issue(ctx, token.Grant{
		User: u, ClientID: c.ID, ClientRegistration: c.Registration, Scope: rec.Scope, FamilyID: rec.FamilyID,
		Audience: c.Audience, Refresh: c.IssuesRefresh(scopes), AMR: rec.AMR,
	})
	if errors.Is(err, auth.ErrRevoked) {
		// The family was revoked before it was stored: a replay of this
		// code, a session end or a consent withdrawal ran meanwhile; or
		// the client was deleted.
		return Tokens{}, fmt.Errorf("exchange code: revoked while redeemed: %w: %w", token.ErrInvalidGrant, err)
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("exchange code: %w", err)
	}
	if err := s.stillBound(ctx, c, rec, scopes); err != nil {
		// Nothing was handed out; the family is revoked all the same so that
		// it is not listed as a live grant, on a context of its own: the
		// client going away must not leave it live.
		if rerr := s.Grants.RevokeGrant(context.WithoutCancel(ctx), rec.UserID, rec.FamilyID, "unbound_while_redeemed"); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return Tokens{}, fmt.Errorf("exchange code: %w", err)
	}
	out := Tokens{Pair: pair}
	if slices.Contains(scopes, client.ScopeOpenID) {
		out.IDToken, err = s.IDToken(ctx, IDTokenInput{
			User: u, Client: c, Scopes: scopes, Nonce: rec.Nonce, AuthTime: rec.AuthTime, AMR: rec.AMR,
			SessionID: rec.SessionID, AccessToken: pair.AccessToken,
		})
		if err != nil {
			return Tokens{}, fmt.Errorf("exchange code: %w", err)
		}
	}
	return out, nil
}

// stillBound checks what code rec stays bound to after it was issued: the
// browser session it was issued in is live and, for a client that is not
// first-party, the user's consent still covers its scopes. A session that
// ended or expired and a withdrawn consent wrap token.ErrInvalidGrant and
// auth.ErrRevoked; a store that cannot tell returns its error, so that the
// exchange fails closed.
func (s *Server) stillBound(ctx context.Context, c client.Client, rec Code, scopes []string) error {
	if rec.SessionID != "" {
		if s.SessionAlive == nil {
			return errors.New("check browser session: authserver has no SessionAlive")
		}
		err := s.SessionAlive(ctx, rec.SessionID)
		switch {
		case err == nil:
		case errors.Is(err, auth.ErrUnavailable):
			return fmt.Errorf("check browser session: %w", err)
		case errors.Is(err, auth.ErrUnauthenticated), errors.Is(err, auth.ErrNotFound):
			return fmt.Errorf("browser session ended: %w: %w", token.ErrInvalidGrant, auth.ErrRevoked)
		default:
			return fmt.Errorf("check browser session: %w", err)
		}
	}
	need, err := s.NeedsConsent(ctx, c, rec.UserID, scopes)
	if err != nil {
		return fmt.Errorf("check consent: %w", err)
	}
	if need {
		return fmt.Errorf("consent withdrawn: %w: %w", token.ErrInvalidGrant, auth.ErrRevoked)
	}
	return nil
}

// ClientCredentials issues an access token to a confidential client for
// itself: sub = client_id, roles of the client, no refresh token, sid =
// the client's TokenSID (none for a config client), which deleting the
// client or changing its secret denies.
func (s *Server) ClientCredentials(ctx context.Context, c client.Client, scope string) (Tokens, error) {
	if c.IsPublic() || !c.AllowsGrant(client.GrantClientCredentials) {
		return Tokens{}, fmt.Errorf("client credentials: %w", ErrUnauthorizedClient)
	}
	scopes, err := ParseScope(c, scope)
	if err != nil {
		return Tokens{}, fmt.Errorf("client credentials: %w", err)
	}
	sc := strings.Join(scopes, " ")
	at, claims, err := s.Grants.IssueClient(ctx, token.Subject{
		UserID: c.ID, Roles: c.Roles, Scope: sc, ClientID: c.ID, Audience: c.Audience, SessionID: c.TokenSID,
	})
	if err != nil {
		return Tokens{}, fmt.Errorf("client credentials: %w", err)
	}
	expiresIn := int(claims.ExpiresAt.Sub(claims.IssuedAt.Time) / time.Second)
	return Tokens{Pair: token.Pair{AccessToken: at, ExpiresIn: expiresIn, Scope: sc, Claims: claims}}, nil
}

// verifierMatches checks a PKCE S256 verifier (RFC 7636 §4.6) in constant
// time; a verifier outside 43–128 unreserved characters never matches.
func verifierMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for _, r := range verifier {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// SessionApps maps each of the user's browser sessions to the clients
// that got tokens in it, in the order they got them.
func (s *Server) SessionApps(ctx context.Context, userID string) (map[string][]string, error) {
	out := map[string][]string{}
	if s.Logouts == nil {
		return out, nil
	}
	grants, err := s.Logouts.UserSessionGrants(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list session apps: %w", err)
	}
	for _, g := range grants {
		if !slices.Contains(out[g.SessionID], g.ClientID) {
			out[g.SessionID] = append(out[g.SessionID], g.ClientID)
		}
	}
	return out, nil
}

// SessionKnownAs reports whether clientID knows userID's browser session
// sessionID by sid: sid is the session's ID, or the sid of a grant the
// client got in an earlier session that a step-up handed on to this one
// (MoveSessionGrants keeps each grant's SID). RP-initiated logout asks no
// question for the session the hint names, and after a step-up the app's
// ID token still names the session it authorised in.
func (s *Server) SessionKnownAs(ctx context.Context, userID, sessionID, clientID, sid string) (bool, error) {
	if sid == "" || sid == sessionID {
		return sid != "", nil
	}
	if s.Logouts == nil {
		return false, nil
	}
	grants, err := s.Logouts.UserSessionGrants(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("session sid: %w", err)
	}
	for _, g := range grants {
		if g.SessionID == sessionID && g.SID == sid && g.ClientID == clientID {
			return true, nil
		}
	}
	return false, nil
}

// Consents lists the apps the user allowed.
func (s *Server) Consents(ctx context.Context, userID string) ([]Consent, error) {
	cs, err := s.Store.UserConsents(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list consents: %w", err)
	}
	return cs, nil
}

// WithdrawConsent forgets the user's consent to clientID and revokes every
// token that app holds for the user: the refresh families (and so the
// access tokens, by sid, on every instance) it got in browser sessions and
// those that live on without one (refreshed after the session expired,
// password grant). The next authorization asks again. auth.ErrNotFound
// when there was no consent.
func (s *Server) WithdrawConsent(ctx context.Context, userID, clientID string) error {
	if err := s.Store.DeleteConsent(ctx, userID, clientID); err != nil {
		return fmt.Errorf("withdraw consent: %w", err)
	}
	fams, err := s.Grants.Families(ctx, userID)
	if err != nil {
		return fmt.Errorf("withdraw consent: %w", err)
	}
	var ids []string
	for _, f := range fams {
		if f.ClientID == clientID && f.RevokedAt.IsZero() {
			ids = append(ids, f.ID)
		}
	}
	if s.Logouts != nil {
		// A code being redeemed right now has its family in the session's
		// grants before its tokens are stored (Exchange writes the grant
		// first): revoke that family as well, which RevokeGrant does even
		// before it is stored, and deny its sid.
		grants, err := s.Logouts.UserSessionGrants(ctx, userID)
		if err != nil {
			return fmt.Errorf("withdraw consent: %w", err)
		}
		for _, g := range grants {
			if g.ClientID == clientID && !slices.Contains(ids, g.FamilyID) {
				ids = append(ids, g.FamilyID)
			}
		}
	}
	var errs []error
	for _, id := range ids {
		errs = append(errs, s.Grants.RevokeGrant(ctx, userID, id, "consent_withdrawn"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("withdraw consent: %w", err)
	}
	return nil
}

// StandaloneGrants lists the user's live refresh families (grants) that no
// live browser session holds — from the password grant, or an app's whose
// browser session expired — newest first. liveSessions are the IDs of the
// user's live sessions, whose apps the sessions view shows with them.
func (s *Server) StandaloneGrants(ctx context.Context, userID string, liveSessions []string) ([]token.Family, error) {
	fams, err := s.Grants.Families(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	held := map[string]bool{}
	if s.Logouts != nil {
		grants, err := s.Logouts.UserSessionGrants(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("list grants: %w", err)
		}
		for _, g := range grants {
			if slices.Contains(liveSessions, g.SessionID) {
				held[g.FamilyID] = true
			}
		}
	}
	out := []token.Family{}
	for _, f := range fams {
		if f.RevokedAt.IsZero() && !held[f.ID] && f.ExpiresAt.After(s.Now()) {
			out = append(out, f)
		}
	}
	return out, nil
}

// RevokeUserGrant revokes one refresh family of userID and denies its
// access tokens on every instance; a family of another user is
// auth.ErrNotFound, like an unknown one.
func (s *Server) RevokeUserGrant(ctx context.Context, userID, familyID string) error {
	if err := s.Grants.RevokeFamilyOf(ctx, userID, familyID); err != nil {
		return fmt.Errorf("revoke grant: %w", err)
	}
	return nil
}
