package httpapi_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

const chromeLinux = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"

func TestAccountPageForPeople(t *testing.T) {
	clock := testutil.NewClock()
	g := testutil.Start(t, testutil.WithClock(clock))
	g.CreateUser(t, "alice", strongPassword)
	c := testutil.Client(t)
	loginJSON(t, c, g.URL, "alice", strongPassword, "User-Agent", chromeLinux)
	clock.Advance(3 * time.Minute)
	resp, body := do(t, c, "GET", g.URL+"/account", "")
	if resp.StatusCode != 200 {
		t.Fatalf("/account = %d", resp.StatusCode)
	}
	for _, want := range []string{"Chrome on Linux", "3 minutes ago", `title="` + chromeLinux + `"`, "@media (max-width:600px)", `action="/auth/password"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/account lacks %q", want)
		}
	}
	if strings.Contains(body, "<script") {
		t.Error("/account has a script")
	}
}

func TestSignOutOtherSessionsForm(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	me, other := testutil.Client(t), testutil.Client(t)
	loginJSON(t, me, g.URL, "alice", strongPassword)
	loginJSON(t, other, g.URL, "alice", strongPassword)
	resp, _ := do(t, me, "POST", g.URL+"/auth/sessions/revoke-others", "", "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 303 {
		t.Fatalf("revoke-others = %d, want 303", resp.StatusCode)
	}
	if resp, _ := do(t, other, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 401 {
		t.Fatalf("other session after revoke-others = %d, want 401", resp.StatusCode)
	}
	if resp, _ := do(t, me, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 200 {
		t.Fatalf("own session after revoke-others = %d, want 200", resp.StatusCode)
	}
}

func TestChangePassword(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	me, other := testutil.Client(t), testutil.Client(t)
	loginJSON(t, me, g.URL, "alice", strongPassword)
	loginJSON(t, other, g.URL, "alice", strongPassword)
	const newPassword = "a completely different passphrase"
	form := func(cur, next string) string {
		return url.Values{"current_password": {cur}, "new_password": {next}}.Encode()
	}
	tests := []struct {
		name, current, next, location string
	}{
		{"WrongCurrentPassword", "not it at all, sorry", newPassword, "/account?password=wrong"},
		{"WeakNewPassword", strongPassword, "password1", "/account?password=weak"},
		{"Changed", strongPassword, newPassword, "/account?password=changed"},
	}
	for _, tt := range tests {
		resp, _ := do(t, me, "POST", g.URL+"/auth/password", form(tt.current, tt.next), "Content-Type", "application/x-www-form-urlencoded")
		if resp.StatusCode != 303 || resp.Header.Get("Location") != tt.location {
			t.Fatalf("%s: %d %q, want 303 %q", tt.name, resp.StatusCode, resp.Header.Get("Location"), tt.location)
		}
	}
	if resp, _ := do(t, other, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 401 {
		t.Fatalf("other session after password change = %d, want 401", resp.StatusCode)
	}
	if resp, _ := do(t, me, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 200 {
		t.Fatalf("own session after password change = %d, want 200 (a new session)", resp.StatusCode)
	}
	if resp, _ := loginJSON(t, testutil.Client(t), g.URL, "alice", newPassword); resp.StatusCode != 200 {
		t.Fatalf("login with the new password = %d", resp.StatusCode)
	}
	if resp, _ := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword); resp.StatusCode != 401 {
		t.Fatalf("login with the old password = %d, want 401", resp.StatusCode)
	}
}

// An API client refused a weak new password is told why, as the admin API
// and `gatehouse user passwd` say it; the form has its own ?password=weak.
func TestChangePasswordWeakJSONSaysWhy(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	me := testutil.Client(t)
	loginJSON(t, me, g.URL, "alice", strongPassword)
	tests := []struct{ name, next, want string }{
		{"TooShort", "short", "at least 8 characters"},
		{"Guessable", "password1", "easy to guess"},
	}
	for _, tt := range tests {
		b, _ := json.Marshal(map[string]string{"current_password": strongPassword, "new_password": tt.next})
		resp, body := do(t, me, "POST", g.URL+"/auth/password", string(b), "Content-Type", "application/json")
		m := decode(t, body)
		desc, _ := m["error_description"].(string)
		if resp.StatusCode != 400 || m["error"] != "invalid_request" || !strings.Contains(desc, tt.want) || strings.Contains(desc, tt.next) {
			t.Errorf("%s: %d %s, want 400 invalid_request describing %q without the password", tt.name, resp.StatusCode, body, tt.want)
		}
	}
}
