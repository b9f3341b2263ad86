package user_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// racingUsers runs race once, just before the first UpdateUser: another
// instance (or request) changing the user between this one's read and its
// write. The write then goes to the real store.
type racingUsers struct {
	user.Store
	race func()
}

func (s *racingUsers) UpdateUser(ctx context.Context, u auth.User, prev time.Time) error {
	if race := s.race; race != nil {
		s.race = nil
		race()
	}
	return s.Store.UpdateUser(ctx, u, prev)
}

// TestAChangeBetweenReadAndWriteIsKept: every account change reads the user,
// changes one field and stores the whole record. A change another request
// made in between (the window is a password hash long) must survive: a
// password change or a login upgrading its hash must not re-enable a user
// an administrator just disabled, nor give back a role just taken, nor put
// back the password the user just changed.
func TestAChangeBetweenReadAndWriteIsKept(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		params password.Params // of the racing service: stronger makes a login rehash
		change func(svc *user.Service) error
		other  func(svc *user.Service) error
		check  func(t *testing.T, svc *user.Service, u auth.User)
	}{
		{"password change vs disable", cheap,
			func(svc *user.Service) error { return svc.SetPassword(ctx, "alice", newPassword) },
			func(svc *user.Service) error { _, err := svc.SetDisabled(ctx, "alice", true); return err },
			func(t *testing.T, svc *user.Service, u auth.User) {
				if !u.Disabled {
					t.Errorf("alice is enabled again after a racing password change")
				}
			}},
		{"password change vs roles", cheap,
			func(svc *user.Service) error { return svc.SetPassword(ctx, "alice", newPassword) },
			func(svc *user.Service) error { _, err := svc.SetRoles(ctx, "alice", nil); return err },
			func(t *testing.T, svc *user.Service, u auth.User) {
				if slices.Contains(u.Roles, "admin") {
					t.Errorf("alice has admin again after a racing password change: %v", u.Roles)
				}
			}},
		{"login rehash vs disable", stronger,
			func(svc *user.Service) error {
				_, err := svc.Login(ctx, user.Attempt{Username: "alice", Password: goodPassword})
				return err
			},
			func(svc *user.Service) error { _, err := svc.SetDisabled(ctx, "alice", true); return err },
			func(t *testing.T, svc *user.Service, u auth.User) {
				if !u.Disabled {
					t.Errorf("alice is enabled again after a racing login upgraded her hash")
				}
			}},
		{"login rehash vs password change", stronger,
			func(svc *user.Service) error {
				_, err := svc.Login(ctx, user.Attempt{Username: "alice", Password: goodPassword})
				return err
			},
			func(svc *user.Service) error { return svc.SetPassword(ctx, "alice", newPassword) },
			func(t *testing.T, svc *user.Service, _ auth.User) {
				if _, err := svc.Login(ctx, user.Attempt{Username: "alice", Password: goodPassword}); err == nil {
					t.Errorf("the old password works again after a racing login upgraded its hash")
				}
				if _, err := svc.Login(ctx, user.Attempt{Username: "alice", Password: newPassword}); err != nil {
					t.Errorf("login with the new password: %v", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, other := withAlice(t)
			racing := &racingUsers{Store: st}
			svc := serviceOn(t, racing, tt.params)
			var otherErr error
			racing.race = func() { otherErr = tt.other(other) }

			if err := tt.change(svc); err != nil {
				t.Fatalf("change: %v", err)
			}
			if otherErr != nil {
				t.Fatalf("racing change: %v", otherErr)
			}
			u, err := other.Get(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, other, u)
		})
	}
}
