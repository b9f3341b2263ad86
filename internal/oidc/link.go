package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// maxUsernameLen bounds usernames taken from a provider.
const maxUsernameLen = 128

// external is the verified identity a provider vouched for.
type external struct {
	Issuer        string
	Subject       string
	Username      string // preferred_username (OIDC) or the mapped username claim (OAuth2)
	Email         string
	EmailVerified bool
}

// resolveUser maps an external identity to the local user it logs in as:
// an existing link, else a link by verified email (link_by_email), else a new
// user (create_users), else refusal.
func (h *Handler) resolveUser(ctx context.Context, p *provider, ext external) (auth.User, *failure) {
	if !emailDomainAllowed(p.cfg.AllowedEmailDomains, ext) {
		return auth.User{}, forbidden("email_domain_not_allowed", "Your account's email domain is not allowed to sign in here.")
	}
	ident, err := h.deps.Identities.IdentityBySubject(ctx, ext.Issuer, ext.Subject)
	switch {
	case err == nil:
		return h.linkedUser(ctx, ident)
	case !errors.Is(err, auth.ErrNotFound):
		return auth.User{}, storeFailure(fmt.Errorf("find identity: %w", err))
	}
	if p.cfg.LinkByEmail && ext.EmailVerified && ext.Email != "" {
		u, err := h.deps.Users.UserByName(ctx, ext.Email)
		switch {
		case err == nil:
			if u.Disabled {
				return auth.User{}, disabledFailure(u)
			}
			return h.link(ctx, p, ext, u)
		case !errors.Is(err, auth.ErrNotFound):
			return auth.User{}, storeFailure(fmt.Errorf("find user by email: %w", err))
		}
	}
	if !p.cfg.CreateUsers {
		return auth.User{}, forbidden("no_local_account", "There is no local account for this sign-in, and this provider does not create accounts.")
	}
	u, f := h.createUser(ctx, p, ext)
	if f != nil {
		return auth.User{}, f
	}
	return h.link(ctx, p, ext, u)
}

func (h *Handler) linkedUser(ctx context.Context, ident Identity) (auth.User, *failure) {
	u, err := h.deps.Users.UserByID(ctx, ident.UserID)
	if errors.Is(err, auth.ErrNotFound) {
		return auth.User{}, forbidden("linked_user_missing", "The account linked to this sign-in no longer exists.")
	}
	if err != nil {
		return auth.User{}, storeFailure(fmt.Errorf("load linked user: %w", err))
	}
	if u.Disabled {
		return auth.User{}, disabledFailure(u)
	}
	if err := h.deps.Identities.TouchIdentity(ctx, ident.Issuer, ident.Subject, h.now()); err != nil {
		// Last-login bookkeeping must not block a login the store just allowed.
		h.log.WarnContext(ctx, "oidc: touch identity", "user_id", u.ID, "error", err.Error())
	}
	return u, nil
}

// link records that ext logs in as u. When a parallel login linked the same
// identity first, that link wins.
func (h *Handler) link(ctx context.Context, p *provider, ext external, u auth.User) (auth.User, *failure) {
	now := h.now()
	err := h.deps.Identities.CreateIdentity(ctx, Identity{
		Issuer: ext.Issuer, Subject: ext.Subject, UserID: u.ID, Provider: p.cfg.Name,
		Email: ext.Email, CreatedAt: now, LastLogin: now,
	})
	if errors.Is(err, auth.ErrConflict) {
		ident, err := h.deps.Identities.IdentityBySubject(ctx, ext.Issuer, ext.Subject)
		if err != nil {
			return auth.User{}, storeFailure(fmt.Errorf("reload identity: %w", err))
		}
		return h.linkedUser(ctx, ident)
	}
	if err != nil {
		return auth.User{}, storeFailure(fmt.Errorf("link identity: %w", err))
	}
	h.audit(ctx, audit.IdentityLinked, u, map[string]string{"provider": p.cfg.Name, "issuer": ext.Issuer, "subject": ext.Subject})
	return u, nil
}

// createUser creates a local user for ext under the first free username
// candidate (see usernameCandidates). A candidate taken meanwhile by a
// parallel creation is skipped like any other taken name.
func (h *Handler) createUser(ctx context.Context, p *provider, ext external) (auth.User, *failure) {
	for _, name := range usernameCandidates(p.cfg.Name, ext) {
		_, err := h.deps.Users.UserByName(ctx, name)
		if err == nil {
			continue
		}
		if !errors.Is(err, auth.ErrNotFound) {
			return auth.User{}, storeFailure(fmt.Errorf("check username: %w", err))
		}
		now := h.now()
		u := auth.User{
			ID: h.newID(), Username: name, Roles: slices.Clone(p.cfg.DefaultRoles),
			CreatedAt: now, UpdatedAt: now,
		}
		if u.Roles == nil {
			u.Roles = []string{}
		}
		err = h.deps.Users.CreateUser(ctx, u)
		if errors.Is(err, auth.ErrConflict) {
			continue
		}
		if err != nil {
			return auth.User{}, storeFailure(fmt.Errorf("create user: %w", err))
		}
		h.audit(ctx, audit.UserCreated, u, map[string]string{"provider": p.cfg.Name, "method": "oidc:" + p.cfg.Name})
		return u, nil
	}
	return auth.User{}, forbidden("username_unavailable", "No free username could be found for your account; ask an administrator to create it.")
}

// usernameCandidates lists the usernames a new user may get, best first:
// preferred_username, the email, then "<provider>-<first 8 chars of sub>".
// The email is used only when verified, and a preferred_username that looks
// like an email only when it is that verified email: a later link_by_email
// login matches usernames against verified emails, so an unverified address
// must never become a username.
func usernameCandidates(providerName string, ext external) []string {
	var out []string
	add := func(name string) {
		name = user.CleanName(name)
		if name == "" || utf8.RuneCountInString(name) > maxUsernameLen || slices.Contains(out, name) {
			return
		}
		out = append(out, name)
	}
	verifiedEmail := ""
	if ext.EmailVerified {
		verifiedEmail = ext.Email
	}
	if pu := ext.Username; pu != "" && (!strings.Contains(pu, "@") || (verifiedEmail != "" && user.NameKey(pu) == user.NameKey(verifiedEmail))) {
		add(pu)
	}
	add(verifiedEmail)
	sub := []rune(ext.Subject)
	add(providerName + "-" + string(sub[:min(len(sub), 8)]))
	return out
}

// emailDomainAllowed applies allowed_email_domains: empty allows everyone;
// otherwise the provider must vouch for the email (email_verified) and its
// domain must be listed exactly (no subdomains), case-insensitively.
func emailDomainAllowed(domains []string, ext external) bool {
	if len(domains) == 0 {
		return true
	}
	at := strings.LastIndexByte(ext.Email, '@')
	if !ext.EmailVerified || at < 0 {
		return false
	}
	domain := strings.ToLower(ext.Email[at+1:])
	for _, d := range domains {
		if strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@")) == domain {
			return true
		}
	}
	return false
}
