package user

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// FactorResetter removes every second factor of a user (mfa.Service
// implements it: TOTP, recovery codes and whatever else it stores).
type FactorResetter interface {
	Reset(ctx context.Context, userID string) error
}

// WithFactorReset lets ResetSecondFactors remove factors through f.
func WithFactorReset(f FactorResetter) Option { return func(s *Service) { s.factors = f } }

// ResetSecondFactors is the one operator reset of a user's second factors,
// shared by `gatehouse user mfa-reset` and the admin API: it removes every
// factor, then ends every session and refresh family of the user (the
// account may be compromised, so it is signed out everywhere), and audits
// mfa.reset. via names the channel ("cli", "admin"); the event's "actor"
// is via unless the request names an acting administrator, whom the audit
// logger then records instead (audit.SetActor).
//
// Errors: auth.ErrNotFound for an unknown user; a failed removal stops
// before anything is signed out; a failed sign-out is returned after the
// factors are gone (and audited), so the operator can repeat it.
func (s *Service) ResetSecondFactors(ctx context.Context, name, via string) (auth.User, error) {
	if s.factors == nil {
		return auth.User{}, errors.New("reset second factors: no factor store configured")
	}
	u, err := s.Get(ctx, name)
	if err != nil {
		return auth.User{}, err
	}
	if err := s.factors.Reset(ctx, u.ID); err != nil {
		return auth.User{}, fmt.Errorf("reset second factors of %q: %w", u.Username, err)
	}
	s.record(ctx, audit.Event{Type: audit.MFAReset, UserID: u.ID, Username: u.Username,
		Details: map[string]string{"via": via, "actor": via, "sessions": "all"}})
	return u, s.RevokeAll(ctx, u)
}
