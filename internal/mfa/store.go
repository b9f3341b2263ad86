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
	// PutTOTP stores t as the user's TOTP, replacing an unconfirmed one;
	// auth.ErrConflict when a confirmed one is there (a confirmation that
	// raced the enrolment's check): it must be deleted first.
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

	CredentialStore
}

// Credential is a registered WebAuthn credential (passkey or security key)
// as stored. Data is the go-webauthn credential record as JSON (public
// key, flags, AAGUID, transports); the store does not read it.
type Credential struct {
	ID         []byte // the authenticator's credential ID, unique
	UserID     string
	Name       string
	Kind       string // amr the credential earns: AMRHardware or AMRSoftware
	Data       []byte
	SignCount  uint32
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used to sign in
}

// CredentialStore persists WebAuthn credentials and the challenges of
// finished ceremonies. Errors as for Store.
type CredentialStore interface {
	// AddCredential stores a new credential; auth.ErrConflict when its ID
	// is registered already (to anyone), ErrTooManyPasskeys (an
	// auth.ErrConflict) when the user has MaxPasskeys credentials already
	// — counted atomically with the add, so concurrent adds never pass it
	// — auth.ErrNotFound when the user does not exist.
	AddCredential(ctx context.Context, c Credential) error
	// Credentials lists the user's credentials, oldest first (empty, not
	// an error, when there are none).
	Credentials(ctx context.Context, userID string) ([]Credential, error)
	// UseCredential records a successful assertion of the user's
	// credential id with signCount at at, atomically and only when the
	// count moves forward (or stays 0 for authenticators that keep no
	// counter): auth.ErrNotFound when the credential is not the user's or
	// the count did not advance (a cloned authenticator, or a concurrent
	// use of the same signature).
	UseCredential(ctx context.Context, userID string, id []byte, signCount uint32, at time.Time) error
	// DeleteCredential removes the user's credential id; auth.ErrNotFound
	// when the user has no such credential (another user's included).
	DeleteCredential(ctx context.Context, userID string, id []byte) error
	// DeleteCredentials removes every credential of the user.
	DeleteCredentials(ctx context.Context, userID string) error
	// UseChallenge marks a ceremony challenge (its digest) as finished and
	// returns true the first time; false when it was used before. The
	// record may be forgotten after expires, when the ceremony is dead
	// anyway; records that expired before now may be purged on the way.
	// Atomic: of two concurrent calls exactly one returns true.
	UseChallenge(ctx context.Context, digest string, expires, now time.Time) (bool, error)
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
