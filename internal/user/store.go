package user

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// ErrStale is UpdateUser's refusal to overwrite a user that changed since
// the caller read it. It is an auth.ErrConflict; the service reads the user
// again and reapplies its change.
var ErrStale = fmt.Errorf("%w: the user changed since it was read", auth.ErrConflict)

// Query selects a page of users for SearchUsers (the admin API's list).
type Query struct {
	// Search keeps users whose NameKey contains NameKey(Search); "" keeps all.
	Search string
	// After is the NameKey of the last user of the previous page; "" starts
	// at the beginning. Keyset paging: pages stay stable while users change.
	After string
	// Limit caps the page: 0 means 50, at most 1000.
	Limit int
}

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
	// SearchUsers returns one page of users ordered by NameKey(username).
	SearchUsers(ctx context.Context, q Query) ([]auth.User, error)
	// UpdateUser replaces username, roles, disabled, password hash,
	// revocations and updated_at of the user with u.ID, only while the stored updated_at is
	// still prev (the UpdatedAt the caller read): a whole-record write must
	// not undo a change made in between, such as a disable landing while a
	// password was being hashed. ErrStale when it changed, auth.ErrNotFound
	// when the user is gone.
	UpdateUser(ctx context.Context, u auth.User, prev time.Time) error
	DeleteUser(ctx context.Context, id string) error
}
