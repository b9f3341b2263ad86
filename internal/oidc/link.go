package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// external is the verified identity a provider vouched for.
type external struct {
	Issuer        string
	Subject       string
	Username      string // preferred_username (OIDC) or the mapped username claim (OAuth2)
	Email         string
	EmailVerified bool
	SessionID     string // the provider's sid claim (OIDC Back-Channel Logout), "" when none
}

// resolveUser maps an external identity to the local user it logs in as:
// an existing link, else a link by verified email (link_by_email), else a new
// user (create_users), else refusal.
func (h *Handler) resolveUser(ctx context.Context, p *provider, ext external) (auth.User, *failure) {
	if f := emailDomainFailure(p.cfg.AllowedEmailDomains, ext); f != nil {
		return auth.User{}, f
	}
	ident, err := h.deps.Users.Identity(ctx, ext.Issuer, ext.Subject)
	switch {
	case err == nil:
		return h.linkedUser(ctx, ext, ident)
	case !errors.Is(err, auth.ErrNotFound):
		return auth.User{}, storeFailure(err)
	}
	if p.cfg.LinkByEmail && ext.verifiedEmail() != "" {
		u, err := h.deps.Users.Get(ctx, ext.Email)
		switch {
		case err == nil && sameAddress(u.Username, ext.Email):
			if u.Disabled {
				return auth.User{}, disabledFailure(u)
			}
			if f := h.secondAccountOfIssuer(ctx, ext, u); f != nil {
				return auth.User{}, f
			}
			return h.link(ctx, p, ext, u)
		case err != nil && !errors.Is(err, auth.ErrNotFound):
			return auth.User{}, storeFailure(fmt.Errorf("find user by email: %w", err))
		}
	}
	if !p.cfg.CreateUsers {
		return auth.User{}, unlinkedAccount("no_local_account", "There is no local account for this sign-in, and this provider does not create accounts; an administrator can link it to a local account.", ext)
	}
	return h.createUser(ctx, p, ext)
}

// secondAccountOfIssuer refuses to link ext by email to u when u is
// already linked to another account (another sub) of the same issuer: a
// provider that gave the address to a new account (a departed employee's
// mailbox handed to a new hire, a deleted and re-registered address) would
// otherwise hand that account the user's login. One account per issuer
// and user, as Keycloak keeps it; an administrator can unlink the old one
// (user.Service.Unlink). A store failure fails closed.
func (h *Handler) secondAccountOfIssuer(ctx context.Context, ext external, u auth.User) *failure {
	ids, err := h.deps.Users.Identities(ctx, u.ID)
	if err != nil {
		return storeFailure(fmt.Errorf("list identities: %w", err))
	}
	if slices.ContainsFunc(ids, func(id user.Identity) bool { return id.Issuer == ext.Issuer && id.Subject != ext.Subject }) {
		return alreadyLinked(u)
	}
	return nil
}

// alreadyLinked refuses a link to u, who is linked to another account of
// the issuer: found by secondAccountOfIssuer, or linked by a parallel login
// after that check (the store's user.ErrIssuerLinked). Audited under u: the
// refusal belongs in the user's trail, where an administrator deciding
// about the unlink looks.
func alreadyLinked(u auth.User) *failure {
	f := forbidden("already_linked", "Your local account is already linked to another account of this sign-in provider; ask an administrator.")
	f.user = u
	return f
}

// linkedUser is the user that ident, the link of ext, logs in as. It
// records the login on the link with the email the provider verified now
// (verifiedEmail, as a new link keeps it): a link an administrator made
// has none until this login, and an address the provider verified may
// have changed since the link.
func (h *Handler) linkedUser(ctx context.Context, ext external, ident user.Identity) (auth.User, *failure) {
	u, err := h.deps.Users.ByID(ctx, ident.UserID)
	if errors.Is(err, auth.ErrNotFound) {
		return auth.User{}, forbidden("linked_user_missing", "The account linked to this sign-in no longer exists.")
	}
	if err != nil {
		return auth.User{}, storeFailure(fmt.Errorf("load linked user: %w", err))
	}
	if u.Disabled {
		return auth.User{}, disabledFailure(u)
	}
	if err := h.deps.Users.TouchIdentity(ctx, ident.Issuer, ident.Subject, ext.verifiedEmail()); err != nil {
		// Last-login bookkeeping must not block a login the store just allowed.
		h.log.WarnContext(ctx, "oidc: touch identity", "user_id", u.ID, "error", err.Error())
	}
	return u, nil
}

// identity is the link of ext through p, with its verified email.
func identity(p *provider, ext external) user.Identity {
	return user.Identity{Issuer: ext.Issuer, Subject: ext.Subject, Provider: p.cfg.Name, Email: ext.verifiedEmail()}
}

// verifiedEmail is the email a link keeps: ext's when the provider
// verified it, else "". gatehouse gives it to its apps as a verified
// email (docs/apps.md).
func (ext external) verifiedEmail() string {
	if ext.EmailVerified {
		return ext.Email
	}
	return ""
}

// link records (through the user service, which audits it) that ext logs in
// as the existing user u.
func (h *Handler) link(ctx context.Context, p *provider, ext external, u auth.User) (auth.User, *failure) {
	err := h.deps.Users.Link(ctx, identity(p, ext), u)
	switch {
	case errors.Is(err, user.ErrIssuerLinked):
		return auth.User{}, alreadyLinked(u)
	case err != nil:
		return h.linkFailed(ctx, ext, err)
	}
	return u, nil
}

// createUser creates a local user for ext and links ext to it through the
// user service, under the first candidate (see usernameCandidates) that is
// a valid username and free: the service applies the same name and role
// rules, and writes the same user.created event, as for any other account,
// and deletes the account again when the link fails.
func (h *Handler) createUser(ctx context.Context, p *provider, ext external) (auth.User, *failure) {
	u, err := h.deps.Users.CreateExternal(ctx, usernameCandidates(p.cfg.Name, ext), p.cfg.DefaultRoles, "oidc:"+p.cfg.Name, identity(p, ext))
	switch {
	case errors.Is(err, user.ErrIdentityLinked):
		return h.linkFailed(ctx, ext, err)
	case errors.Is(err, auth.ErrConflict):
		return auth.User{}, unlinkedAccount("username_unavailable", "No free username could be found for your account; an administrator can link it to an existing account, or free a name for it.", ext)
	case err != nil:
		return auth.User{}, storeFailure(fmt.Errorf("create user: %w", err))
	}
	return u, nil
}

// linkFailed handles a failed link of ext: when a parallel login linked
// the same identity first (user.ErrIdentityLinked), that link wins and the
// login goes on as its user; any other error fails the login.
func (h *Handler) linkFailed(ctx context.Context, ext external, err error) (auth.User, *failure) {
	if !errors.Is(err, user.ErrIdentityLinked) {
		return auth.User{}, storeFailure(err)
	}
	ident, err := h.deps.Users.Identity(ctx, ext.Issuer, ext.Subject)
	if err != nil {
		return auth.User{}, storeFailure(fmt.Errorf("reload identity: %w", err))
	}
	return h.linkedUser(ctx, ext, ident)
}

// usernameCandidates lists the usernames a new user may get, best first:
// preferred_username, the email, then "<provider>-<first 8 chars of sub>";
// names the user service would refuse (user.CheckName: over 64 characters,
// spaces) are left out, so a provider's display-style name falls back to
// the next candidate.
// The email is used only when verified, and a preferred_username that looks
// like an email only when it is that verified email: a later link_by_email
// login matches usernames against verified emails, so an unverified address
// must never become a username.
func usernameCandidates(providerName string, ext external) []string {
	var out []string
	add := func(name string) {
		name = user.CleanName(name)
		if user.CheckName(name) != nil || slices.Contains(out, name) {
			return
		}
		out = append(out, name)
	}
	verifiedEmail := ext.verifiedEmail()
	// Normalised before the "@" test, as the name it would become: NFKC
	// turns a fullwidth "＠" (U+FF20) or small "﹫" (U+FE6B) into "@", and
	// "victim＠corp.example" would otherwise pass as no email at all.
	if pu := user.CleanName(ext.Username); pu != "" && (!strings.Contains(pu, "@") || (verifiedEmail != "" && sameAddress(pu, verifiedEmail))) {
		add(pu)
	}
	add(verifiedEmail)
	sub := []rune(ext.Subject)
	add(providerName + "-" + string(sub[:min(len(sub), 8)]))
	return out
}

// sameAddress reports whether a username and an email are one address:
// equal after CleanName, ignoring the case of ASCII letters only. The
// username key (user.NameKey) folds case fully, which makes "ß" "ss" and
// "ς" "σ" — letters that tell mail domains (IDNA2008) and mailboxes apart —
// so finding a user by an email is not enough to link it.
func sameAddress(username, email string) bool {
	lower := func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	return strings.Map(lower, user.CleanName(username)) == strings.Map(lower, user.CleanName(email))
}

// emailDomainFailure applies allowed_email_domains: empty allows everyone;
// otherwise the provider must vouch for the email (email_verified) and its
// domain must be listed exactly (no subdomains), case-insensitively. Both
// refusals have one reason; the page and the log say which it was, so that
// a user in a listed domain whose provider sends no email_verified (Entra
// ID, GitHub) is not told that the domain is not allowed.
func emailDomainFailure(domains []string, ext external) *failure {
	if len(domains) == 0 {
		return nil
	}
	at := strings.LastIndexByte(ext.Email, '@')
	if !ext.EmailVerified || at < 0 {
		f := forbidden("email_domain_not_allowed", "The sign-in provider did not confirm an email address for your account, and signing in here requires one in an allowed domain.")
		f.err = errors.New("the provider sent no verified email address (email_verified)")
		return f
	}
	domain := strings.ToLower(ext.Email[at+1:])
	for _, d := range domains {
		if strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@")) == domain {
			return nil
		}
	}
	f := forbidden("email_domain_not_allowed", "Your account's email domain is not allowed to sign in here.")
	f.err = fmt.Errorf("email domain %q is not in allowed_email_domains", printable(domain, maxAuditNameLen))
	return f
}
