package mfa

import (
	"errors"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// The error_descriptions of ErrNoFactor and ErrTOTPActive (409): the
// sentence tells the caller what to do, which a bare "conflict" does not.
const (
	NoFactorDescription   = "recovery codes back up an authenticator app or a passkey; set one up first"
	TOTPActiveDescription = "TOTP is already active; delete it first (DELETE /auth/mfa/totp)"
)

var (
	// ErrInvalidCode: a TOTP or recovery code is wrong, already used, or
	// the factor is not enrolled. It wraps auth.ErrInvalidCredentials, so
	// the answer cannot tell a wrong code from a replayed one.
	ErrInvalidCode = fmt.Errorf("invalid code: %w", auth.ErrInvalidCredentials)
	// ErrNoEncryptionKey: TOTP enrolment needs keys.encryption_key to seal
	// the secret at rest, and none is configured.
	ErrNoEncryptionKey = fmt.Errorf("%w: TOTP enrolment needs keys.encryption_key (or keys.encryption_key_file) in the configuration to encrypt secrets at rest", auth.ErrInvalidInput)
	// ErrNotEnrolled: the user has no pending TOTP enrolment to confirm.
	ErrNotEnrolled = fmt.Errorf("%w: no TOTP enrolment in progress (POST /auth/mfa/totp first)", auth.ErrInvalidInput)
	// ErrNoFactor: recovery codes are asked for by a user without a real
	// factor (a confirmed TOTP or a passkey). They back up a factor and
	// are none themselves (docs/mfa.md).
	ErrNoFactor = fmt.Errorf("%w: %s", auth.ErrConflict, NoFactorDescription)
	// ErrTOTPActive: a TOTP enrolment is asked for while a confirmed one
	// is active (EnrolTOTP); TOTPActiveDescription is its error_description.
	ErrTOTPActive = fmt.Errorf("%w: %s", auth.ErrConflict, TOTPActiveDescription)
	// ErrTooManyPasskeys: the user has MaxPasskeys passkeys already
	// (BeginRegistration, and the store's AddCredential under the user's
	// lock). It wraps auth.ErrConflict (409); TooManyPasskeysDescription
	// is its error_description.
	ErrTooManyPasskeys = fmt.Errorf("%w: %s", auth.ErrConflict, TooManyPasskeysDescription)
	// ErrReauthRequired: changing factors needs a login within the last
	// five minutes or a session that used a second factor.
	ErrReauthRequired = errors.New("recent login or second factor required")
	// ErrPendingTooLarge: the pending-login cookie would exceed
	// auth.MaxCookieSize even without next (an OIDC provider's sid and sub are
	// too long to carry), so a browser would drop it.
	ErrPendingTooLarge = errors.New("pending login too large for a cookie")
	// ErrPendingEnded: the pending login's second step was passed already
	// and earned its session (Service.EndPending). It wraps
	// auth.ErrUnauthenticated: the step is refused as with an expired
	// pending cookie.
	ErrPendingEnded = fmt.Errorf("%w: this login's second step is done; sign in again", auth.ErrUnauthenticated)
)
