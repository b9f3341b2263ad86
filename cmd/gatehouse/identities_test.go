package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

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
	env := &env{configPath: c.cfg, getenv: func(string) string { return "" }, stderr: &bytes.Buffer{}}
	a, err := env.openApp(ctx)
	if err != nil {
		t.Fatal(err)
	}
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
	env := &env{configPath: c.cfg, getenv: func(string) string { return "" }, stderr: &bytes.Buffer{}}
	a, err := env.openApp(ctx)
	if err != nil {
		t.Fatal(err)
	}
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
