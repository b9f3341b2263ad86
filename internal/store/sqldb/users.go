package sqldb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

var _ user.Store = (*Store)(nil)

const userColumns = `id, username, roles, disabled, password_hash, created_at, updated_at, revocations`

// CreateUser stores u; auth.ErrConflict when the ID or NameKey(username) is
// taken.
func (db *Store) CreateUser(ctx context.Context, u auth.User) error {
	roles, err := encodeJSON(u.Roles, "[]")
	if err != nil {
		return db.wrap("create user", err)
	}
	_, err = db.exec(ctx, "create user",
		`INSERT INTO users (id, username, username_key, roles, disabled, password_hash, created_at, updated_at, revocations)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Username, user.NameKey(u.Username), roles, u.Disabled, u.PasswordHash, micros(u.CreatedAt), micros(u.UpdatedAt), u.Revocations)
	return err
}

// UserByID returns the user with id, or auth.ErrNotFound.
func (db *Store) UserByID(ctx context.Context, id string) (auth.User, error) {
	u, err := scanUser(db.queryRow(ctx, "load user", `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	return u, db.wrap("load user", err)
}

// UserByName returns the user whose NameKey equals NameKey(name), or
// auth.ErrNotFound.
func (db *Store) UserByName(ctx context.Context, name string) (auth.User, error) {
	u, err := scanUser(db.queryRow(ctx, "load user by name", `SELECT `+userColumns+` FROM users WHERE username_key = ?`, user.NameKey(name)))
	return u, db.wrap("load user by name", err)
}

// ListUsers returns every user ordered by username key.
func (db *Store) ListUsers(ctx context.Context) ([]auth.User, error) {
	return queryAll(ctx, db, "list users", scanUser, `SELECT `+userColumns+` FROM users ORDER BY username_key, id`)
}

// SearchUsers returns users whose username key contains q.Search's key and
// sorts after q.After, ordered by username key (the unique index pages it).
func (db *Store) SearchUsers(ctx context.Context, q user.Query) ([]auth.User, error) {
	query := `SELECT ` + userColumns + ` FROM users WHERE username_key > ?`
	args := []any{q.After}
	if q.Search != "" {
		query += ` AND username_key LIKE ? ESCAPE '!'`
		args = append(args, "%"+likeEscape(user.NameKey(q.Search))+"%")
	}
	query += ` ORDER BY username_key LIMIT ?`
	return queryAll(ctx, db, "search users", scanUser, query, append(args, user.PageLimit(q.Limit))...)
}

// likeEscape escapes LIKE's wildcards with "!" (ESCAPE '!').
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// UpdateUser replaces username, roles, disabled, password hash,
// revocations and updated_at when the stored updated_at is still prev (compare-and-swap, so
// that concurrent changes of one user are applied one after the other, not
// lost); user.ErrStale when it is not, auth.ErrNotFound for an unknown ID,
// auth.ErrConflict when the new username's key belongs to another user.
func (db *Store) UpdateUser(ctx context.Context, u auth.User, prev time.Time) error {
	roles, err := encodeJSON(u.Roles, "[]")
	if err != nil {
		return db.wrap("update user", err)
	}
	n, err := db.exec(ctx, "update user",
		`UPDATE users SET username = ?, username_key = ?, roles = ?, disabled = ?, password_hash = ?, updated_at = ?, revocations = ?
		 WHERE id = ? AND updated_at = ?`,
		u.Username, user.NameKey(u.Username), roles, u.Disabled, u.PasswordHash, micros(u.UpdatedAt), u.Revocations, u.ID, micros(prev))
	if err != nil || n == 1 {
		return err
	}
	// No row matched: the user is gone (auth.ErrNotFound) or changed.
	var one int
	if err := db.queryRow(ctx, "update user", `SELECT 1 FROM users WHERE id = ?`, u.ID).Scan(&one); err != nil {
		return db.wrap("update user", err)
	}
	return fmt.Errorf("update user: %w", user.ErrStale)
}

// DeleteUser removes the user and, by cascade, their sessions, refresh
// families and tokens, and linked identities; auth.ErrNotFound when absent.
//
// The DELETE is by primary key and runs again after a dead connection
// (deleteByKey), and then finding no user is success: the run whose answer
// was lost may have deleted it. The cascade is part of the one statement,
// so a second run leaves what the first did: once the user row is gone no
// row can name it (the foreign keys refuse it), and user IDs are never
// reused (user.NewID).
func (db *Store) DeleteUser(ctx context.Context, id string) error {
	return db.deleteByKey(ctx, "delete user", `DELETE FROM users WHERE id = ?`, id)
}

func scanUser(row scanner) (auth.User, error) {
	var (
		u                auth.User
		roles            string
		created, updated int64
	)
	if err := row.Scan(&u.ID, &u.Username, &roles, &u.Disabled, &u.PasswordHash, &created, &updated, &u.Revocations); err != nil {
		return auth.User{}, err
	}
	if err := decodeJSON(roles, &u.Roles); err != nil {
		return auth.User{}, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return u, nil
}
