package admin

import (
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/gatehouse-auth/gatehouse/internal/client"
)

// fields splits a form's list input (roles, scopes, URIs) on commas and
// white space.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// parseForm parses a console form's body and refuses a field sent twice
// (400 naming it), but for lists, whose checkboxes send one value each.
// The handlers read one value of every other field: "first wins" would let
// a proxy or firewall in front judge another request than the one run, so
// a repeat is refused here as the public forms and every JSON body refuse
// theirs.
//
// The body must be application/x-www-form-urlencoded, as the console's
// forms send it: ParseForm reads no other body (text/plain, multipart,
// none), and a form read as empty would run with every field blank.
func parseForm(r *http.Request, lists ...string) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return errInput("the form must be sent as application/x-www-form-urlencoded, as the console's forms are")
	}
	if err := r.ParseForm(); err != nil {
		return errInput("malformed form")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && !slices.Contains(lists, k) {
			return errInput("field %.64q is repeated", k)
		}
	}
	return nil
}

// createUserForm: the users page's "Add a user" form (as `gatehouse user
// add`; an empty password makes an account that signs in through OIDC
// only).
func (h *Handler) createUserForm(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	u, err := h.createUserNamed(r, r.PostForm.Get("username"), r.PostForm.Get("password"), fields(r.PostForm.Get("roles")))
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/users/"+url.PathEscape(u.Username), http.StatusSeeOther)
	return nil
}

// grantChoices are the grant checkboxes of the add-client form.
var grantChoices = []string{client.GrantAuthorizationCode, client.GrantRefreshToken, client.GrantClientCredentials, client.GrantPassword}

func (h *Handler) clientsPage(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.clientList(r)
	if err != nil {
		return err
	}
	h.pages.render(w, "clients", "clients", "Clients", map[string]any{"Clients": cs, "Grants": grantChoices})
	return nil
}

// createClientForm registers the form's client and shows it with its
// secret, once: the answer is the page itself, never a redirect to a URL
// that could be reloaded or logged.
func (h *Handler) createClientForm(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r, "grant_types"); err != nil {
		return err
	}
	f := r.PostForm
	n := NewClient{ID: strings.TrimSpace(f.Get("client_id")), Name: strings.TrimSpace(f.Get("name")), Type: f.Get("type"),
		RedirectURIs: fields(f.Get("redirect_uris")), PostLogoutRedirectURIs: fields(f.Get("post_logout_redirect_uris")),
		GrantTypes: f["grant_types"], Scopes: fields(f.Get("scopes")), FirstParty: f.Get("first_party") != "",
		BackchannelLogoutURI: strings.TrimSpace(f.Get("backchannel_logout_uri")), Audience: fields(f.Get("audience")),
		Roles: fields(f.Get("roles"))}
	c, secret, err := h.addClient(r, n)
	if err != nil {
		return err
	}
	h.renderClient(w, c, secret, "Client "+c.ID+" registered.")
	return nil
}

func (h *Handler) clientPage(w http.ResponseWriter, r *http.Request) error {
	c, err := h.d.Clients.Lookup(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	h.renderClient(w, toClient(c), "", "")
	return nil
}

// rotateSecretForm gives the client a new secret and shows it once.
func (h *Handler) rotateSecretForm(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	secret, err := h.d.Clients.RotateSecret(r.Context(), id)
	if err != nil {
		return readOnly(err, id)
	}
	c, err := h.d.Clients.Lookup(r.Context(), id)
	if err != nil {
		return err
	}
	h.renderClient(w, toClient(c), secret, "New secret for "+id+"; the old one no longer works.")
	return nil
}

func (h *Handler) renderClient(w http.ResponseWriter, c Client, secret, notice string) {
	h.pages.render(w, "client", "clients", c.ID, map[string]any{"Client": c, "Secret": secret, "Notice": notice})
}
