package user

import (
	"context"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Store persists users. Usernames are unique by NameKey(username); the store
// computes and indexes that key itself.
//
// Errors: auth.ErrNotFound for a missing user, auth.ErrConflict when the
// username key or ID is taken, auth.ErrUnavailable (wrapped) when the
// backend does not answer.
type Store interface {
	CreateUser(ctx context.Context, u auth.User) error
	UserByID(ctx context.Context, id string) (auth.User, error)
	// UserByName looks a user up by NameKey(name).
	UserByName(ctx context.Context, name string) (auth.User, error)
	ListUsers(ctx context.Context) ([]auth.User, error)
	// UpdateUser replaces username, roles, disabled, password hash and
	// updated_at of the user with u.ID.
	UpdateUser(ctx context.Context, u auth.User) error
	DeleteUser(ctx context.Context, id string) error
}
