package admin_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// TestAuditFilterByNameOrID: the audit trail's user filter takes a
// username, as `gatehouse audit --user NAME` does, or a user ID, which is
// how a deleted user's events stay findable. GET /audit?user=alice
// answered 200 with an empty list, since the value was only ever compared
// with event user IDs. A value of 32 hexadecimal digits, the form of every
// user ID, is always an ID: a user who names themself after another user's
// ID (or a deleted user's) cannot make that user's trail show theirs.
func TestAuditFilterByNameOrID(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	alice, err := e.App.Users.Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	carol, err := e.App.Users.Get(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	bob := e.CreateUser(t, "bob", pw, "user")
	e.login(t, "bob")
	if err := e.App.Users.Delete(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	// Named after carol's ID, and after the deleted bob's in upper case
	// (names no new account may have: accounts from before that rule).
	mallory := e.legacyUser(t, "mallory", carol.ID)
	e.login(t, carol.ID)
	upperBob := e.legacyUser(t, "upper-bob", strings.ToUpper(bob.ID))
	e.login(t, upperBob.Username)

	tests := []struct {
		name, user, want string // want: the one user ID every event must have
	}{
		{"username", "alice", alice.ID},
		{"username in another case", "ALICE", alice.ID},
		{"user ID", alice.ID, alice.ID},
		{"user ID in upper case", strings.ToUpper(alice.ID), alice.ID},
		{"deleted user's ID", bob.ID, bob.ID},
		{"ID that is another user's username", carol.ID, carol.ID},
		{"deleted user's ID that is another user's username", strings.ToUpper(bob.ID), bob.ID},
		{"username that is no ID", mallory.Username[:8], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", "/admin/api/v1/audit?user="+url.QueryEscape(tt.user), "", bearer(e.rootToken)...)
			if resp.StatusCode != 200 {
				t.Fatalf("= %d %s, want 200", resp.StatusCode, body)
			}
			var page struct {
				Events []struct {
					UserID string `json:"user_id"`
				} `json:"events"`
			}
			if err := json.Unmarshal([]byte(body), &page); err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if len(page.Events) != 0 {
					t.Errorf("%d events, want none", len(page.Events))
				}
				return
			}
			if len(page.Events) == 0 {
				t.Fatal("no events")
			}
			for _, ev := range page.Events {
				if ev.UserID != tt.want {
					t.Errorf("event of user %q (mallory %q, upper-case bob %q), want only %q", ev.UserID, mallory.ID, upperBob.ID, tt.want)
				}
			}
		})
	}

	t.Run("console", func(t *testing.T) {
		for _, tt := range []struct{ user, shown, hidden string }{
			{"alice", "<td>alice</td>", "<td>carol</td>"},
			{carol.ID, "<td>carol</td>", "<td>" + carol.ID + "</td>"},
		} {
			resp, page := e.do(t, "GET", "/admin/audit?user="+url.QueryEscape(tt.user), "", append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)...)
			if resp.StatusCode != 200 || !strings.Contains(page, tt.shown) || strings.Contains(page, tt.hidden) {
				t.Errorf("user=%s: = %d, want 200 showing %s and not %s:\n%s", tt.user, resp.StatusCode, tt.shown, tt.hidden, page)
			}
		}
	})
}

// legacyUser is a user (password pw, role user) called name, a name in
// the form of a user ID that user.CheckName refuses to new accounts: an
// account from before that rule, created as first and renamed in the
// store, as such accounts were stored.
func (e *env) legacyUser(t *testing.T, first, name string) auth.User {
	t.Helper()
	u := e.CreateUser(t, first, pw, "user")
	renamed := u
	renamed.Username = name
	if err := e.App.Store.UpdateUser(context.Background(), renamed, u.UpdatedAt); err != nil {
		t.Fatalf("rename %s to %s: %v", first, name, err)
	}
	return renamed
}

// No new account may be named like a user ID (32 hexadecimal digits,
// either case): the audit filter reads such a value as an ID. The admin
// API and the console's "Add a user" refuse it with the reason.
func TestCreateUserRefusesAnIDFormName(t *testing.T) {
	e := start(t)
	const want = "username must not look like a user ID (32 hex digits)"
	for _, name := range []string{"0123456789abcdef0123456789abcdef", "0123456789ABCDEF0123456789ABCDEF"} {
		resp, body := e.do(t, "POST", "/admin/api/v1/users", `{"username":"`+name+`","password":"`+pw+`"}`,
			append([]string{"Content-Type", "application/json"}, bearer(e.rootToken)...)...)
		if resp.StatusCode != 400 || !strings.Contains(body, want) {
			t.Errorf("POST /users %s = %d %s, want 400 saying %q", name, resp.StatusCode, body, want)
		}
		resp, body = e.form(t, "/admin/users", url.Values{"username": {name}, "password": {pw}, "roles": {""}})
		if resp.StatusCode != 400 || !strings.Contains(body, want) {
			t.Errorf("console Add a user %s = %d, want 400 saying %q:\n%s", name, resp.StatusCode, want, body)
		}
		if _, err := e.App.Users.Get(context.Background(), name); err == nil {
			t.Errorf("user %s was created", name)
		}
	}
}
