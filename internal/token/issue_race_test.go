package token_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// beforeCreate is the real refresh store with one pause: the next family
// write first runs meanwhile, which is what an operator's command does
// in another process while `gatehouse token issue` is between its read
// of the user and its write of the token's family.
type beforeCreate struct {
	token.RefreshStore
	meanwhile func()
}

func (b *beforeCreate) CreateRefresh(ctx context.Context, r token.Refresh) error {
	if f := b.meanwhile; f != nil {
		b.meanwhile = nil
		f()
	}
	return b.RefreshStore.CreateRefresh(ctx, r)
}

// A disable, delete or logout everywhere (`gatehouse user disable`,
// `delete`, `logout`) that lands between `gatehouse token issue`'s read of
// the user and its write of the token's family must not leave a token
// behind: the command's revocation found no family to end, and the token
// was valid for its whole --ttl. IssueAccess reads the user again after
// the write, ends the family and refuses with auth.ErrRevoked; a change
// that ends no credential (roles) does not stop it.
func TestIssueAccessRacingUserRevocationLeavesNoToken(t *testing.T) {
	ctx := context.Background()
	hasher, err := password.NewHasher(password.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	changes := []struct {
		name   string
		change func(users *user.Service) error
		issued bool
	}{
		{"disable", func(users *user.Service) error { _, err := users.SetDisabled(ctx, "alice", true); return err }, false},
		{"delete", func(users *user.Service) error { return users.Delete(ctx, "alice") }, false},
		{"logout everywhere", func(users *user.Service) error {
			_, err := users.LogoutEverywhere(ctx, "alice", "cli")
			return err
		}, false},
		{"roles changed", func(users *user.Service) error { _, err := users.SetRoles(ctx, "alice", []string{"ops"}); return err }, true},
	}
	backends := []struct {
		name string
		open func(t *testing.T) mainStore
	}{
		{"sqlite", func(t *testing.T) mainStore { return sqlitetest.New(t) }},
		{"postgres", func(t *testing.T) mainStore { return pgtest.New(t) }},
	}
	for _, b := range backends {
		for _, tt := range changes {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				e := newEnvOn(t, keys.ES256, b.open(t))
				users := user.NewService(e.db, hasher, user.WithRevokers(e.grants)) // the operator's process
				u, err := users.Get(ctx, "alice")                                   // the token command's read
				if err != nil {
					t.Fatal(err)
				}
				var changeErr error
				st := &beforeCreate{RefreshStore: e.refresh, meanwhile: func() { changeErr = tt.change(users) }}
				raw, err := e.grantsOver(st).IssueAccess(ctx, u, "gatehouse-cli", time.Hour, "cli")
				if changeErr != nil {
					t.Fatalf("%s meanwhile: %v", tt.name, changeErr)
				}
				if tt.issued {
					if err != nil {
						t.Fatalf("IssueAccess = %v, want a token", err)
					}
					if _, err := e.verifier.Verify(ctx, raw); err != nil {
						t.Errorf("the token issued is refused: %v", err)
					}
					return
				}
				if !errors.Is(err, auth.ErrRevoked) || raw != "" {
					t.Errorf("IssueAccess returned a token: %t, error %v; want no token and auth.ErrRevoked", raw != "", err)
				}
				fams, err := e.grants.Families(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range fams {
					if f.RevokedAt.IsZero() {
						t.Errorf("family %s of the user is live after the race", f.ID)
					}
				}
			})
		}
	}
}
