package mfa

import (
	"context"
	"time"
)

// TOTP is a user's TOTP factor as stored. Secret is sealed (see Service);
// the store never sees the plain secret.
type TOTP struct {
	UserID    string
	Secret    []byte // sealed
	CreatedAt time.Time
	// ConfirmedAt is zero while enrolment waits for a correct code; only a
	// confirmed TOTP is a factor.
	ConfirmedAt time.Time
}

// Confirmed reports whether the TOTP is active.
func (t TOTP) Confirmed() bool { return !t.ConfirmedAt.IsZero() }

// Store persists factors.
//
// Errors: auth.ErrNotFound for a missing record (or a user that does not
// exist, on stores with referential integrity), auth.ErrUnavailable
// (wrapped) when the backend does not answer.
type Store interface {
	// PutTOTP stores t as the user's TOTP, replacing any previous one
	// (confirmed or not).
	PutTOTP(ctx context.Context, t TOTP) error
	// TOTP returns the user's TOTP, confirmed or not.
	TOTP(ctx context.Context, userID string) (TOTP, error)
	// ConfirmTOTP activates the user's pending TOTP whose CreatedAt is
	// created (so a confirmation cannot activate a newer, unseen secret);
	// auth.ErrNotFound when there is no such TOTP.
	ConfirmTOTP(ctx context.Context, userID string, created, at time.Time) error
	// DeleteTOTP removes the user's TOTP; auth.ErrNotFound when absent.
	DeleteTOTP(ctx context.Context, userID string) error

	// ReplaceRecoveryCodes stores hashes as the user's only recovery codes.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, at time.Time) error
	// UseRecoveryCode marks the unused code with hash as used, atomically:
	// of two concurrent uses exactly one succeeds. auth.ErrNotFound when no
	// unused code of the user has this hash.
	UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) error
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	// DeleteRecoveryCodes removes every recovery code of the user.
	DeleteRecoveryCodes(ctx context.Context, userID string) error
}

// StepStore remembers the last accepted TOTP time step of each user, so a
// code is accepted at most once even across instances.
type StepStore interface {
	// AcceptTOTPStep records step for userID and returns true when it is
	// later than every step accepted before; false (a replay) otherwise.
	// The record may be forgotten after keepUntil, when no code of that
	// step can be valid any more. Atomic: of two concurrent calls with the
	// same step, exactly one returns true.
	AcceptTOTPStep(ctx context.Context, userID string, step int64, keepUntil time.Time) (bool, error)
}
