package admin_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
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
	// Named after carol's ID, and after the deleted bob's in upper case.
	mallory := e.CreateUser(t, carol.ID, pw, "user")
	e.login(t, carol.ID)
	upperBob := e.CreateUser(t, strings.ToUpper(bob.ID), pw, "user")

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
