package user

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Attempt is one password login, from /auth/login or the password grant.
type Attempt struct {
	Username string
	Password string
	IP       string
	Via      string // "form", "json", "token" — for the audit trail
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
// hashing. A store failure returns a wrapped auth.ErrUnavailable.
func (s *Service) Login(ctx context.Context, a Attempt) (auth.User, error) {
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
				ev.Type = audit.LoginThrottled
				s.record(ctx, ev)
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
	ev.Type, ev.UserID, ev.Username = audit.LoginOK, u.ID, u.Username
	ev.Details["method"] = "password"
	s.record(ctx, ev)
	return u, nil
}

// checkPassword returns the user, or a non-empty failure reason for the
// audit log. Every path runs exactly one argon2id verification.
func (s *Service) checkPassword(ctx context.Context, a Attempt) (auth.User, string, error) {
	// A name that is not UTF-8 (form values are bytes) is no account's
	// (CheckName); PostgreSQL would refuse the query, and the refused
	// login would be a 500 with no audit event.
	u, err := auth.User{}, auth.ErrNotFound
	if utf8.ValidString(a.Username) {
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
	ok, rehash, err := s.hasher.Verify(ctx, a.Password, u.PasswordHash)
	if err != nil {
		return u, "", fmt.Errorf("login: verify password: %w", err)
	}
	switch {
	case !ok:
		return u, "wrong_password", nil
	case u.Disabled:
		return u, "disabled", nil
	}
	if rehash {
		if h, err := s.hasher.Hash(ctx, a.Password); err == nil {
			u.PasswordHash = h
			// A failed upgrade must not fail the login; the next one retries.
			// Nor may it undo a change made since u was read (a disable, a
			// new password): update then refuses with ErrStale.
			_ = s.update(ctx, &u)
		}
	}
	return u, "", nil
}
