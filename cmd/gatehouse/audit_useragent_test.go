package main

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// `gatehouse audit` shows an event's User-Agent (user_agent=…) quoted when
// it holds a space; an event the CLI itself records (`user disable`) was
// not served over HTTP and carries none.
func TestAuditCommandShowsTheUserAgent(t *testing.T) {
	c := newCLI(t, "")
	c.ok(pw, "user", "add", "alice", "--password-stdin")
	c.ok("", "user", "disable", "alice")
	if out := c.ok("", "audit", "--type", "user.disabled"); strings.Contains(out, "user_agent") || !strings.Contains(out, "user.disabled") {
		t.Errorf("audit --type user.disabled, want the event without user_agent:\n%s", out)
	}

	a := c.openApp(t)
	ctx := audit.WithRequest(context.Background(), &audit.Request{IP: "192.0.2.1", ID: "r1", UserAgent: "Mozilla/5.0 (X11)\u202e\u009b2J"})
	if _, err := a.Users.Login(ctx, user.Attempt{Username: "nobody", Password: "wrong password", IP: "192.0.2.1", Via: "json"}); err == nil {
		t.Fatal("login of an unknown user succeeded")
	}
	a.Close()
	out := c.ok("", "audit", "--type", "login.failed")
	if want := "user_agent=\"Mozilla/5.0 (X11)\uFFFD\uFFFD2J\""; !strings.Contains(out, want) {
		t.Errorf("audit --type login.failed, want %s:\n%s", want, out)
	}
}
