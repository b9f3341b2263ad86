package admin_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// githubIssuer is the issuer of the plain OAuth 2.0 provider "gh" of
// withLinkProviders: the origin of its auth_url, as its logins record it.
const githubIssuer = "https://github.example"

// withLinkProviders configures the login providers "corp" (OIDC, issuer
// idp) and "gh" (plain OAuth 2.0 without an issuer). Neither is
// contacted: discovery is lazy and nobody logs in through them.
func withLinkProviders(c *config.Config) {
	c.OIDC.Providers = []config.Provider{
		{Name: "corp", Issuer: idp, ClientID: "gatehouse"},
		{Name: "gh", Type: "oauth2", ClientID: "gatehouse", AuthURL: githubIssuer + "/login/oauth/authorize",
			TokenURL: githubIssuer + "/login/oauth/access_token", UserinfoURL: "https://api.github.example/user"},
	}
}

func linkPath(name string) string {
	return "/admin/api/v1/users/" + url.PathEscape(name) + "/identities"
}

// POST /admin/api/v1/users/{name}/identities {"provider","subject"} links
// the account of a configured provider to the user, with the provider's
// issuer (an OAuth 2.0 provider's auth_url origin), only for an
// administrator, on SQLite and PostgreSQL: 201 with the identity; 400 for
// a body or subject no login could match and an unknown provider; 404 for
// an unknown user; 409 when the account is linked to another user (naming
// that user) or the user has another account of the issuer; 200 with the
// stored link, and no event, for an account linked to the user already. A
// refusal links nothing; a link signs nobody out and is audited
// oidc.linked with via=admin and the acting administrator.
func TestLinkIdentityAPI(t *testing.T) {
	stores := map[string]func(t *testing.T) testutil.Option{
		"sqlite": func(*testing.T) testutil.Option { return testutil.WithConfig(func(*config.Config) {}) },
		"postgres": func(t *testing.T) testutil.Option {
			dsn := pgtest.DSN(t)
			return testutil.WithConfig(func(c *config.Config) { c.Store = dsn })
		},
	}
	for store, opt := range stores {
		t.Run(store, func(t *testing.T) {
			e := start(t, testutil.WithConfig(withLinkProviders), opt(t))
			e.link(t, "carol", "s-carol")
			e.link(t, "alice", "s-alice")
			ctx := context.Background()
			alice, _ := e.App.Users.Get(ctx, "alice")
			root, _ := e.App.Users.Get(ctx, "root")
			ct := []string{"Content-Type", "application/json"}
			admin := append(bearer(e.rootToken), ct...)
			tests := []struct {
				name   string
				user   string
				body   string
				header []string
				status int
				code   string
				desc   string // in the error_description
			}{
				{"no credential", "alice", `{"provider":"gh","subject":"1"}`, ct, 401, "unauthorized", ""},
				{"non-admin token", "alice", `{"provider":"gh","subject":"1"}`, append(bearer(e.aliceToken), ct...), 403, "forbidden", ""},
				{"admin cookie, cross-site", "alice", `{"provider":"gh","subject":"1"}`, append([]string{"Sec-Fetch-Site", "cross-site"}, append(e.cookie(e.rootCookie), ct...)...), 403, "forbidden", ""},
				{"malformed JSON", "alice", `{"provider":`, admin, 400, "invalid_request", "malformed JSON"},
				{"unknown member", "alice", `{"provider":"gh","subject":"1","issuer":"https://evil.example"}`, admin, 400, "invalid_request", `unknown member \"issuer\"`},
				{"member repeated", "alice", `{"provider":"gh","subject":"1","subject":"2"}`, admin, 400, "invalid_request", "repeated"},
				{"provider missing", "alice", `{"subject":"1"}`, admin, 400, "invalid_request", "provider is required"},
				{"subject missing", "alice", `{"provider":"gh"}`, admin, 400, "invalid_request", "subject is required"},
				{"unknown provider", "alice", `{"provider":"nope","subject":"1"}`, admin, 400, "invalid_request", "oidc.providers names corp, gh"},
				{"subject with NUL", "alice", `{"provider":"gh","subject":"a\u0000b"}`, admin, 400, "invalid_request", "control characters"},
				{"subject with a control character", "alice", `{"provider":"gh","subject":"a\nb"}`, admin, 400, "invalid_request", "control characters"},
				{"subject too long", "alice", `{"provider":"gh","subject":"` + strings.Repeat("x", 256) + `"}`, admin, 400, "invalid_request", "at most 255 bytes"},
				{"subject with a trailing space", "alice", `{"provider":"gh","subject":"1 "}`, admin, 400, "invalid_request", "white space"},
				{"unknown user", "nobody", `{"provider":"gh","subject":"1"}`, admin, 404, "not_found", ""},
				{"another user's account", "alice", `{"provider":"corp","subject":"s-carol"}`, admin, 409, "conflict", "is already linked to carol"},
				{"a second account of the issuer", "alice", `{"provider":"corp","subject":"s-alice-2"}`, admin, 409, "conflict", `alice is already linked to another account of issuer \"` + idp + `\" (subject \"s-alice\")`},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, body := e.do(t, "POST", linkPath(tt.user), tt.body, tt.header...)
					if resp.StatusCode != tt.status || !strings.Contains(body, `"error":"`+tt.code+`"`) || !strings.Contains(body, tt.desc) {
						t.Fatalf("status = %d %s, want %d %s with %q", resp.StatusCode, body, tt.status, tt.code, tt.desc)
					}
					if ids, _ := e.App.Users.Identities(ctx, alice.ID); len(ids) != 1 {
						t.Errorf("alice has %d linked accounts after a refused link, want 1", len(ids))
					}
				})
			}
			if n := len(e.auditOf(t, audit.IdentityLinked)); n != 2 { // e.link's
				t.Fatalf("%d oidc.linked events after the refusals, want the 2 of the setup", n)
			}

			// Linking the account to the user it is linked to already
			// changes nothing and succeeds: 200 with the link as stored
			// (e.link's email), no second oidc.linked.
			resp, body := e.do(t, "POST", linkPath("alice"), `{"provider":"corp","subject":"s-alice"}`, admin...)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("linking alice's own account again = %d %s, want 200", resp.StatusCode, body)
			}
			var again map[string]string
			if err := json.Unmarshal([]byte(body), &again); err != nil {
				t.Fatal(err)
			}
			if again["provider"] != "corp" || again["issuer"] != idp || again["subject"] != "s-alice" || again["email"] != "alice@corp.example" || again["created_at"] == "" {
				t.Errorf("linking alice's own account again answered %v, want the stored link", again)
			}
			if n := len(e.auditOf(t, audit.IdentityLinked)); n != 2 {
				t.Fatalf("%d oidc.linked events after linking an account again, want the 2 of the setup", n)
			}

			resp, body = e.do(t, "POST", linkPath("alice"), `{"provider":"gh","subject":"4711"}`, admin...)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("link = %d %s, want 201", resp.StatusCode, body)
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got["provider"] != "gh" || got["issuer"] != githubIssuer || got["subject"] != "4711" || got["email"] != "" ||
				got["created_at"] == "" || got["last_login"] != "" {
				t.Errorf("link answered %v, want gh's account 4711 with the auth_url's origin as issuer, no email, no last login", got)
			}
			if id, err := e.App.Users.Identity(ctx, githubIssuer, "4711"); err != nil || id.UserID != alice.ID || id.Provider != "gh" {
				t.Errorf("the link = %+v, %v; want gh's account 4711 linked to alice", id, err)
			}
			// Nothing was taken away: alice stays signed in.
			if resp, _ := e.do(t, "GET", "/auth/session", "", e.cookie(e.aliceCookie)...); resp.StatusCode != 200 {
				t.Errorf("alice's session after the link answers %d, want 200", resp.StatusCode)
			}
			evs := e.auditOf(t, audit.IdentityLinked)
			if len(evs) != 3 {
				t.Fatalf("%d oidc.linked events, want 3", len(evs))
			}
			want := map[string]string{"provider": "gh", "issuer": githubIssuer, "subject": "4711", "via": "admin", "actor": "root", "actor_id": root.ID}
			for k, v := range want {
				if evs[0].Details[k] != v {
					t.Errorf("oidc.linked %s = %q, want %q (details %v)", k, evs[0].Details[k], v, evs[0].Details)
				}
			}
			if evs[0].UserID != alice.ID || evs[0].Username != "alice" {
				t.Errorf("oidc.linked is about %s %s, want alice", evs[0].UserID, evs[0].Username)
			}

			// A disabled user can be linked: the login refuses them still.
			if resp, body := e.do(t, "POST", "/admin/api/v1/users/carol/disable", "", admin...); resp.StatusCode != 200 {
				t.Fatalf("disable carol = %d %s", resp.StatusCode, body)
			}
			if resp, body := e.do(t, "POST", linkPath("carol"), `{"provider":"gh","subject":"4712"}`, admin...); resp.StatusCode != http.StatusCreated {
				t.Errorf("linking disabled carol = %d %s, want 201", resp.StatusCode, body)
			}
		})
	}
}

// The case the link is for: a provider that neither creates users nor
// links by email refuses an account nobody linked (no_local_account), and
// its page tells the person the account's subject to give an
// administrator; once an administrator links that account to alice, its
// login signs in as alice.
func TestLinkedAccountSignsInAsTheUser(t *testing.T) {
	op := oidctestop.Start(t, oidctestop.WithUser(oidctestop.User{Subject: "sub-7f3a", Email: "a.smith@corp.example", EmailVerified: true}))
	e := start(t, testutil.WithConfig(func(c *config.Config) {
		c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID(), ClientSecret: op.ClientSecret()}}
	}))
	op.AddRedirectURI(e.URL + "/auth/oidc/corp/callback")
	alice, _ := e.App.Users.Get(context.Background(), "alice")

	resp, page := e.providerLoginPage(t)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the unlinked account's login = %d, want 403", resp.StatusCode)
	}
	if evs := e.auditOf(t, audit.OIDCLoginFailed); len(evs) == 0 || evs[0].Details["reason"] != "no_local_account" {
		t.Fatalf("oidc.failed events = %+v, want no_local_account", evs)
	}
	if !strings.Contains(page, "an administrator can link it") || !strings.Contains(page, "<code>sub-7f3a</code>") {
		t.Errorf("the refusal page does not name the account for an administrator:\n%s", page)
	}

	resp2, body := e.do(t, "POST", linkPath("alice"), `{"provider":"corp","subject":"sub-7f3a"}`, append(bearer(e.rootToken), "Content-Type", "application/json")...)
	if resp2.StatusCode != http.StatusCreated || !strings.Contains(body, `"issuer":"`+op.Issuer()+`"`) {
		t.Fatalf("link = %d %s, want 201 with the provider's issuer", resp2.StatusCode, body)
	}
	if resp := e.providerLogin(t); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the linked account's login = %d, want 303 to /account", resp.StatusCode)
	}
	evs := e.auditOf(t, audit.LoginOK)
	if len(evs) == 0 || evs[0].UserID != alice.ID || evs[0].Details["method"] != "oidc:corp" {
		t.Errorf("login.ok events = %+v, want the newest for alice with method oidc:corp", evs)
	}
	if id, err := e.App.Users.Identity(context.Background(), op.Issuer(), "sub-7f3a"); err != nil || id.LastLogin.IsZero() || id.Email != "a.smith@corp.example" {
		t.Errorf("the link after its login = %+v, %v; want a last login and the email the provider verified", id, err)
	}
}

// The user page's "Link an account" form: a provider select of the
// configured providers and a subject, posted same-origin as the page's
// other forms (refused cross-site and for a non-administrator), back to
// the page, which then lists the account; a refusal is the console's
// error page with the reason. Without providers the page says there is
// nothing to link and has no form.
func TestConsoleLinkIdentity(t *testing.T) {
	e := start(t, testutil.WithConfig(withLinkProviders))
	e.link(t, "carol", "s-carol")
	admin := append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)
	_, page := e.do(t, "GET", "/admin/users/alice", "", admin...)
	m := regexp.MustCompile(`<form method="post" action="(/admin/users/alice/identities/link)" aria-labelledby="link-account">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no link form on alice's page:\n%s", page)
	}
	for _, opt := range []string{`<option value="corp">corp (` + idp + `)</option>`, `<option value="gh">gh (` + githubIssuer + `)</option>`} {
		if !strings.Contains(html.UnescapeString(page), opt) {
			t.Errorf("the form lacks %s:\n%s", opt, page)
		}
	}
	form := url.Values{"provider": {"gh"}, "subject": {"4711"}}
	ct := []string{"Content-Type", "application/x-www-form-urlencoded"}
	same := []string{"Sec-Fetch-Site", "same-origin"}
	refusals := []struct {
		name   string
		form   url.Values
		header []string
		status int
		msg    string
	}{
		{"cross-site", form, append([]string{"Sec-Fetch-Site", "cross-site"}, admin...), 403, "sent from another site"},
		{"foreign Origin", form, append([]string{"Origin", "https://evil.example"}, admin...), 403, "sent from another site"},
		{"non-admin", form, append(append([]string{"Accept", "text/html"}, same...), e.cookie(e.aliceCookie)...), 403, "may not use the admin console"},
		{"unknown provider", url.Values{"provider": {"nope"}, "subject": {"4711"}}, append(same, admin...), 400, "oidc.providers names corp, gh"},
		{"subject missing", url.Values{"provider": {"gh"}}, append(same, admin...), 400, "subject is required"},
		{"carol's account", url.Values{"provider": {"corp"}, "subject": {"s-carol"}}, append(same, admin...), 409, "is already linked to carol"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, "POST", m[1], tt.form.Encode(), append(append([]string{}, ct...), tt.header...)...)
			if resp.StatusCode != tt.status || !strings.Contains(html.UnescapeString(body), tt.msg) {
				t.Fatalf("status = %d, want %d with %q:\n%s", resp.StatusCode, tt.status, tt.msg, body)
			}
			if got := e.linkedTo(t, "s-carol"); got == "" {
				t.Error("a refused link removed carol's")
			}
			if ids, _ := e.App.Users.Identities(context.Background(), e.userID(t, "alice")); len(ids) != 0 {
				t.Errorf("alice has %d linked accounts after a refused link, want none", len(ids))
			}
		})
	}
	resp, body := e.form(t, m[1], form)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/users/alice" {
		t.Fatalf("link = %d to %q, want 303 to /admin/users/alice:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if _, page := e.do(t, "GET", "/admin/users/alice", "", admin...); !strings.Contains(page, "<code>4711</code>") || !strings.Contains(page, "never") {
		t.Errorf("alice's page does not list the linked account, never signed in through:\n%s", page)
	}
	if evs := e.auditOf(t, audit.IdentityLinked); len(evs) != 2 || evs[0].Details["actor"] != "root" || evs[0].Details["via"] != "admin" {
		t.Errorf("oidc.linked events = %+v, want the newest with via admin, actor root", evs)
	}
	// The same account again: the user page, saying it was linked
	// already, and no second oidc.linked.
	resp, body = e.form(t, m[1], form)
	if resp.StatusCode != 200 || !strings.Contains(html.UnescapeString(body), `The gh account 4711 is already linked to alice; nothing changed.`) || !strings.Contains(body, "<code>4711</code>") {
		t.Errorf("linking the same account again = %d, want 200 with the user page saying it is linked already:\n%s", resp.StatusCode, body)
	}
	if evs := e.auditOf(t, audit.IdentityLinked); len(evs) != 2 {
		t.Errorf("%d oidc.linked events after linking the same account again, want 2", len(evs))
	}

	bare := start(t)
	_, page = bare.do(t, "GET", "/admin/users/alice", "", append([]string{"Accept", "text/html"}, bare.cookie(bare.rootCookie)...)...)
	if strings.Contains(page, "/identities/link") || !strings.Contains(page, "No login provider is configured") {
		t.Errorf("without providers the page offers a link form or does not say why not:\n%s", page)
	}
}

func (e *env) userID(t *testing.T, name string) string {
	t.Helper()
	u, err := e.App.Users.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}
