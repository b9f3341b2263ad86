package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// Inbound back-channel logout (OIDC Back-Channel Logout 1.0 §2.5–2.8).
const (
	// backchannelEvent is the member of a logout token's events claim.
	backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"
	// logoutMaxAge is how old (iat) a logout token may be; its jti is
	// remembered at least this long, so a replay is refused while the token
	// could still pass the iat check.
	logoutMaxAge = 5 * time.Minute
	// logoutSkew is the clock difference allowed for iat in the future.
	logoutSkew = time.Minute
	// maxLogoutBody bounds the form body of a back-channel logout request.
	maxLogoutBody = 64 << 10
)

// LogoutStore keeps, for inbound back-channel logout, which gatehouse
// session each OIDC login made and the logout token IDs already accepted.
// store/sqldb implements it.
//
// Errors: auth.ErrConflict (jti seen before), auth.ErrUnavailable (wrapped).
type LogoutStore interface {
	// LinkProviderSession records the session sessionID that a login at
	// provider made, with the provider's sid ("" when none) and subject.
	LinkProviderSession(ctx context.Context, provider, providerSID, subject, userID, sessionID string, now, expiresAt time.Time) error
	// ProviderSessionIDs lists the sessions, live at now, made from
	// providerSID (and subject when not ""), or when providerSID is "" every
	// one made for subject.
	ProviderSessionIDs(ctx context.Context, provider, providerSID, subject string, now time.Time) ([]string, error)
	// MoveProviderSession makes the link of session oldID (if any) name
	// newID, until expiresAt: the session that replaced it (a step-up, a
	// password change) is ended by the provider's logout as the old one was.
	MoveProviderSession(ctx context.Context, oldID, newID string, expiresAt time.Time) error
	// UseLogoutJTI stores an accepted jti until expiresAt; auth.ErrConflict
	// when it was used before.
	UseLogoutJTI(ctx context.Context, provider, jti string, expiresAt time.Time) error
	// ReleaseLogoutJTI forgets a jti whose logout could not be carried out.
	ReleaseLogoutJTI(ctx context.Context, provider, jti string) error
	// DeleteExpiredProviderSessions purges what expired before now.
	DeleteExpiredProviderSessions(ctx context.Context, now time.Time) (int, error)
}

// StartedSession is what StartSession reports of the gatehouse session it
// started: its public ID and absolute end.
type StartedSession struct {
	ID        string
	ExpiresAt time.Time
}

// errLogoutToken is the one refusal of an unusable logout token: every
// reason answers 400 invalid_request (§2.8); the reason goes to the log.
var errLogoutToken = errors.New("logout token refused")

// logoutClaims are the logout token claims beyond those go-oidc checks.
type logoutClaims struct {
	SessionID string                     `json:"sid"`
	JTI       string                     `json:"jti"`
	Events    map[string]json.RawMessage `json:"events"`
	// Nonce is not nil when the claim is present, null included: a
	// json.RawMessage value (not a pointer) is handed JSON null too.
	Nonce json.RawMessage `json:"nonce"`
}

// BackchannelLogout handles POST /auth/oidc/{name}/backchannel-logout for a
// provider with backchannel_logout: true (404 otherwise). The form's
// logout_token must be signed by the provider (its JWKS), with iss the
// provider's issuer, aud our client_id, a fresh iat, an unexpired exp, the
// back-channel member in events, sid and/or sub, no nonce and a jti not
// seen before. The gatehouse sessions made from that provider session
// (sid), or for that subject, then end through EndSession — the normal
// session-end path, so the apps that got tokens in them are logged out too.
// 200 on success (also when no session matched), 400 invalid_request when
// the token is refused, 503 when a store or the provider's keys are
// unreachable; always Cache-Control: no-store.
func (h *Handler) BackchannelLogout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		name := r.PathValue("name")
		p, ok := h.providers[name]
		if !ok || !p.cfg.BackchannelLogout || p.isOAuth2() || h.deps.Logouts == nil || h.deps.EndSession == nil {
			httperr.Write(w, auth.ErrNotFound)
			return
		}
		ended, err := h.backchannelLogout(w, r, p)
		switch {
		case errors.Is(err, errLogoutToken):
			h.log.Info("back-channel logout refused", "request_id", requestID(r.Context()), "provider", name, "reason", printable(err.Error(), maxLoggedErrorLen))
			h.auditFailure(r.Context(), true, auth.User{}, map[string]string{"provider": name, "reason": "logout_token_invalid"})
			httperr.JSON(w, http.StatusBadRequest, httperr.InvalidRequest)
		case err != nil:
			h.log.Warn("back-channel logout failed", "request_id", requestID(r.Context()), "provider", name, "error", printable(err.Error(), maxLoggedErrorLen))
			httperr.Write(w, err)
		default:
			h.deps.Audit.Record(r.Context(), audit.Event{Type: audit.OIDCBackchannelLogout,
				Details: map[string]string{"provider": name, "sessions": fmt.Sprint(ended)}})
			w.WriteHeader(http.StatusOK)
		}
	})
}

// backchannelLogout verifies the request's logout token and ends the
// sessions it names; it returns how many ended.
func (h *Handler) backchannelLogout(w http.ResponseWriter, r *http.Request, p *provider) (int, error) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutBody)
	if err := r.ParseForm(); err != nil {
		return 0, fmt.Errorf("%w: form: %w", errLogoutToken, err)
	}
	raw := r.PostForm.Get("logout_token")
	if raw == "" || len(r.PostForm["logout_token"]) != 1 {
		return 0, fmt.Errorf("%w: no single logout_token", errLogoutToken)
	}
	ep, err := p.endpoints(ctx)
	if err != nil {
		return 0, err // discovery failed: auth.ErrUnavailable, 503
	}
	idt, err := ep.verify(ctx, raw) // signature (JWKS), iss, aud, exp
	if errors.Is(err, auth.ErrUnavailable) {
		return 0, err // the provider's keys could not be fetched: 503, retried
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errLogoutToken, err)
	}
	var c logoutClaims
	if err := idt.Claims(&c); err != nil {
		return 0, fmt.Errorf("%w: claims: %w", errLogoutToken, err)
	}
	now := h.now()
	switch {
	case idt.IssuedAt.IsZero() || idt.IssuedAt.After(now.Add(logoutSkew)) || idt.IssuedAt.Before(now.Add(-logoutMaxAge)):
		return 0, fmt.Errorf("%w: iat outside the accepted window", errLogoutToken)
	case c.Nonce != nil:
		return 0, fmt.Errorf("%w: a nonce is present (an ID token?)", errLogoutToken)
	case !isJSONObject(c.Events[backchannelEvent]):
		return 0, fmt.Errorf("%w: events lacks the back-channel logout member", errLogoutToken)
	case c.SessionID == "" && idt.Subject == "":
		return 0, fmt.Errorf("%w: neither sid nor sub", errLogoutToken)
	case c.JTI == "":
		return 0, fmt.Errorf("%w: no jti", errLogoutToken)
	// The identifiers get the login's bound (user.ValidIdentifier): they
	// are looked up, and the jti stored, in indexed columns, where an
	// over-long one failed the insert on PostgreSQL (a 5xx the provider
	// would retry) instead of being refused.
	case !user.ValidIdentifier(c.JTI) || !user.ValidIdentifier(c.SessionID) || !user.ValidIdentifier(idt.Subject):
		return 0, fmt.Errorf("%w: jti, sid or sub over %d bytes or with a control character", errLogoutToken, user.MaxIdentifierLen)
	}
	// Multiple audiences: azp is not defined for logout tokens, but our
	// client must be among them (checked by Verify).
	keep := idt.Expiry
	if end := idt.IssuedAt.Add(logoutMaxAge + logoutSkew); end.After(keep) {
		keep = end
	}
	if err := h.deps.Logouts.UseLogoutJTI(ctx, p.cfg.Name, c.JTI, keep); err != nil {
		if errors.Is(err, auth.ErrConflict) {
			return 0, fmt.Errorf("%w: jti replayed", errLogoutToken)
		}
		return 0, fmt.Errorf("back-channel logout: %w", err)
	}
	ids, err := h.deps.Logouts.ProviderSessionIDs(ctx, p.cfg.Name, c.SessionID, idt.Subject, now)
	if err == nil {
		err = h.endSessions(ctx, ids)
	}
	if err != nil {
		// Not carried out: let the provider send the same token again.
		if rerr := h.deps.Logouts.ReleaseLogoutJTI(context.WithoutCancel(ctx), p.cfg.Name, c.JTI); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return 0, fmt.Errorf("back-channel logout: %w", err)
	}
	return len(ids), nil
}

// endSessions ends each session; one that has already gone is not an error.
func (h *Handler) endSessions(ctx context.Context, ids []string) error {
	var errs []error
	for _, id := range ids {
		if err := h.deps.EndSession(ctx, id); err != nil && !errors.Is(err, auth.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// isJSONObject reports whether raw is a JSON object ({} included).
func isJSONObject(raw json.RawMessage) bool {
	var m map[string]any
	return raw != nil && json.Unmarshal(raw, &m) == nil && m != nil
}

// ProviderSession is the provider's side of one OIDC login: the
// provider's name, its sid ("" when it sent none) and the subject. A login
// that finishes on the second step carries it in the pending-login cookie
// until the session exists, then hands it to LinkSession.
type ProviderSession struct {
	Provider string
	SID      string
	Subject  string
}

// session is the provider session of a login through p, as LinkSession
// needs it: the sid and sub only for a provider with back-channel logout,
// the only one LinkSession links, so that no other provider's (perhaps
// long) identifiers travel to the second step in the pending-login cookie.
func (p *provider) session(ext external) ProviderSession {
	ps := ProviderSession{Provider: p.cfg.Name}
	if p.cfg.BackchannelLogout {
		ps.SID, ps.Subject = ext.SessionID, ext.Subject
	}
	return ps
}

// LinkSession records, for a provider with back-channel logout, that the
// gatehouse session s (of userID) came from the provider session ps, so
// that the provider's logout token ends it. Every OIDC login links here:
// the callback when the session starts at once, the second step (TOTP,
// recovery code, passkey, enrolment) when it starts there. When the link
// cannot be stored, s is ended (fail closed: a session the provider could
// not end must not live) and the error returned. A provider without
// back-channel logout (or unknown now) links nothing.
func (h *Handler) LinkSession(ctx context.Context, ps ProviderSession, userID string, s StartedSession) error {
	p, ok := h.providers[ps.Provider]
	if !ok || !p.cfg.BackchannelLogout || h.deps.Logouts == nil || s.ID == "" {
		return nil
	}
	err := h.deps.Logouts.LinkProviderSession(ctx, p.cfg.Name, ps.SID, ps.Subject, userID, s.ID, h.now(), s.ExpiresAt)
	if err == nil {
		return nil
	}
	return h.endUnlinked(ctx, s.ID, fmt.Errorf("link provider session: %w", err))
}

// CarrySession moves the provider-session link of the gatehouse session
// oldID, if it has one, to s, which replaced it (a step-up with a second
// factor, a password change): the provider's logout token then ends s.
// When the link cannot be moved, s is ended (fail closed) and the error
// returned.
func (h *Handler) CarrySession(ctx context.Context, oldID string, s StartedSession) error {
	if h.deps.Logouts == nil || oldID == "" || s.ID == "" {
		return nil
	}
	err := h.deps.Logouts.MoveProviderSession(ctx, oldID, s.ID, s.ExpiresAt)
	if err == nil {
		return nil
	}
	return h.endUnlinked(ctx, s.ID, fmt.Errorf("carry provider session: %w", err))
}

// endUnlinked ends session id, which the provider's logout token could not
// reach (fail closed), and returns err joined with any failure to end it.
func (h *Handler) endUnlinked(ctx context.Context, id string, err error) error {
	if h.deps.EndSession != nil {
		if eerr := h.deps.EndSession(context.WithoutCancel(ctx), id); eerr != nil {
			err = errors.Join(err, eerr)
		}
	}
	return err
}

// PurgeExpired deletes expired provider-session links and logout token IDs.
func (h *Handler) PurgeExpired(ctx context.Context) (int, error) {
	if h.deps.Logouts == nil {
		return 0, nil
	}
	n, err := h.deps.Logouts.DeleteExpiredProviderSessions(ctx, h.now())
	if err != nil {
		return n, fmt.Errorf("purge provider sessions: %w", err)
	}
	return n, nil
}
