package user_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// BenchmarkLoginFailure shows that an unknown user, a wrong password and a
// disabled user cost the same (one argon2id verification each), so timing
// does not reveal which usernames exist:
//
//	go test -run '^$' -bench LoginFailure -benchtime 20x ./internal/user/
func BenchmarkLoginFailure(b *testing.B) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "gh.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	hasher, err := password.NewHasher(password.DefaultParams, 0)
	if err != nil {
		b.Fatal(err)
	}
	users := user.NewService(store, hasher)
	for _, name := range []string{"alice", "mallory"} {
		if _, err := users.Create(ctx, name, "correct horse battery staple", nil); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := users.SetDisabled(ctx, "mallory", true); err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct{ name, user, password string }{
		{"unknown_user", "nobody", "correct horse battery staple"},
		{"wrong_password", "alice", "not the password at all"},
		{"disabled_user", "mallory", "correct horse battery staple"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := users.Login(ctx, user.Attempt{Username: tt.user, Password: tt.password}); !errors.Is(err, auth.ErrInvalidCredentials) {
					b.Fatalf("Login = %v, want ErrInvalidCredentials", err)
				}
			}
		})
	}
}
