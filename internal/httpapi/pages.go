package httpapi

import (
	"embed"
	"html/template"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
)

//go:embed templates/*.html
var templateFS embed.FS

type pages struct {
	t *template.Template
	// scripts: WebAuthn is on, so the pages in scriptPages load
	// /static/webauthn.js (and get a CSP admitting it by nonce).
	scripts bool
}

// scriptPages are the templates that load the WebAuthn glue.
var scriptPages = map[string]bool{"login": true, "mfa_login": true, "account": true}

// popupPages are the templates of the sign-in and sign-out flows that an
// app may open in a popup: they go without Cross-Origin-Opener-Policy
// (httperr.AllowOpener). Every other page (account, recovery codes, the
// admin console, error pages) keeps same-origin.
var popupPages = map[string]bool{"login": true, "mfa_login": true, "mfa_enrol": true, "consent": true, "end_session": true}

func newPages() *pages {
	return &pages{t: template.Must(template.ParseFS(templateFS, "templates/*.html"))}
}

// page is what every template gets; Nonce allows the one inline <style>
// under a CSP that allows nothing else (no scripts at all).
type page struct {
	Title string
	Nonce string
	Data  any
}

type loginPage struct {
	Next      string
	Error     bool
	Throttled bool
	Busy      bool // logins shed (passwords.max_wait): retry shortly
	Providers []oidc.ProviderInfo
	Passkeys  bool // WebAuthn is on: passkey button and autofill
	// FormOrigin is where the form's redirects to Next end, off
	// gatehouse's origin (nextFormTarget).
	FormOrigin string
}

type accountPage struct {
	User       auth.Principal
	Sessions   []sessionRow
	Identities []identityRow
	Factors    factorsView
	Password   string // outcome of a password change: changed | wrong | weak
	Consents   []consentRow
	// Grants are the app and API logins (refresh families) that no live
	// browser session holds.
	Grants []grantRow
}

// identityRow is a linked identity; Linked is relative, LinkedAt exact.
type identityRow struct {
	Provider, Email, Linked string
	LinkedAt                stamp
}

// mfaLoginPage is /login/mfa: the code form, or the enrolment offer.
type mfaLoginPage struct {
	Next             string
	Error, Throttled bool
	Methods          []string
	Recovery         bool
	Enrol            bool // no factor yet: offer enrolment
	Reauth           bool // enrolment needs a fresh login first
	TOTP             bool // the user has an authenticator app
	Passkey          bool // the user has a passkey: "Use your passkey"
	StepUp           bool // a session's step-up, not a pending login
	PasskeyEnrol     bool // enrolment may add a passkey instead
	Enrolled         bool // the step-up just enrolled TOTP: wait for the next code

	FormOrigin string // as loginPage's
}

// mfaEnrolPage shows a new TOTP secret and its QR code (rendered by us,
// so it is trusted HTML) with the confirmation form.
type mfaEnrolPage struct {
	mfa.Enrolment
	Next string
	// StepUp: enrolment offered by the step-up of /login/mfa; the step-up
	// still asks for a code afterwards (the app's next one).
	StepUp bool
	// Error, Throttled: the page again after a refused confirmation code.
	Error, Throttled bool

	FormOrigin string // as loginPage's
}

// QR is the inline SVG as trusted HTML: mfa.QRSVG writes only rects.
func (p mfaEnrolPage) QR() template.HTML { return template.HTML(p.QRSVG) } //nolint:gosec // generated, no user input

// mfaCodesPage shows new recovery codes once. Next is where its link goes
// on after an enrolment ("" = back to /account).
type mfaCodesPage struct {
	Codes []string
	Next  string
}

// factorsView is the factor list on /account.
type factorsView struct {
	Enabled bool // second factors are configured at all
	TOTP    bool
	// Any: the user has a second factor (TOTP or a passkey), so recovery
	// codes apply and may be renewed.
	Any          bool
	RecoveryLeft int
	WebAuthn     bool // passkeys can be added (public_url has a domain)
	Passkeys     []passkeyRow
	// MaxPasskeys is mfa.MaxPasskeys; with as many passkeys, the page says
	// to remove one instead of offering a registration refused with 409.
	MaxPasskeys int
}

// PasskeysFull reports whether the user has mfa.MaxPasskeys passkeys.
func (f factorsView) PasskeysFull() bool { return len(f.Passkeys) >= f.MaxPasskeys }

// passkeyRow is one WebAuthn credential on /account.
type passkeyRow struct {
	ID, Name, Kind, Created, LastUsed string
	CreatedAt, LastUsedAt             stamp
}

// consentRow is an app with access; Granted is relative, GrantedAt exact.
type consentRow struct {
	ClientID, Scopes, Granted string
	GrantedAt                 stamp
}

// consentPage asks the user to allow a client; Fields carry the
// authorization request through the POST.
type consentPage struct {
	Client, Username, Host, Token string
	Scopes                        []string
	Fields                        []field
	// FormOrigin is the form-action source of the redirect URI that
	// answers the form (formTarget; "" for https, which every page allows).
	FormOrigin string
}

type field struct{ Name, Value string }

// endSessionPage asks before a logout that no ID token vouches for.
type endSessionPage struct {
	Client string
	Fields []field
	// FormOrigin is the form-action source of the registered
	// post_logout_redirect_uri that answers the form (formTarget; "" for
	// https or none), as on the consent page.
	FormOrigin string
}

// formAnswered is page data whose forms are answered by redirects that
// may end off gatehouse's origin: formOrigin is the form-action source
// they need there ("" for none). Browsers apply form-action to every
// redirect that answers a form (w3c/webappsec-csp#8; Chromium refuses the
// navigation), not only to the form's own action.
type formAnswered interface{ formOrigin() string }

func (p consentPage) formOrigin() string    { return p.FormOrigin }
func (p endSessionPage) formOrigin() string { return p.FormOrigin }
func (p loginPage) formOrigin() string      { return p.FormOrigin }
func (p mfaLoginPage) formOrigin() string   { return p.FormOrigin }
func (p mfaEnrolPage) formOrigin() string   { return p.FormOrigin }

func (p *pages) render(w http.ResponseWriter, status int, name string, data any) {
	var n string
	script := p.scripts && scriptPages[name]
	if script {
		n = httperr.PageHeadersScript(w.Header())
	} else {
		n = httperr.PageHeaders(w.Header())
	}
	if popupPages[name] {
		httperr.AllowOpener(w.Header())
	}
	if f, ok := data.(formAnswered); ok && f.formOrigin() != "" {
		csp := httperr.CSPFormTo(n, f.formOrigin())
		if script {
			csp = httperr.ScriptCSPFormTo(n, f.formOrigin())
		}
		w.Header().Set("Content-Security-Policy", csp)
	}
	w.WriteHeader(status)
	title := map[string]string{"login": "Sign in", "account": "Your account", "mfa_login": "Second factor",
		"mfa_enrol": "Set up an authenticator app", "mfa_codes": "Recovery codes", "consent": "Allow access", "end_session": "Sign out"}[name]
	_ = p.t.ExecuteTemplate(w, name, flatten(page{Title: title, Nonce: n, Data: data}))
}

// flatten merges the page chrome into the data map the templates read.
func flatten(p page) map[string]any {
	m := map[string]any{"Title": p.Title, "Nonce": p.Nonce, "Script": webauthnScript().URL()}
	switch d := p.Data.(type) {
	case loginPage:
		m["Next"], m["Error"], m["Throttled"], m["Busy"], m["Providers"] = d.Next, d.Error, d.Throttled, d.Busy, d.Providers
		m["Passkeys"] = d.Passkeys
	case consentPage:
		m["Client"], m["Username"], m["Host"], m["Token"], m["Scopes"], m["Fields"] = d.Client, d.Username, d.Host, d.Token, d.Scopes, d.Fields
	case endSessionPage:
		m["Client"], m["Fields"] = d.Client, d.Fields
	case accountPage:
		m["User"], m["Sessions"], m["Identities"], m["Factors"], m["Password"], m["Consents"] = d.User, d.Sessions, d.Identities, d.Factors, d.Password, d.Consents
		m["Grants"] = d.Grants
	default:
		m["P"] = d
	}
	return m
}

func (s *server) providers() []oidc.ProviderInfo {
	if s.OIDC == nil {
		return nil
	}
	return s.OIDC.Providers()
}

// loginPage is the login page's data for a form that goes on to next (a
// SafeNextOn value).
func (s *server) loginPage(r *http.Request, next string) loginPage {
	return loginPage{Next: next, Providers: s.providers(), Passkeys: s.Passkeys != nil,
		FormOrigin: s.nextFormTarget(r.Context(), next)}
}

func (s *server) handleLoginPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p := s.loginPage(r, oidc.SafeNextOn(q.Get("next"), s.ServesHost))
		p.Error = q.Get("error") != ""
		s.pages.render(w, http.StatusOK, "login", p)
	})
}

// handleAccountPage lists the user's sessions (revoke buttons) and linked
// identities; without a session it sends the browser to /login.
func (s *server) handleAccountPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, cur, err := s.currentSession(r)
		if err != nil {
			if httperr.Unavailable(err) {
				s.writeError(w, r, err)
				return
			}
			toLogin(w, r, "/account", http.StatusFound)
			return
		}
		recs, err := s.Sessions.List(r.Context(), p.Subject)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		data := accountPage{User: p, Password: r.URL.Query().Get("password")}
		now := s.now()
		apps := s.sessionApps(r, p.Subject)
		for _, rec := range recs {
			row := s.sessionRow(rec, cur.ID, now)
			row.Apps = apps[rec.ID]
			data.Sessions = append(data.Sessions, row)
		}
		fams, err := s.standaloneGrants(r, p.Subject, recs)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for _, f := range fams {
			data.Grants = append(data.Grants, grantRowOf(f, now))
		}
		if s.Apps != nil {
			// Not decoration: a page without the list would say no app has
			// access, and offer nothing to withdraw. Fails closed, as the
			// grants above do.
			cs, err := s.Apps.Consents(r.Context(), p.Subject)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			for _, c := range cs {
				data.Consents = append(data.Consents, consentRow{ClientID: c.ClientID, Scopes: strings.Join(c.Scopes, " "),
					Granted: relativeTime(c.GrantedAt, now), GrantedAt: exactTime(c.GrantedAt)})
			}
		}
		// Linked identities are decoration: a failure to list them (or no
		// identity store at all) leaves the section empty.
		if ids, err := s.Users.Identities(r.Context(), p.Subject); err == nil {
			for _, id := range ids {
				data.Identities = append(data.Identities, identityRow{Provider: id.Provider, Email: id.Email,
					Linked: relativeTime(id.CreatedAt, now), LinkedAt: exactTime(id.CreatedAt)})
			}
		}
		if s.MFA != nil {
			f, err := s.MFA.Factors(r.Context(), p.Subject)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			data.Factors = factorsView{Enabled: true, TOTP: f.TOTP, Any: f.TOTP || len(f.Passkeys) > 0, RecoveryLeft: f.RecoveryLeft, WebAuthn: s.Passkeys != nil,
				MaxPasskeys: mfa.MaxPasskeys}
			for _, c := range f.Passkeys {
				row := passkeyRow{ID: mfa.CredentialID(c.ID), Name: c.Name, Kind: c.Kind,
					Created: relativeTime(c.CreatedAt, now), CreatedAt: exactTime(c.CreatedAt), LastUsed: "never"}
				if !c.LastUsedAt.IsZero() {
					row.LastUsed, row.LastUsedAt = relativeTime(c.LastUsedAt, now), exactTime(c.LastUsedAt)
				}
				data.Factors.Passkeys = append(data.Factors.Passkeys, row)
			}
		}
		s.pages.render(w, http.StatusOK, "account", data)
	})
}
