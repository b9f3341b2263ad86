package authserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/client"
)

// Back-channel logout (OIDC Back-Channel Logout 1.0), outbound.
const (
	// LogoutTokenType is the JOSE typ of logout tokens.
	LogoutTokenType = "logout+jwt"
	// LogoutRetryFor is how long a delivery is retried (contract §8).
	LogoutRetryFor = 10 * time.Minute
	// backchannelEvent is the events member of a logout token.
	backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

	// logoutKeep is how long a delivery stays in the store after its
	// deadline (for an operator looking into a failure) before
	// PurgeExpired deletes it.
	logoutKeep = 24 * time.Hour

	// CodeKeep is how long an authorization code stays in the store after
	// it expired before PurgeExpired deletes it: long enough that a spent
	// code replayed by whoever stole it still finds its record and revokes
	// what it was exchanged for (RFC 6749 section 4.1.2, RFC 9700 section
	// 4.5), short enough that a browser's authorization requests, exchanged
	// or not, cannot grow the table for ever.
	CodeKeep = 24 * time.Hour

	logoutLease   = 30 * time.Second
	logoutBatch   = 20
	logoutPoll    = time.Second
	logoutTimeout = 5 * time.Second
)

// ClientLookup finds a client (client.Registry): auth.ErrNotFound for one
// that does not exist, a wrapped auth.ErrUnavailable when the store does
// not answer.
type ClientLookup interface {
	Lookup(ctx context.Context, id string) (client.Client, error)
}

// SessionSucceeded hands the apps' grants of userID's browser session from
// to session to, which succeeded it without a new login (a step-up: the
// same user proved a second factor in the same session), so that ending
// from does not end them: they keep their refresh tokens, get no
// back-channel logout, and end with to, under the sid their ID tokens
// named. The caller writes to before and ends from after; a session end
// that deletes either meanwhile must make the caller end to (and thus the
// grants) as well. Without Logouts there is nothing to hand over.
func (s *Server) SessionSucceeded(ctx context.Context, userID, from, to string) error {
	if s.Logouts == nil || from == "" || to == "" {
		return nil
	}
	if _, err := s.Logouts.MoveSessionGrants(ctx, userID, from, to); err != nil {
		return fmt.Errorf("move session grants: %w", err)
	}
	return nil
}

// SessionEnded revokes the refresh families that apps got in a browser
// session and queues their back-channel logouts. Every instance may call
// it for the same session: the store hands the grants to one of them.
func (s *Server) SessionEnded(ctx context.Context, sessionID string) error {
	if s.Logouts == nil || sessionID == "" {
		return nil
	}
	now := s.Now()
	grants, err := s.Logouts.EndSession(ctx, sessionID, now, now.Add(LogoutRetryFor))
	if err != nil {
		return fmt.Errorf("end session grants: %w", err)
	}
	var errs []error
	for _, g := range grants {
		// The store revoked the family; this denies its access tokens' sid
		// on every instance too.
		errs = append(errs, s.Grants.RevokeGrant(ctx, g.UserID, g.FamilyID, "session_ended"))
	}
	if len(grants) > 0 {
		s.kickLogouts()
	}
	return errors.Join(errs...)
}

func (s *Server) kickLogouts() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// RunLogouts delivers queued back-channel logouts until ctx ends: at once
// when this instance queued one, else polling every second for work
// queued elsewhere, retried with backoff until the deadline. When ctx
// ends it returns after recording the attempt in flight and handing back
// the leases it holds, so that a restarted or another instance delivers
// them at once rather than when the lease runs out.
func (s *Server) RunLogouts(ctx context.Context, owner string) {
	if s.Logouts == nil {
		return
	}
	t := time.NewTicker(logoutPoll)
	defer t.Stop()
	for {
		s.deliverDue(ctx, owner)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// deliverDue claims a batch of due deliveries and attempts them in turn.
// It stops early when ctx ends or when an attempt could no longer finish
// within the lease (another instance may claim the delivery after that),
// and then hands the rest of the batch back.
func (s *Server) deliverDue(ctx context.Context, owner string) {
	now := s.Now()
	due, err := s.Logouts.ClaimLogouts(ctx, owner, now, logoutLease, logoutBatch)
	if err != nil {
		if ctx.Err() == nil {
			s.log().Warn("claim back-channel logouts", "error", err.Error())
		}
		return
	}
	// An attempt takes at most logoutTimeout to send and as long again to
	// record; one started later than this could outlive the lease.
	lastStart := now.Add(logoutLease - 2*logoutTimeout)
	for _, d := range due {
		if ctx.Err() != nil || s.Now().After(lastStart) {
			s.releaseLogouts(ctx, owner)
			return
		}
		s.attempt(ctx, owner, d)
	}
}

// attempt delivers d and records the outcome: delivered, due again after
// a backoff, or given up once the next try would pass its deadline.
func (s *Server) attempt(ctx context.Context, owner string, d Delivery) {
	err := s.deliver(ctx, d)
	now := s.Now()
	var next time.Time
	switch {
	case err == nil:
	case ctx.Err() != nil:
		// Cut short by shutdown, not refused by the receiver: due again at
		// once, on whichever instance runs next.
		next = now
		s.log().Info("back-channel logout interrupted by shutdown; due again", "client_id", d.ClientID)
	default:
		next = now.Add(min(time.Second<<min(d.Attempts, 6), time.Minute))
	}
	if !next.IsZero() && next.After(d.Deadline) {
		next = time.Time{} // give up
	}
	if err != nil && ctx.Err() == nil {
		s.log().Warn("back-channel logout failed", "client_id", d.ClientID, "attempt", d.Attempts+1,
			"retry", !next.IsZero(), "error", err.Error())
	}
	// Recorded even when ctx has just ended: a lost outcome would hold the
	// delivery back until its lease runs out.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logoutTimeout)
	defer cancel()
	if ferr := s.Logouts.FinishLogout(fctx, d.ID, owner, now, err == nil, next); ferr != nil {
		s.log().Warn("record back-channel logout", "error", ferr.Error())
	}
}

// releaseLogouts hands back the leases owner still holds, on a context of
// its own: ctx may have ended (a shutdown).
func (s *Server) releaseLogouts(ctx context.Context, owner string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logoutTimeout)
	defer cancel()
	if err := s.Logouts.ReleaseLogouts(rctx, owner); err != nil {
		s.log().Warn("release back-channel logout leases", "error", err.Error())
	}
}

// PurgeExpired deletes the authorization codes that expired CodeKeep ago
// (used or not: a code is stored for every authorization request, and one
// never exchanged would otherwise stay forever), back-channel logout deliveries
// a day past their deadline (delivered, given up, or too late to send) and
// the session grants of sessions that have ended by expiring: a session
// that ends any other way hands its grants to SessionEnded, but one that
// expires does not, and its grants would stay forever. A grant is made
// after its session began, so a grant older than SessionLifetime belongs
// to a session that is gone; logoutKeep more covers a session made under a
// longer absolute_timeout shortly before the setting was lowered.
func (s *Server) PurgeExpired(ctx context.Context) (int, error) {
	now := s.Now()
	codes := 0
	if s.Store != nil {
		var err error
		if codes, err = s.Store.DeleteExpiredCodes(ctx, now.Add(-CodeKeep)); err != nil {
			return codes, fmt.Errorf("purge authorization codes: %w", err)
		}
	}
	if s.Logouts == nil {
		return codes, nil
	}
	n, err := s.Logouts.DeleteExpiredLogouts(ctx, now.Add(-logoutKeep))
	n += codes
	if err != nil {
		return n, fmt.Errorf("purge back-channel logouts: %w", err)
	}
	if s.SessionLifetime <= 0 {
		return n, nil
	}
	m, err := s.Logouts.DeleteSessionGrants(ctx, now.Add(-s.SessionLifetime-logoutKeep))
	if err != nil {
		return n + m, fmt.Errorf("purge session grants: %w", err)
	}
	return n + m, nil
}

func (s *Server) deliver(ctx context.Context, d Delivery) error {
	c, err := s.Clients.Lookup(ctx, d.ClientID)
	if errors.Is(err, auth.ErrNotFound) || err == nil && c.BackchannelLogoutURI == "" {
		return nil // client deleted or not interested: nothing to deliver
	}
	if err != nil {
		// The client store did not answer (auth.ErrUnavailable): a failed
		// attempt, retried with backoff like an app that answers 500, not a
		// logout to drop (contract §8).
		return fmt.Errorf("look up client: %w", err)
	}
	raw, err := s.LogoutToken(d.ClientID, d.UserID, d.SessionID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, logoutTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI,
		strings.NewReader(url.Values{"logout_token": {raw}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := s.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("post logout token: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post logout token: status %d", resp.StatusCode)
	}
	return nil
}

// LogoutToken signs a logout token for clientID about session sessionID of
// userID: iss, aud, iat, exp, jti, sub, sid, events; never a nonce.
func (s *Server) LogoutToken(clientID, userID, sessionID string) (string, error) {
	jti, err := client.NewSecret()
	if err != nil {
		return "", err
	}
	now := s.Issuer.Now().Truncate(time.Second)
	raw, err := s.Issuer.Sign(jwt.MapClaims{
		"iss": s.Issuer.Issuer(), "aud": clientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": jti, "sub": userID, "sid": sessionID, "events": map[string]any{backchannelEvent: map[string]any{}},
	}, LogoutTokenType)
	if err != nil {
		return "", fmt.Errorf("sign logout token: %w", err)
	}
	return raw, nil
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}
