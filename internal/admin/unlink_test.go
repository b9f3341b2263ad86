package admin_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/openapitest"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

const idp = "https://idp.example"

// link links the external account (idp, subject) to the user name.
func (e *env) link(t *testing.T, name, subject string) {
	t.Helper()
	u, err := e.App.Users.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.App.Users.Link(context.Background(), user.Identity{Issuer: idp, Subject: subject, Provider: "corp", Email: name + "@corp.example"}, u); err != nil {
		t.Fatal(err)
	}
}

// linkedTo is the user ID (idp, subject) is linked to, "" when none.
func (e *env) linkedTo(t *testing.T, subject string) string {
	t.Helper()
	id, err := e.App.Users.Identity(context.Background(), idp, subject)
	if errors.Is(err, auth.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return id.UserID
}

func unlinkPath(name string, q url.Values) string {
	return "/admin/api/v1/users/" + url.PathEscape(name) + "/identities?" + q.Encode()
}

// DELETE /admin/api/v1/users/{name}/identities?issuer=&subject= unlinks
// only an account of that user, only for an administrator, and refuses a
// cookie-authenticated request from another origin. A refusal signs nobody
// out; an unlink ends every session and token grant of the user.
func TestUnlinkIdentityAPI(t *testing.T) {
	e := start(t)
	e.link(t, "alice", "s-alice")
	e.link(t, "carol", "s-carol")
	alice, _ := e.App.Users.Get(context.Background(), "alice")
	carol, _ := e.App.Users.Get(context.Background(), "carol")
	aliceQ := url.Values{"issuer": {idp}, "subject": {"s-alice"}}
	tests := []struct {
		name   string
		user   string
		q      url.Values
		header []string
		status int
		code   string
	}{
		{"non-admin token", "alice", aliceQ, bearer(e.aliceToken), 403, "forbidden"},
		{"non-admin session", "alice", aliceQ, append([]string{"Sec-Fetch-Site", "same-origin"}, e.cookie(e.aliceCookie)...), 403, "forbidden"},
		{"admin cookie, cross-site", "alice", aliceQ, append([]string{"Sec-Fetch-Site", "cross-site"}, e.cookie(e.rootCookie)...), 403, "forbidden"},
		{"admin cookie, foreign Origin", "alice", aliceQ, append([]string{"Origin", "https://evil.example"}, e.cookie(e.rootCookie)...), 403, "forbidden"},
		{"no credential", "alice", aliceQ, nil, 401, "unauthorized"},
		{"subject missing", "alice", url.Values{"issuer": {idp}}, bearer(e.rootToken), 400, "invalid_request"},
		{"issuer missing", "alice", url.Values{"subject": {"s-alice"}}, bearer(e.rootToken), 400, "invalid_request"},
		{"issuer empty", "alice", url.Values{"issuer": {""}, "subject": {"s-alice"}}, bearer(e.rootToken), 400, "invalid_request"},
		{"another user's account", "alice", url.Values{"issuer": {idp}, "subject": {"s-carol"}}, bearer(e.rootToken), 404, "not_found"},
		{"the subject at another issuer", "alice", url.Values{"issuer": {"https://other.example"}, "subject": {"s-alice"}}, bearer(e.rootToken), 404, "not_found"},
		{"unknown user", "nobody", aliceQ, bearer(e.rootToken), 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, "DELETE", unlinkPath(tt.user, tt.q), "", tt.header...)
			if resp.StatusCode != tt.status || !strings.Contains(body, `"error":"`+tt.code+`"`) {
				t.Fatalf("status = %d %s, want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
			if got := e.linkedTo(t, "s-alice"); got != alice.ID {
				t.Errorf("alice's account after a refused unlink is linked to %q, want %q", got, alice.ID)
			}
			if got := e.linkedTo(t, "s-carol"); got != carol.ID {
				t.Errorf("carol's account after a refused unlink is linked to %q, want %q", got, carol.ID)
			}
		})
	}
	if n := len(e.auditOf(t, audit.IdentityUnlinked)); n != 0 {
		t.Fatalf("%d oidc.unlinked events after refusals, want none", n)
	}
	if resp, _ := e.do(t, "GET", "/auth/session", "", e.cookie(e.aliceCookie)...); resp.StatusCode != 200 {
		t.Fatalf("alice's session after the refused unlinks answers %d, want 200", resp.StatusCode)
	}

	for _, cred := range []struct {
		name    string
		subject string
		header  []string
	}{
		{"admin token", "s-alice", bearer(e.rootToken)},
		{"admin session, same origin", "s-alice-2", append([]string{"Sec-Fetch-Site", "same-origin"}, e.cookie(e.rootCookie)...)},
	} {
		t.Run(cred.name, func(t *testing.T) {
			if cred.subject != "s-alice" {
				e.link(t, "alice", cred.subject)
			}
			resp, body := e.do(t, "DELETE", unlinkPath("alice", url.Values{"issuer": {idp}, "subject": {cred.subject}}), "", cred.header...)
			if resp.StatusCode != 204 {
				t.Fatalf("unlink = %d %s, want 204", resp.StatusCode, body)
			}
			// Whoever signed in through the account must not stay signed in.
			if resp, _ := e.do(t, "GET", "/auth/session", "", e.cookie(e.aliceCookie)...); resp.StatusCode != 401 {
				t.Errorf("alice's session after the unlink answers %d, want 401", resp.StatusCode)
			}
			if resp, _ := e.do(t, "GET", "/auth/userinfo", "", bearer(e.aliceToken)...); resp.StatusCode != 401 {
				t.Errorf("alice's token grant after the unlink answers %d, want 401", resp.StatusCode)
			}
			if got := e.auditOf(t, audit.IdentityUnlinked)[0].Details["sessions"]; got != "all" {
				t.Errorf("oidc.unlinked sessions = %q, want all", got)
			}
			if got := e.linkedTo(t, cred.subject); got != "" {
				t.Errorf("the account after the unlink is linked to %q, want none", got)
			}
			evs := e.auditOf(t, audit.IdentityUnlinked)
			if len(evs) == 0 || evs[0].UserID != alice.ID || evs[0].Details["subject"] != cred.subject || evs[0].Details["actor"] != "root" {
				t.Errorf("oidc.unlinked events = %+v, want the newest for alice, %s, actor root", evs, cred.subject)
			}
			if resp, body := e.do(t, "DELETE", unlinkPath("alice", url.Values{"issuer": {idp}, "subject": {cred.subject}}), "", bearer(e.rootToken)...); resp.StatusCode != 404 {
				t.Errorf("second unlink = %d %s, want 404", resp.StatusCode, body)
			}
		})
	}
	if got := e.linkedTo(t, "s-carol"); got != carol.ID {
		t.Errorf("carol's account is linked to %q, want %q", got, carol.ID)
	}
}

func (e *env) auditOf(t *testing.T, typ string) []audit.Event {
	t.Helper()
	evs, err := e.App.Store.ListAudit(context.Background(), audit.Filter{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// The user page's "Unlink" button per linked account: a same-origin form
// as the page's other per-row actions, refused cross-site.
func TestConsoleUnlinkIdentity(t *testing.T) {
	e := start(t)
	e.link(t, "alice", "s-alice")
	e.link(t, "carol", "s-carol")
	carol, _ := e.App.Users.Get(context.Background(), "carol")
	admin := append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)
	_, page := e.do(t, "GET", "/admin/users/alice", "", admin...)
	m := regexp.MustCompile(`<form class="inline" method="post" action="(/admin/users/alice/identities/unlink)"><input type="hidden" name="issuer" value="([^"]*)"><input type="hidden" name="subject" value="([^"]*)"><button type="submit" class="danger" aria-label="[^"]+">Unlink</button></form>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no Unlink form on alice's page:\n%s", page)
	}
	form := url.Values{"issuer": {html.UnescapeString(m[2])}, "subject": {html.UnescapeString(m[3])}}
	if got := form.Get("issuer") + " " + form.Get("subject"); got != idp+" s-alice" {
		t.Fatalf("the form names %q, want alice's account", got)
	}
	ct := []string{"Content-Type", "application/x-www-form-urlencoded"}
	refusals := []struct {
		name   string
		form   url.Values
		header []string
		status int
	}{
		{"cross-site", form, append([]string{"Sec-Fetch-Site", "cross-site"}, admin...), 403},
		{"non-admin", form, append([]string{"Sec-Fetch-Site", "same-origin", "Accept", "text/html"}, e.cookie(e.aliceCookie)...), 403},
		{"subject missing", url.Values{"issuer": {idp}}, append([]string{"Sec-Fetch-Site", "same-origin"}, admin...), 400},
		{"carol's account", url.Values{"issuer": {idp}, "subject": {"s-carol"}}, append([]string{"Sec-Fetch-Site", "same-origin"}, admin...), 404},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, "POST", m[1], tt.form.Encode(), append(append([]string{}, ct...), tt.header...)...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d:\n%s", resp.StatusCode, tt.status, body)
			}
			if e.linkedTo(t, "s-alice") == "" || e.linkedTo(t, "s-carol") != carol.ID {
				t.Error("a refused unlink removed a link")
			}
		})
	}
	resp, body := e.form(t, m[1], form)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/users/alice" {
		t.Fatalf("unlink = %d to %q, want 303 to /admin/users/alice:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if got := e.linkedTo(t, "s-alice"); got != "" {
		t.Errorf("alice's account after the unlink is linked to %q, want none", got)
	}
	if evs := e.auditOf(t, audit.IdentityUnlinked); len(evs) != 1 || evs[0].Details["actor"] != "root" {
		t.Errorf("oidc.unlinked events = %+v, want one with actor root", evs)
	}
	if _, page := e.do(t, "GET", "/admin/users/alice", "", admin...); strings.Contains(page, "/identities/unlink") {
		t.Errorf("alice's page still offers an unlink:\n%s", page)
	}
}

// providerLogin signs a new browser in through login provider "corp" and
// returns gatehouse's last answer: 303 to /account, or the refusal page.
func (e *env) providerLogin(t *testing.T) *http.Response {
	t.Helper()
	resp, _ := e.providerLoginPage(t)
	return resp
}

// providerLoginPage is providerLogin with the last answer's body.
func (e *env) providerLoginPage(t *testing.T) (*http.Response, string) {
	t.Helper()
	provider := testutil.Client(t) // the provider's pages are not gatehouse's
	b := *provider
	b.Transport = openapitest.Transport(t, nil) // gatehouse's answers match the document
	next := e.URL + "/auth/oidc/corp/start?next=/account"
	for range 10 {
		c := provider
		if strings.HasPrefix(next, e.URL+"/") {
			c = &b
		}
		resp, err := c.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		body := testutil.ReadBody(t, resp)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther || loc == "/account" {
			return resp, body
		}
		if strings.HasPrefix(loc, "/") {
			loc = e.URL + loc
		}
		next = loc
	}
	t.Fatal("too many redirects")
	return nil, ""
}

// The whole remedy: a provider gave alice's verified address to another
// account; link_by_email refuses it (alice is linked to her old account of
// that issuer) until an administrator unlinks the old account, after which
// the new one links to alice and signs in.
func TestUnlinkLetsTheReassignedAccountSignIn(t *testing.T) {
	const email = "alice@corp.example"
	op := oidctestop.Start(t, oidctestop.WithUser(oidctestop.User{Subject: "sub-old", Email: email, EmailVerified: true}))
	e := start(t, testutil.WithConfig(func(c *config.Config) {
		c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID(),
			ClientSecret: op.ClientSecret(), LinkByEmail: true}}
	}))
	op.AddRedirectURI(e.URL + "/auth/oidc/corp/callback")
	local := e.CreateUser(t, email, pw, "user")

	if resp := e.providerLogin(t); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the old account's login = %d, want 303 to /account", resp.StatusCode)
	}
	op.SetUser(oidctestop.User{Subject: "sub-new", Email: email, EmailVerified: true})
	if resp := e.providerLogin(t); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the new account's login while the old one is linked = %d, want 403", resp.StatusCode)
	}
	if evs := e.auditOf(t, audit.OIDCLoginFailed); len(evs) == 0 || evs[0].Details["reason"] != "already_linked" || evs[0].UserID != local.ID {
		t.Fatalf("oidc.failed events = %+v, want already_linked for %s", evs, local.ID)
	}

	resp, body := e.do(t, "DELETE", unlinkPath(email, url.Values{"issuer": {op.Issuer()}, "subject": {"sub-old"}}), "", bearer(e.rootToken)...)
	if resp.StatusCode != 204 {
		t.Fatalf("unlink = %d %s, want 204", resp.StatusCode, body)
	}
	if resp := e.providerLogin(t); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the new account's login after the unlink = %d, want 303 to /account", resp.StatusCode)
	}
	id, err := e.App.Users.Identity(context.Background(), op.Issuer(), "sub-new")
	if err != nil || id.UserID != local.ID {
		t.Errorf("the new account's link = %+v, %v; want one to %s", id, err, local.ID)
	}
}
