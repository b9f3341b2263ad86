package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// `gatehouse user identities NAME` lists a user's linked sign-in accounts
// with the issuer and subject `user unlink` takes; `user unlink` is the
// admin API's unlink (user.Service.Unlink): it removes only that user's
// link, ends every session of the user and audits oidc.unlinked with
// via=cli. Exit codes as the sibling commands: 2 for a call without
// --issuer or --subject, 1 for an unknown user or a link that is not
// theirs (which signs nobody out).
func TestUserIdentitiesAndUnlink(t *testing.T) {
	const issuer = "https://idp.example"
	c := newCLI(t, "")
	c.ok("", "user", "add", "alice", "--no-password")
	c.ok("", "user", "add", "carol", "--no-password")
	ctx := context.Background()
	a := c.openApp(t)
	for _, name := range []string{"alice", "carol"} {
		u, err := a.Users.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Users.Link(ctx, user.Identity{Issuer: issuer, Subject: "s-" + name, Provider: "corp", Email: name + "@corp.example"}, u); err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.Sessions.Create(ctx, u.ID, session.Meta{IP: "192.0.2.1", Method: "oidc:corp"}); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()

	out := c.ok("", "user", "identities", "alice")
	if lines := strings.Split(out, "\n"); len(lines) != 4 || !strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "corp "+issuer+" s-alice ") ||
		!strings.HasSuffix(lines[1], " alice@corp.example") || lines[2] != "1 linked account(s)" {
		t.Errorf("user identities alice =\n%s", out)
	}
	refusals := []struct {
		args []string
		code int
	}{
		{[]string{"user", "identities", "nobody"}, 1},
		{[]string{"user", "identities"}, 2},
		{[]string{"user", "unlink", "alice", "--issuer", issuer}, 2},
		{[]string{"user", "unlink", "alice", "--subject", "s-alice"}, 2},
		{[]string{"user", "unlink", "--issuer", issuer, "--subject", "s-alice"}, 2},
		{[]string{"user", "unlink", "alice", "--issuer", issuer, "--subject", "s-carol"}, 1},
		{[]string{"user", "unlink", "alice", "--issuer", "https://other.example", "--subject", "s-alice"}, 1},
		{[]string{"user", "unlink", "nobody", "--issuer", issuer, "--subject", "s-alice"}, 1},
	}
	for _, tt := range refusals { // c reports to t: no subtests
		if code, _, errOut := c.run("", tt.args...); code != tt.code || errOut == "" {
			t.Errorf("gatehouse %s: exit %d, stderr %q; want exit %d and a reason", strings.Join(tt.args, " "), code, errOut, tt.code)
		}
	}
	if out := c.ok("", "user", "sessions", "alice"); !strings.Contains(out, "1 session(s)") {
		t.Errorf("alice's sessions after the refusals:\n%s", out)
	}

	out = c.ok("", "user", "unlink", "alice", "--issuer", issuer, "--subject", "s-alice")
	if !strings.Contains(out, "unlinked") || !strings.Contains(out, "sessions and tokens were ended") {
		t.Errorf("user unlink printed %q", out)
	}
	if out := c.ok("", "user", "identities", "alice"); !strings.Contains(out, "0 linked account(s)") {
		t.Errorf("alice's identities after the unlink:\n%s", out)
	}
	if out := c.ok("", "user", "sessions", "alice"); !strings.Contains(out, "0 session(s)") {
		t.Errorf("alice's sessions after the unlink:\n%s", out)
	}
	if out := c.ok("", "user", "sessions", "carol"); !strings.Contains(out, "1 session(s)") {
		t.Errorf("carol's sessions after alice's unlink:\n%s", out)
	}
	out = c.ok("", "audit", "--type", "oidc.unlinked")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "via=cli") || !strings.Contains(out, "subject=s-alice") || strings.Count(out, "oidc.unlinked") != 1 {
		t.Errorf("audit --type oidc.unlinked after user unlink:\n%s", out)
	}
	if code, _, errOut := c.run("", "user", "unlink", "alice", "--issuer", issuer, "--subject", "s-alice"); code != 1 || !strings.Contains(errOut, "alice has no linked account") {
		t.Errorf("a second unlink: exit %d %q, want 1 and alice has no linked account", code, errOut)
	}
}

// `user unlink` of an account the user has no link to says so in one
// sentence that names the user, issuer and subject it was given (and where
// the user's links are listed), with exit 1 as before. It printed the
// store's "unlink identity: load identity: not found".
func TestUserUnlinkNotLinkedSaysWhat(t *testing.T) {
	const issuer = "https://idp.example"
	c := newCLI(t, "")
	c.ok("", "user", "add", "alice", "--no-password")
	c.ok("", "user", "add", "carol", "--no-password")
	ctx := context.Background()
	a := c.openApp(t)
	carol, err := a.Users.Get(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Users.Link(ctx, user.Identity{Issuer: issuer, Subject: "s-carol", Provider: "corp"}, carol); err != nil {
		t.Fatal(err)
	}
	a.Close()

	for _, tt := range []struct{ name, issuer, subject string }{
		{"no link at all", issuer, "s-alice"},
		{"another user's link", issuer, "s-carol"},
		{"another issuer", "https://other.example", "s-carol"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := c.run("", "user", "unlink", "alice", "--issuer", tt.issuer, "--subject", tt.subject)
			want := `gatehouse: alice has no linked account with issuer "` + tt.issuer + `" and subject "` + tt.subject +
				`" (gatehouse user identities alice lists them)` + "\n"
			if code != 1 || out != "" || errOut != want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
			}
		})
	}
	if out := c.ok("", "user", "identities", "carol"); !strings.Contains(out, "1 linked account(s)") {
		t.Errorf("carol's identities after alice's refused unlinks:\n%s", out)
	}
}

// `gatehouse user link NAME --provider P --subject SUB` is the admin
// API's link (user.Service.LinkAccount): the issuer is the configured
// provider's, so the login finds the link and signs in as that user. It
// signs nobody out and audits oidc.linked with via=cli. Exit codes: 2 for
// a call without --provider or --subject, an unknown provider (the message
// lists the configured ones) or a subject no login could match; 1 for an
// unknown user and an account linked to another user (the message says to
// whom). Linking it to its own user again changes nothing and exits 0.
func TestUserLinkThenTheProviderLoginSignsInAsTheUser(t *testing.T) {
	op := oidctestop.Start(t, oidctestop.WithUser(oidctestop.User{Subject: "sub-7f3a", Email: "a.smith@corp.example", EmailVerified: true}))
	srv := httptest.NewUnstartedServer(nil) // its address is public_url before gatehouse is built
	c := newCLI(t, fmt.Sprintf("public_url: http://%s\noidc:\n  providers:\n  - {name: corp, issuer: %q, client_id: %q, client_secret: %q}\n",
		srv.Listener.Addr(), op.Issuer(), op.ClientID(), op.ClientSecret()))
	c.ok("", "user", "add", "alice", "--no-password")
	c.ok("", "user", "add", "carol", "--no-password")
	ctx := context.Background()
	a := c.openApp(t)
	alice, err := a.Users.Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Sessions.Create(ctx, alice.ID, session.Meta{IP: "192.0.2.1", Method: "pwd"}); err != nil {
		t.Fatal(err)
	}
	a.Close()

	refusals := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"user", "link", "alice", "--provider", "corp"}, 2, "--provider and --subject are required"},
		{[]string{"user", "link", "alice", "--subject", "sub-7f3a"}, 2, "--provider and --subject are required"},
		{[]string{"user", "link", "--provider", "corp", "--subject", "sub-7f3a"}, 2, "gatehouse user link NAME"},
		{[]string{"user", "link", "alice", "--provider", "nope", "--subject", "sub-7f3a"}, 2, `unknown login provider "nope": oidc.providers names corp`},
		{[]string{"user", "link", "alice", "--provider", "corp", "--subject", "sub-7f3a "}, 2, "white space"},
		{[]string{"user", "link", "nobody", "--provider", "corp", "--subject", "sub-7f3a"}, 1, "not found"},
	}
	for _, tt := range refusals { // c reports to t: no subtests
		if code, out, errOut := c.run("", tt.args...); code != tt.code || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("gatehouse %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(tt.args, " "), code, out, errOut, tt.code, tt.want)
		}
	}
	if out := c.ok("", "user", "identities", "alice"); !strings.Contains(out, "0 linked account(s)") {
		t.Errorf("alice's identities after the refusals:\n%s", out)
	}

	out := c.ok("", "user", "link", "alice", "--provider", "corp", "--subject", "sub-7f3a")
	if want := "linked corp account sub-7f3a (issuer " + op.Issuer() + ") to alice; their sessions and tokens are unchanged\n"; out != want {
		t.Errorf("user link printed %q, want %q", out, want)
	}
	// Linking it to alice again changes nothing and succeeds; to carol it
	// is refused, naming alice.
	if out := c.ok("", "user", "link", "alice", "--provider", "corp", "--subject", "sub-7f3a"); out != "corp account sub-7f3a (issuer "+op.Issuer()+") is already linked to alice; nothing changed\n" {
		t.Errorf("linking the account to alice again printed %q, want that it is already linked", out)
	}
	if code, _, errOut := c.run("", "user", "link", "carol", "--provider", "corp", "--subject", "sub-7f3a"); code != 1 || !strings.Contains(errOut, `"sub-7f3a" is already linked to alice`) {
		t.Errorf("linking the account to carol: exit %d %q, want 1 and already linked to alice", code, errOut)
	}
	out = c.ok("", "user", "identities", "alice")
	if lines := strings.Split(out, "\n"); len(lines) != 4 || strings.Join(append(strings.Fields(lines[1])[:3:3], strings.Fields(lines[1])[4:]...), " ") != "corp "+op.Issuer()+" sub-7f3a never -" {
		t.Errorf("user identities alice after the link (never signed in through, no email) =\n%s", out)
	}
	if out := c.ok("", "user", "sessions", "alice"); !strings.Contains(out, "1 session(s)") {
		t.Errorf("alice's sessions after the link:\n%s", out)
	}
	out = c.ok("", "audit", "--type", "oidc.linked")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "via=cli") || !strings.Contains(out, "actor=cli") ||
		!strings.Contains(out, "subject=sub-7f3a") || strings.Count(out, "oidc.linked") != 1 {
		t.Errorf("audit --type oidc.linked after user link:\n%s", out)
	}

	a = c.openApp(t)
	defer a.Close()
	srv.Config.Handler = a.Handler()
	srv.Start()
	defer srv.Close()
	op.AddRedirectURI(srv.URL + "/auth/oidc/corp/callback")
	if status, loc := providerLogin(t, srv.URL+"/auth/oidc/corp/start?next=/account"); status != http.StatusSeeOther || loc != "/account" {
		t.Fatalf("the linked account's login = %d to %q, want 303 to /account", status, loc)
	}
	evs, err := a.Store.ListAudit(ctx, audit.Filter{Type: audit.LoginOK})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].UserID != alice.ID || evs[0].Details["method"] != "oidc:corp" {
		t.Errorf("login.ok events = %+v, want one for alice with method oidc:corp", evs)
	}
	// The link had no email; the login recorded the one the provider
	// verified, which gatehouse gives its apps.
	if out := c.ok("", "user", "identities", "alice"); !strings.Contains(out, "a.smith@corp.example") || strings.Contains(out, "never") {
		t.Errorf("user identities alice after the login (signed in through, the verified email) =\n%s", out)
	}
}

// providerLogin follows a login from start through the provider's pages
// (which sign the test user in at once) to gatehouse's last answer, with
// one browser's cookies; it returns that answer's status and Location.
func providerLogin(t *testing.T, start string) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := start
	for range 10 {
		resp, err := hc.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther || loc == "/account" {
			return resp.StatusCode, loc
		}
		if strings.HasPrefix(loc, "/") {
			u, _ := url.Parse(next)
			loc = u.Scheme + "://" + u.Host + loc
		}
		next = loc
	}
	t.Fatal("too many redirects")
	return 0, ""
}
