package user_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// checkingUsers runs during once, just after the login's first read of the
// user: another request changing the user while the login hashes the
// password. The reads go to the real store.
type checkingUsers struct {
	user.Store
	during func()
}

func (s *checkingUsers) UserByName(ctx context.Context, name string) (auth.User, error) {
	u, err := s.Store.UserByName(ctx, name)
	if during := s.during; during != nil {
		s.during = nil
		during()
	}
	return u, err
}

// TestAChangeDuringTheCheckDecidesTheLogin: a password change or a disable
// ends every session and refresh family of the user. A login that read
// the user before it and checked the old password while it landed must
// not start a new one afterwards (a session, or a password grant's tokens):
// the intruder the password change was meant to evict would stay in. An
// upgrade of the same password by another login is no such change.
func TestAChangeDuringTheCheckDecidesTheLogin(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		during func(other, upgrading *user.Service) error
		ok     bool
	}{
		{"password changed", func(other, _ *user.Service) error { return other.SetPassword(ctx, "alice", newPassword) }, false},
		{"disabled", func(other, _ *user.Service) error { _, err := other.SetDisabled(ctx, "alice", true); return err }, false},
		{"deleted", func(other, _ *user.Service) error { return other.Delete(ctx, "alice") }, false},
		{"roles changed", func(other, _ *user.Service) error { _, err := other.SetRoles(ctx, "alice", nil); return err }, true},
		{"hash upgraded by another login", func(_, upgrading *user.Service) error {
			_, err := upgrading.Login(ctx, user.Attempt{Username: "alice", Password: goodPassword})
			return err
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, other := withAlice(t)
			checking := &checkingUsers{Store: st}
			svc := serviceOn(t, checking, cheap)
			var duringErr error
			checking.during = func() { duringErr = tt.during(other, newService(t, st, stronger)) }

			u, err := svc.Login(ctx, user.Attempt{Username: "alice", Password: goodPassword})
			if duringErr != nil {
				t.Fatalf("change during the check: %v", duringErr)
			}
			if !tt.ok {
				if !errors.Is(err, auth.ErrInvalidCredentials) {
					t.Errorf("login with the password as it was before the change = %v, want ErrInvalidCredentials", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("login = %v, want success", err)
			}
			stored, err := other.Get(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if len(u.Roles) != len(stored.Roles) {
				t.Errorf("login's user has roles %v, stored %v", u.Roles, stored.Roles)
			}
		})
	}
}

// TestLoginReturnsTheStoredPassword: the second step of a login is bound to
// the user's password hash as the password step returned it, and checked
// against the stored one (mfa.Pending.Bound). When the login's upgrade of
// an outdated hash is not stored (another change landed first), the user
// it returns must still carry the stored hash, or the user cannot finish
// the second step of that login.
func TestLoginReturnsTheStoredPassword(t *testing.T) {
	ctx := context.Background()
	st, other := withAlice(t)
	racing := &racingUsers{Store: st}
	svc := serviceOn(t, racing, stronger)
	racing.race = func() {
		if _, err := other.SetRoles(ctx, "alice", []string{"admin", "ops"}); err != nil {
			t.Errorf("racing role change: %v", err)
		}
	}
	u, err := svc.Login(ctx, user.Attempt{Username: "alice", Password: goodPassword})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	stored, err := other.Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	pending := mfa.Pending{UserID: u.ID, Bind: mfa.BindOf(u)}
	if !pending.Bound(stored) {
		t.Errorf("the second step of the login is bound to a hash that is not stored (login's %q, stored %q)", u.PasswordHash, stored.PasswordHash)
	}
}

// A stored hash that is not a well-formed argon2id string (a damaged or
// hand-edited row) fails the login closed: an error, never a login, and an
// error text without the stored hash.
func TestMalformedStoredHashFailsClosed(t *testing.T) {
	ctx := context.Background()
	st, other := withAlice(t)
	u, err := st.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	u.PasswordHash = strings.Replace(u.PasswordHash, "$v=19$", "$v=19x$", 1)
	prev := u.UpdatedAt
	u.UpdatedAt = time.Now().UTC()
	if err := st.UpdateUser(ctx, u, prev); err != nil {
		t.Fatal(err)
	}
	_, err = other.Login(ctx, user.Attempt{Username: "alice", Password: goodPassword})
	if !errors.Is(err, password.ErrMalformedHash) || errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("login over a malformed hash = %v, want password.ErrMalformedHash", err)
	}
	if strings.Contains(err.Error(), u.PasswordHash) {
		t.Errorf("the error shows the stored hash: %v", err)
	}
}
