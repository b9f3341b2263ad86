package admin

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// racingStore runs race once, just before the first write to the user
// called target: another instance acting between keepAdmin's check and its
// write, which no lock of this instance can stop.
type racingStore struct {
	user.Store
	target string
	race   func()
}

func (s *racingStore) UpdateUser(ctx context.Context, u auth.User, prev time.Time) error {
	if s.race != nil && u.Username == s.target {
		race := s.race
		s.race = nil
		race()
	}
	return s.Store.UpdateUser(ctx, u, prev)
}

// TestKeepAdminUndoesAChangeRacedByAnotherInstance: two instances on one
// SQLite database; root (on A) and dave (on B) take each other's admin
// rights at the same moment. B's change lands inside A's, so both pass
// their first check; A looks again after its write, finds no
// administrator, puts root back and answers 409.
func TestKeepAdminUndoesAChangeRacedByAnotherInstance(t *testing.T) {
	ctx := context.Background()
	cfg := config.Config{}
	cfg.Admin.Roles = []string{"admin"}
	tests := []struct {
		name   string
		change func(h *Handler, name string) error
	}{
		{"set roles to []", func(h *Handler, name string) error {
			_, err := h.setRolesKeepingAdmin(ctx, name, nil)
			return err
		}},
		{"disable", func(h *Handler, name string) error {
			_, err := h.setDisabledKeepingAdmin(ctx, name, true)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatehouse.db")
			storeA := &racingStore{Store: sqlitetest.Open(t, path), target: "root"}
			a := &Handler{d: Deps{Config: cfg, Users: user.NewService(storeA, nil)}}
			b := &Handler{d: Deps{Config: cfg, Users: user.NewService(sqlitetest.Open(t, path), nil)}}
			for _, name := range []string{"root", "dave"} {
				if _, err := a.d.Users.Create(ctx, name, "", []string{"admin"}); err != nil {
					t.Fatal(err)
				}
			}
			var errB error
			storeA.race = func() { errB = tt.change(b, "dave") }

			errA := tt.change(a, "root")

			if errB != nil {
				t.Fatalf("B's change of dave = %v, want it to go through", errB)
			}
			if !errors.Is(errA, auth.ErrConflict) {
				t.Fatalf("A's change of root = %v, want auth.ErrConflict", errA)
			}
			root, err := a.d.Users.Get(ctx, "root")
			if err != nil || root.Disabled || !slices.Contains(root.Roles, "admin") {
				t.Errorf("root = %+v, %v; want an enabled admin again", root, err)
			}
		})
	}
}
