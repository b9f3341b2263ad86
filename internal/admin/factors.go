package admin

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// FactorList is a user's second factors on the admin API: never a secret
// or a code.
type FactorList struct {
	// TOTP is "on", "off" or "pending" (enrolled, not yet confirmed).
	TOTP              string `json:"totp"`
	TOTPSince         string `json:"totp_since"`
	RecoveryCodesLeft int    `json:"recovery_codes_left"`
	// Methods are the second-factor methods the user can sign in with
	// (mfa.Factors.Methods: totp, recovery, and passkeys once stored).
	Methods []string `json:"methods"`
}

func toFactorList(f mfa.Factors) FactorList {
	out := FactorList{TOTP: "off", RecoveryCodesLeft: f.RecoveryLeft, Methods: nonNil(f.Methods())}
	switch {
	case f.TOTP:
		out.TOTP, out.TOTPSince = "on", rfc3339(f.TOTPCreatedAt)
	case f.TOTPPending:
		out.TOTP = "pending"
	}
	return out
}

func (h *Handler) userFactors(r *http.Request, u auth.User) (FactorList, error) {
	f, err := h.d.MFA.Factors(r.Context(), u.ID)
	if err != nil {
		return FactorList{}, err
	}
	return toFactorList(f), nil
}

func (h *Handler) listFactors(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	u, err := h.pathUser(r)
	if err != nil {
		return err
	}
	f, err := h.userFactors(r, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}

// resetFactors: POST /users/{name}/mfa-reset — the operation of `gatehouse
// user mfa-reset`: every factor removed, every session and refresh family
// ended, mfa.reset audited with the acting administrator.
func (h *Handler) resetFactors(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if _, err := h.d.Users.ResetSecondFactors(r.Context(), r.PathValue("name"), "admin"); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setPassword: PUT /users/{name}/password {"password"} — as `gatehouse user
// passwd`: a strength check, then every session and refresh family ends.
func (h *Handler) setPassword(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := h.d.Users.SetPassword(r.Context(), r.PathValue("name"), in.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Identity is an external account (OIDC, OAuth 2.0) linked to a user, as
// `gatehouse user list` shows them.
type Identity struct {
	Provider  string `json:"provider"`
	Issuer    string `json:"issuer"`
	Subject   string `json:"subject"`
	Email     string `json:"email"`
	CreatedAt string `json:"created_at"`
	LastLogin string `json:"last_login"`
}

func toIdentity(id user.Identity) Identity {
	return Identity{Provider: id.Provider, Issuer: id.Issuer, Subject: id.Subject, Email: id.Email,
		CreatedAt: rfc3339(id.CreatedAt), LastLogin: rfc3339(id.LastLogin)}
}

func (h *Handler) userIdentities(r *http.Request, u auth.User) ([]Identity, error) {
	ids, err := h.d.Users.Identities(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Identity, 0, len(ids))
	for _, id := range ids {
		out = append(out, toIdentity(id))
	}
	return out, nil
}

// linkUserIdentity links the account subject of the configured provider
// to the user name (user.Service.LinkAccount, the operation `gatehouse
// user link` shares; it audits oidc.linked and signs nobody out); linked
// is false when the account was linked to the user already (nothing
// changed); u is the user, as read for the link. A refused link's 409
// says why, naming the user the account is linked to: an administrator
// may list every user anyway.
func (h *Handler) linkUserIdentity(r *http.Request, name, provider, subject string) (u auth.User, id Identity, linked bool, err error) {
	u, stored, linked, err := h.d.Users.LinkAccount(r.Context(), name, provider, subject, "admin")
	if lc, ok := errors.AsType[*user.LinkConflictError](err); ok {
		return auth.User{}, Identity{}, false, httperr.Describe(err, lc.Error())
	}
	if err != nil {
		return auth.User{}, Identity{}, false, err
	}
	return u, toIdentity(stored), linked, nil
}

// linkIdentity: POST /users/{name}/identities {"provider","subject"} — an
// administrator's link, symmetric to unlinkIdentity: 201 with the
// identity; 200 with it as stored when it was linked to the user already
// (a repeated request changes nothing); 400 for an unknown provider or a
// subject no login could match; 409 when the account is linked to
// another user or the user has another account of the provider's issuer.
func (h *Handler) linkIdentity(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var in struct {
		Provider string `json:"provider"`
		Subject  string `json:"subject"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	_, id, linked, err := h.linkUserIdentity(r, r.PathValue("name"), in.Provider, in.Subject)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !linked {
		status = http.StatusOK
	}
	writeJSON(w, status, id)
	return nil
}

// identityKey reads the external account (issuer, subject) an unlink
// names, from the API's query or the console's form; both are required.
func identityKey(v url.Values) (issuer, subject string, err error) {
	issuer, subject = v.Get("issuer"), v.Get("subject")
	if issuer == "" || subject == "" {
		return "", "", errInput("issuer and subject are required")
	}
	return issuer, subject, nil
}

// unlinkUserIdentity removes the link of issuer+subject to the user name
// and ends the user's sessions and token grants (user.Service.Unlink, the
// operation `gatehouse user unlink` shares; it audits oidc.unlinked); a
// link that is not this user's is auth.ErrNotFound.
func (h *Handler) unlinkUserIdentity(r *http.Request, name, issuer, subject string) error {
	_, err := h.d.Users.Unlink(r.Context(), name, issuer, subject, "admin")
	return err
}

// unlinkIdentity: DELETE /users/{name}/identities?issuer=&subject= — the
// administrator's remedy when link_by_email refuses a provider's new
// account for an address the user's old account had (already_linked,
// docs/oidc.md). 204; 404 when that account is not linked to this user.
func (h *Handler) unlinkIdentity(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	issuer, subject, err := identityKey(r.URL.Query())
	if err != nil {
		return err
	}
	if err := h.unlinkUserIdentity(r, r.PathValue("name"), issuer, subject); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listIdentities(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	u, err := h.pathUser(r)
	if err != nil {
		return err
	}
	ids, err := h.userIdentities(r, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"identities": ids})
	return nil
}
