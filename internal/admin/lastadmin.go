package admin

import (
	"context"
	"fmt"
	"slices"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// The admin API and console keep at least one enabled administrator: a
// delete, disable or role change that would leave none is refused with
// 409 conflict, so that nobody locks everybody out over HTTP. The CLI
// (`gatehouse user …`, on the store's host) calls user.Service directly
// and is not limited: it is how an operator recovers, or removes the last
// administrator on purpose.
//
// The store has no transaction spanning "is there another administrator?"
// and the write. So changes go through keepAdmin, which serialises them
// within this instance (two administrators demoting each other here: one
// wins, the other gets 409) and, for a disable or a role change, looks
// again after the write and undoes it when no administrator is left (two
// instances at the same moment: both may undo, never both win). A delete
// cannot be undone; two instances deleting the last two administrators at
// the same instant can still both succeed. The CLI recovers from that.

// holdsAdminRole reports whether roles admit to the admin surface: one of
// admin.roles, and never when admin.roles is empty (admin is off). It is
// the one definition, used by authenticate and by keepAdmin.
func (h *Handler) holdsAdminRole(roles []string) bool {
	admin := h.d.Config.Admin.Roles
	return len(admin) > 0 && slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(admin, r) })
}

// isAdmin reports whether u can administer: enabled, with an admin role.
func (h *Handler) isAdmin(u auth.User) bool { return !u.Disabled && h.holdsAdminRole(u.Roles) }

// lastAdmin is the refusal: 409 conflict with a description saying why and
// what to do (the console shows it as its error page).
func lastAdmin(u auth.User) error {
	return httperr.Describe(fmt.Errorf("%w: %q is the last enabled administrator", auth.ErrConflict, u.Username),
		fmt.Sprintf("%s is the last enabled administrator; give another enabled user a role in admin.roles first "+
			"(or use `gatehouse user` on the server)", u.Username))
}

// change is one admin-rights-affecting change for keepAdmin.
type change struct {
	// after is the user as the change leaves it (nil: deleted).
	after func(auth.User) *auth.User
	// apply makes the change.
	apply func(ctx context.Context) (auth.User, error)
	// undo restores before after apply (nil: the change cannot be undone).
	undo func(ctx context.Context, before auth.User) error
}

// keepAdmin applies c to the user called name unless that leaves no
// enabled administrator; then it answers lastAdmin and changes nothing.
func (h *Handler) keepAdmin(ctx context.Context, name string, c change) (auth.User, error) {
	h.adminMu.Lock()
	defer h.adminMu.Unlock()
	before, err := h.d.Users.Get(ctx, name)
	if err != nil {
		return auth.User{}, err
	}
	if after := c.after(before); !h.isAdmin(before) || after != nil && h.isAdmin(*after) {
		return c.apply(ctx) // no administrator is lost
	}
	if ok, err := h.anotherAdmin(ctx, before.ID); err != nil || !ok {
		if err == nil {
			err = lastAdmin(before)
		}
		return auth.User{}, err
	}
	u, err := c.apply(ctx)
	if err != nil || c.undo == nil {
		return u, err
	}
	// Another instance may have taken the other administrator's rights
	// since the check: look again, and put this user back if none is left
	// (or if that cannot be known: fail closed).
	ok, err := h.anotherAdmin(ctx, before.ID)
	if err == nil && ok {
		return u, nil
	}
	if err == nil {
		err = lastAdmin(before)
	}
	if uerr := c.undo(ctx, before); uerr != nil {
		return auth.User{}, fmt.Errorf("undo the change to the last administrator %q: %w", before.Username, uerr)
	}
	return auth.User{}, err
}

// anotherAdmin reports whether an enabled administrator other than the
// user with id exists. It pages through the users and stops at the first.
func (h *Handler) anotherAdmin(ctx context.Context, id string) (bool, error) {
	q := user.Query{Limit: 1000}
	for {
		us, err := h.d.Users.Search(ctx, q)
		if err != nil {
			return false, err
		}
		for _, u := range us {
			if u.ID != id && h.isAdmin(u) {
				return true, nil
			}
		}
		if len(us) < q.Limit {
			return false, nil
		}
		q.After = user.NameKey(us[len(us)-1].Username)
	}
}

// deleteUserKeepingAdmin deletes name (API and console) unless it is the
// last administrator.
func (h *Handler) deleteUserKeepingAdmin(ctx context.Context, name string) error {
	_, err := h.keepAdmin(ctx, name, change{
		after: func(auth.User) *auth.User { return nil },
		apply: func(ctx context.Context) (auth.User, error) { return auth.User{}, h.d.Users.Delete(ctx, name) },
	})
	return err
}

// setDisabledKeepingAdmin disables or enables name (API and console); it
// refuses to disable the last administrator.
func (h *Handler) setDisabledKeepingAdmin(ctx context.Context, name string, disabled bool) (auth.User, error) {
	return h.keepAdmin(ctx, name, change{
		after: func(u auth.User) *auth.User { u.Disabled = disabled; return &u },
		apply: func(ctx context.Context) (auth.User, error) { return h.d.Users.SetDisabled(ctx, name, disabled) },
		undo: func(ctx context.Context, before auth.User) error {
			// The user's sessions and grants, ended by the disable, stay
			// ended: they sign in again.
			_, err := h.d.Users.SetDisabled(ctx, name, before.Disabled)
			return err
		},
	})
}

// setRolesKeepingAdmin replaces name's roles (API and console); it refuses
// to take the last administrator's admin role.
func (h *Handler) setRolesKeepingAdmin(ctx context.Context, name string, roles []string) (auth.User, error) {
	if err := auth.CheckRoles(roles); err != nil {
		return auth.User{}, err // a malformed list is a 400 whoever it is for
	}
	return h.keepAdmin(ctx, name, change{
		after: func(u auth.User) *auth.User { u.Roles = roles; return &u },
		apply: func(ctx context.Context) (auth.User, error) { return h.d.Users.SetRoles(ctx, name, roles) },
		undo: func(ctx context.Context, before auth.User) error {
			_, err := h.d.Users.SetRoles(ctx, name, before.Roles)
			return err
		},
	})
}
