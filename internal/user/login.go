package user

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// Attempt is one password login, from /auth/login or the password grant.
type Attempt struct {
	Username string
	Password string
	IP       string
	Via      string // "form", "json", "token" — for the audit trail
	// SecondStep, when set, is asked after a correct password whether the
	// login needs a second step (a factor, or an enrolment) before it is
	// complete. If so, the login.ok event says second_factor=required, as
	// an OIDC login's does: the step that completes the login records its
	// own. An error (a store that does not answer) fails the login.
	SecondStep func(context.Context, auth.User) (bool, error)
}

// AdmitLogin is called by the login endpoints before they read the request
// body: it refuses (after the shed delay) a login from a client ip that has
// passwords.max_per_client logins in flight, or when the hashing queue is
// full, with a wrapped *auth.OverloadedError. On success the caller calls
// release when the login is over.
func (s *Service) AdmitLogin(ctx context.Context, ip string) (release func(), err error) {
	release, err = s.hasher.AdmitClient(ctx, ip)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return release, nil
}

// Login checks a password. Unknown user, wrong password, disabled user and
// a user without a password all return auth.ErrInvalidCredentials after the
// same amount of hashing work, so neither the response nor its timing tells
// them apart. Too many failures return *auth.ThrottledError before any
// hashing. A store failure returns a wrapped auth.ErrUnavailable. A
// password longer than password.MaxLength characters (password.TooLong)
// returns a wrapped auth.ErrInvalidInput (its message names the limit)
// before anything else.
func (s *Service) Login(ctx context.Context, a Attempt) (auth.User, error) {
	// No account's password is longer (CheckStrength refuses it on every
	// path that sets one), so such a password is no guess at any: it is
	// refused at once, for every username alike, neither counted by the
	// throttle nor audited, and never hashed — argon2id would first read
	// all of it, up to the 1 MiB body cap, on a hashing slot.
	if password.TooLong(a.Password) {
		return auth.User{}, fmt.Errorf("%w: the password must be at most %d characters", auth.ErrInvalidInput, password.MaxLength)
	}
	name := attemptName(a.Username)
	key := NameKey(name)
	// Shed before any store work when the hashing queue is full.
	if err := s.hasher.Admit(); err != nil {
		return auth.User{}, fmt.Errorf("login: %w", err)
	}
	ev := audit.Event{Username: name, IP: a.IP, Details: map[string]string{"via": a.Via}}
	// The attempt is counted as a failure before the password is checked
	// (Attempt): checked first and counted after, logins sent at once all
	// passed the check before any was counted. settle ends it with the
	// check's outcome.
	settle := func(context.Context, error) error { return nil }
	if s.limiter != nil {
		var err error
		if settle, err = s.limiter.Attempt(ctx, key, a.IP); err != nil {
			if errors.Is(err, auth.ErrThrottled) {
				// Refused before any hashing, so free to repeat: one
				// event per throttle key and minute, with the count of
				// the refusals in between (audit.RecordCoalesced).
				ev.Type = audit.LoginThrottled
				s.audit.RecordCoalesced(ctx, auth.ThrottleKey(err), ev)
			}
			return auth.User{}, err
		}
	}
	u, reason, err := s.checkPassword(ctx, a)
	if err != nil {
		_ = settle(ctx, err) // not decided: not a failure
		return auth.User{}, err
	}
	if reason != "" { // stays counted
		ev.Type, ev.UserID = audit.LoginFailed, u.ID
		ev.Details["reason"] = reason
		s.record(ctx, ev)
		return auth.User{}, auth.ErrInvalidCredentials
	}
	if err := settle(ctx, nil); err != nil {
		return auth.User{}, err
	}
	if a.SecondStep != nil {
		required, err := a.SecondStep(ctx, u)
		if err != nil {
			return auth.User{}, fmt.Errorf("login: %w", err)
		}
		if required {
			ev.Details["second_factor"] = "required"
		}
	}
	ev.Type, ev.UserID, ev.Username = audit.LoginOK, u.ID, u.Username
	ev.Details["method"] = "password"
	s.record(ctx, ev)
	return u, nil
}

// checkPassword returns the user, or a non-empty failure reason for the
// audit log. Every path runs one argon2id verification (two when the
// user's hash changed during the first).
func (s *Service) checkPassword(ctx context.Context, a Attempt) (auth.User, string, error) {
	// A name that is not UTF-8 (form values are bytes) or holds NUL is no
	// account's (CheckName); PostgreSQL would refuse the query, and the
	// refused login would be a 400 or 500, uncounted, with no audit event.
	// Nor is one longer than MaxNameLen: the throttle counts it under its
	// cut (attemptName), and a spelling can be longer than the name it
	// matches ("J" + combining caron folds to the one "ǰ"), so looking it
	// up gave an account's guessers endless counts apart from its own.
	u, err := auth.User{}, auth.ErrNotFound
	if auth.StorableText(a.Username) && fitsName(a.Username) {
		u, err = s.store.UserByName(ctx, a.Username)
	}
	switch {
	case errors.Is(err, auth.ErrNotFound):
		if err := s.hasher.VerifyDummy(ctx, a.Password); err != nil {
			return auth.User{}, "", fmt.Errorf("login: %w", err)
		}
		return auth.User{}, "unknown_user", nil
	case err != nil:
		return auth.User{}, "", fmt.Errorf("login: %w", err)
	case u.PasswordHash == "":
		if err := s.hasher.VerifyDummy(ctx, a.Password); err != nil {
			return u, "", fmt.Errorf("login: %w", err)
		}
		return u, "no_password", nil
	}
	// The check takes a hash's time. A password change or a disable that
	// lands meanwhile has already ended the user's sessions and refresh
	// families (SetPassword, SetDisabled): a login with the password it
	// replaced must not start a new one. So the password is checked against
	// the user as stored after the check; if the hash changed meanwhile (a
	// new password, or another login's upgrade of the same one), it is
	// checked once more against the new one.
	for try := 1; ; try++ {
		ok, rehash, err := s.hasher.Verify(ctx, a.Password, u.PasswordHash)
		if err != nil {
			return u, "", fmt.Errorf("login: verify password: %w", err)
		}
		switch {
		case !ok:
			return u, "wrong_password", nil
		case u.Disabled: // before the read below, which a wrong password skips
			return u, "disabled", nil
		}
		now, err := s.store.UserByID(ctx, u.ID)
		switch {
		case errors.Is(err, auth.ErrNotFound): // deleted meanwhile
			return u, "unknown_user", nil
		case err != nil:
			return u, "", fmt.Errorf("login: %w", err)
		case now.PasswordHash == "":
			return now, "no_password", nil
		case now.PasswordHash != u.PasswordHash:
			if try == 2 {
				return now, "password_changed", nil
			}
			u = now
			continue
		case now.Disabled:
			return now, "disabled", nil
		}
		u = now
		if rehash {
			s.upgrade(ctx, &u, a.Password)
		}
		return u, "", nil
	}
}

// upgrade replaces u's hash with one of the current parameters. A failed
// upgrade must not fail the login; the next one retries. Nor may it undo
// a change made since u was read (a disable, a new password): update then
// refuses with ErrStale. u keeps the hash that is stored, which the
// pending second step is bound to (mfa.BindOf).
func (s *Service) upgrade(ctx context.Context, u *auth.User, pw string) {
	h, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return
	}
	next := *u
	next.PasswordHash = h
	if s.update(ctx, &next) == nil {
		*u = next
	}
}

// ConfirmLogin is the end of every login that starts a session or a
// refresh family (a password, a second factor, a passkey, a "Sign in
// with" callback), once it has written it: written is the write's error,
// u the user as the login's step read it before the write, and end ends
// what was written. A disable, delete, password change or logout
// everywhere (RevokeAll) that landed after that read may have ended every
// credential of the user before this one was written. So the user is read
// again: when it is gone, disabled or a revocation was counted since (a
// password change counts one), ConfirmLogin records login.failed (reason
// unknown_user, disabled or revoked), calls end on a context of its own (a
// client going away must not leave the credential live) and returns
// auth.ErrInvalidCredentials, joined with end's error: the caller answers
// as to a disabled user. The order makes it exact: RevokeAll counts before
// it ends the credentials, and the login reads after it wrote, so either
// the read sees the count or the revocation finds the credential. A write
// refused because the user is gone (auth.ErrNotFound from a store with
// referential integrity) is the delete case; any other write error is
// returned as it is. A store failure on the read returns a wrapped
// auth.ErrUnavailable, after end (fail closed).
func (s *Service) ConfirmLogin(ctx context.Context, u auth.User, ip, via string, written error, end func(context.Context) error) error {
	if written != nil && !errors.Is(written, auth.ErrNotFound) {
		return written
	}
	err := s.confirm(ctx, u, ip, via)
	if err == nil {
		return written
	}
	if written == nil {
		if eerr := end(context.WithoutCancel(ctx)); eerr != nil {
			return errors.Join(err, eerr)
		}
	}
	return err
}

// confirm reads u again for ConfirmLogin: nil while it is still the
// enabled user the login read, with no revocation counted since.
func (s *Service) confirm(ctx context.Context, u auth.User, ip, via string) error {
	now, err := s.store.UserByID(ctx, u.ID)
	reason := ""
	switch {
	case errors.Is(err, auth.ErrNotFound):
		reason = "unknown_user"
	case err != nil:
		return fmt.Errorf("confirm login: %w", err)
	default:
		if reason = u.Lapsed(now); reason == "" {
			return nil
		}
	}
	s.record(ctx, audit.Event{Type: audit.LoginFailed, UserID: u.ID, Username: u.Username, IP: ip,
		Details: map[string]string{"via": via, "reason": reason}})
	return auth.ErrInvalidCredentials
}
