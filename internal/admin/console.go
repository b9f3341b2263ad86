package admin

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

//go:embed templates/*.html
var templateFS embed.FS

type pages struct{ t *template.Template }

// templateFuncs are the console templates' helpers. pathSegment must wrap
// every user-controlled value placed in a URL path (usernames, client and
// session IDs): html/template only normalises a URL attribute and leaves
// "/", "?" and "#" alone, so the Disable form of a user named
// "alice/delete#" would post to /admin/users/alice/delete. The mux's
// r.PathValue decodes the escaped segment back to the name. detailValue
// (audit.Field) must wrap every audit detail value the audit page lists:
// some are a client's to choose (details.user_agent of every event of its
// request).
var templateFuncs = template.FuncMap{"pathSegment": url.PathEscape, "detailValue": audit.Field}

func newPages() *pages {
	return &pages{t: template.Must(template.New("console").Funcs(templateFuncs).ParseFS(templateFS, "templates/*.html"))}
}

// render writes a console page under gatehouse's CSP: no script at all,
// one inline <style> allowed by its nonce.
func (p *pages) render(w http.ResponseWriter, name, nav, title string, data any) {
	nonce := httperr.PageHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	_ = p.t.ExecuteTemplate(w, name, map[string]any{"Title": title, "Nonce": nonce, "Nav": nav, "Data": data})
}

// consoleRoutes are the HTML pages at /admin/. Forms POST to the same
// services as the API and answer 303 back to the page.
func (h *Handler) consoleRoutes() {
	var methods httperr.MethodSet // of the console's patterns
	page := func(pattern string, fn func(http.ResponseWriter, *http.Request) error) {
		methods.Add(pattern)
		h.mux.Handle(pattern, h.console(fn))
	}
	page("GET /admin/{$}", func(w http.ResponseWriter, r *http.Request) error {
		http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
		return nil
	})
	page("GET /admin/users", h.usersPage)
	page("GET /admin/users/{name}", h.userPage)
	page("POST /admin/users/{name}/disable", h.userAction(func(r *http.Request, name string) error {
		_, err := h.setDisabledKeepingAdmin(r.Context(), name, true)
		return err
	}))
	page("POST /admin/users/{name}/enable", h.userAction(func(r *http.Request, name string) error {
		_, err := h.setDisabledKeepingAdmin(r.Context(), name, false)
		return err
	}))
	page("POST /admin/users/{name}/logout", h.userAction(func(r *http.Request, name string) error {
		return h.logoutUser(discard{}, r, auth.Principal{})
	}))
	page("POST /admin/users/{name}/sessions/{id}/revoke", h.userAction(func(r *http.Request, name string) error {
		u, err := h.d.Users.Get(r.Context(), name)
		if err != nil {
			return err
		}
		return h.revokeUserSession(r, u, r.PathValue("id"))
	}))
	page("POST /admin/users/{name}/families/{id}/revoke", h.userAction(func(r *http.Request, name string) error {
		u, err := h.d.Users.Get(r.Context(), name)
		if err != nil {
			return err
		}
		return h.revokeUserFamily(r, u, r.PathValue("id"))
	}))
	page("POST /admin/users/{name}/identities/unlink", h.userAction(func(r *http.Request, name string) error {
		if err := parseForm(r); err != nil {
			return err
		}
		issuer, subject, err := identityKey(r.PostForm)
		if err != nil {
			return err
		}
		return h.unlinkUserIdentity(r, name, issuer, subject)
	}))
	page("POST /admin/users/{name}/identities/link", h.linkIdentityForm)
	page("POST /admin/users", h.createUserForm)
	page("POST /admin/users/{name}/roles", h.userAction(func(r *http.Request, name string) error {
		if err := parseForm(r); err != nil {
			return err
		}
		if !r.PostForm.Has("roles") {
			return errInput("field \"roles\" is missing (send it empty to remove every role)")
		}
		_, err := h.setRolesKeepingAdmin(r.Context(), name, fields(r.PostForm.Get("roles")))
		return err
	}))
	page("POST /admin/users/{name}/password", h.userAction(func(r *http.Request, name string) error {
		if err := parseForm(r); err != nil {
			return err
		}
		return h.d.Users.SetPassword(r.Context(), name, r.PostForm.Get("password"))
	}))
	page("POST /admin/users/{name}/mfa-reset", h.userAction(func(r *http.Request, name string) error {
		_, err := h.d.Users.ResetSecondFactors(r.Context(), name, "admin")
		return err
	}))
	page("POST /admin/users/{name}/delete", func(w http.ResponseWriter, r *http.Request) error {
		if err := h.deleteUserKeepingAdmin(r.Context(), r.PathValue("name")); err != nil {
			return err
		}
		http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
		return nil
	})
	page("GET /admin/clients", h.clientsPage)
	page("POST /admin/clients", h.createClientForm)
	page("GET /admin/clients/{id}", h.clientPage)
	page("POST /admin/clients/{id}/delete", func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if err := h.d.Clients.Delete(r.Context(), id); err != nil {
			return readOnly(err, id)
		}
		http.Redirect(w, r, "/admin/clients", http.StatusSeeOther)
		return nil
	})
	page("POST /admin/clients/{id}/secret", h.rotateSecretForm)
	page("GET /admin/audit", h.auditConsole)
	page("GET /admin/keys", func(w http.ResponseWriter, r *http.Request) error {
		h.pages.render(w, "keys", "keys", "Signing keys", h.keyList())
		return nil
	})
	page("POST /admin/keys/rotate", func(w http.ResponseWriter, r *http.Request) error {
		if err := h.rotateKey(discard{}, r, auth.Principal{}); err != nil {
			return err
		}
		http.Redirect(w, r, "/admin/keys", http.StatusSeeOther)
		return nil
	})
	// Authenticated first, as the API's catch-all: a path a page or form
	// serves with other methods (a form's POST-only target opened as a
	// link) answers 405 with Allow, any other path the console's 404 page
	// (not "no such user": no user was named).
	const catchAll = "/admin/"
	page(catchAll, func(w http.ResponseWriter, r *http.Request) error {
		allow := methods.Allowed(h.mux, r, catchAll)
		if allow == "" {
			return errNoPage
		}
		w.Header().Set("Allow", allow)
		httperr.RenderPage(w, httperr.Page{Status: http.StatusMethodNotAllowed, Title: http.StatusText(http.StatusMethodNotAllowed),
			Message: "This address takes " + allow + " only: it is where one of the console's forms is sent. Open the console's page and use its button."})
		return nil
	})
	page("GET /admin/explain", h.explainPage)
	page("POST /admin/explain", h.explainPage)
}

// errNoPage is a console path that no page or form serves (404).
var errNoPage = fmt.Errorf("%w: no such console page", auth.ErrNotFound)

// discard is a ResponseWriter for reusing an API handler's effect from a
// form handler that answers with a redirect instead.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// console wraps a page: a browser without a session goes to /login and
// comes back; a signed-in user who is not an administrator gets a 403 page.
func (h *Handler) console(fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := h.authenticate(r)
		if err == nil {
			err = checkText(r)
		}
		if err == nil {
			h.setActor(r, p)
			err = fn(w, r)
		}
		if err == nil {
			return
		}
		prob := httperr.Of(err)
		switch {
		case errors.Is(err, errNoMFA):
			// A second factor is missing: step up (or enrol, for an
			// administrator without one) and come back (contract §9).
			http.Redirect(w, r, "/login/mfa?next="+url.QueryEscape(h.nextOf(r)), http.StatusFound)
		case prob.Status == http.StatusUnauthorized:
			http.Redirect(w, r, "/login?next="+url.QueryEscape(h.nextOf(r)), http.StatusFound)
		case prob.Status >= 500:
			h.writeError(w, r, err)
		default:
			msg := map[int]string{
				http.StatusForbidden: "This account may not use the admin console.",
				http.StatusNotFound:  "There is no such user, session, grant or client.",
			}[prob.Status]
			switch d := httperr.InputDetail(err); {
			case errors.Is(err, errNoPage):
				msg = "The admin console has no page at this address."
			case errors.Is(err, errCrossOrigin):
				// Not "this account may not…": the administrator may be
				// behind a proxy that rewrites Host, and should know why.
				msg = "The form was sent from another site (or through a proxy that changes the Host header), so it was not carried out. Open the console at its own address and send the form again."
			case d != "":
				msg = "The request could not be carried out: " + d + "."
			case prob.Description != "" && prob.Status != http.StatusForbidden:
				msg = prob.Description + "."
			case msg == "":
				msg = "The request could not be carried out."
			}
			httperr.RenderPage(w, httperr.Page{Status: prob.Status, Title: http.StatusText(prob.Status), Message: msg})
		}
	})
}

// nextOf is where the browser comes back to after signing in: the page
// it asked for, or the console's start for a form post.
func (h *Handler) nextOf(r *http.Request) string {
	if r.Method == http.MethodGet {
		return r.URL.RequestURI()
	}
	return "/admin/"
}

// userAction runs a form's change on the user named in the path and goes
// back to that user's page.
func (h *Handler) userAction(fn func(r *http.Request, name string) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		if err := fn(r, name); err != nil {
			return err
		}
		http.Redirect(w, r, "/admin/users/"+url.PathEscape(name), http.StatusSeeOther)
		return nil
	}
}

func (h *Handler) usersPage(w http.ResponseWriter, r *http.Request) error {
	us, next, err := h.searchUsers(r)
	if err != nil {
		return err
	}
	h.pages.render(w, "users", "users", "Users", map[string]any{"Users": us, "Next": next, "Query": r.URL.Query().Get("q")})
	return nil
}

// linkIdentityForm is the user page's "Link an account": back to the page
// (303) after a new link; the page itself, saying so, when the account was
// linked to the user already and nothing changed.
func (h *Handler) linkIdentityForm(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	name := r.PathValue("name")
	u, id, linked, err := h.linkUserIdentity(r, name, r.PostForm.Get("provider"), r.PostForm.Get("subject"))
	if err != nil {
		return err
	}
	if linked {
		http.Redirect(w, r, "/admin/users/"+url.PathEscape(name), http.StatusSeeOther)
		return nil
	}
	return h.renderUser(w, r, u, fmt.Sprintf("The %s account %s is already linked to %s; nothing changed.", id.Provider, id.Subject, u.Username))
}

func (h *Handler) userPage(w http.ResponseWriter, r *http.Request) error {
	u, err := h.pathUser(r)
	if err != nil {
		return err
	}
	return h.renderUser(w, r, u, "")
}

// renderUser renders u's page with notice ("" for none) above it.
func (h *Handler) renderUser(w http.ResponseWriter, r *http.Request, u auth.User, notice string) error {
	ss, err := h.userSessions(r, u)
	if err != nil {
		return err
	}
	fams, err := h.userFamilies(r, u)
	if err != nil {
		return err
	}
	f, err := h.userFactors(r, u)
	if err != nil {
		return err
	}
	ids, err := h.userIdentities(r, u)
	if err != nil {
		return err
	}
	h.pages.render(w, "user", "users", u.Username, map[string]any{"User": toUser(u), "Sessions": ss, "Families": fams,
		"Factors": f, "Identities": ids, "Providers": h.d.Users.Providers(), "Notice": notice})
	return nil
}

func (h *Handler) auditConsole(w http.ResponseWriter, r *http.Request) error {
	evs, next, err := h.auditPage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	nq := url.Values{}
	for _, k := range []string{"user", "type", "since", "until", "limit"} {
		if v := q.Get(k); v != "" {
			nq.Set(k, v)
		}
	}
	nq.Set("before", next)
	h.pages.render(w, "audit", "audit", "Audit trail", map[string]any{
		// A template.URL: html/template escapes a plain string placed after
		// "?" as one query component, so "before=…&limit=…" would reach the
		// server as a single key (and page 1 again). Encode has
		// percent-encoded every key and value already.
		"Events": evs, "Next": next, "NextQuery": template.URL(nq.Encode()),
		"User": q.Get("user"), "Type": q.Get("type"), "Since": q.Get("since"), "Until": q.Get("until"),
		"Types": audit.Types(),
	})
	return nil
}

var explainMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// explainPage shows the form and, for a POST, the gateway's decision about
// the described request. The cookie and token typed in are used for that
// decision only: never stored, logged or echoed back.
func (h *Handler) explainPage(w http.ResponseWriter, r *http.Request) error {
	data := map[string]any{"Methods": explainMethods, "Method": "GET", "URL": ""}
	if r.Method == http.MethodPost {
		if err := parseForm(r); err != nil {
			return err
		}
		in := ExplainRequest{Method: r.PostForm.Get("method"), URL: r.PostForm.Get("url"), Headers: map[string]string{}}
		if c := r.PostForm.Get("cookie"); c != "" {
			in.Headers["Cookie"] = h.d.Sessions.Manager().CookieName() + "=" + c
		}
		if t := r.PostForm.Get("token"); t != "" {
			in.Headers["Authorization"] = "Bearer " + t
		}
		req, err := in.Request(r.Context())
		if err != nil {
			return err
		}
		var e gateway.Explanation = h.d.Explain(req)
		data["Method"], data["URL"], data["Result"] = in.Method, in.URL, e
	}
	h.pages.render(w, "explain", "explain", "Explain", data)
	return nil
}
