package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// The login page masks the password, lets password managers fill it and
// does not block pasting; the account page offers sign-out (ASVS 6.2.6,
// 6.2.7, 7.4.4; docs/security.md).
func TestPagesMaskPasswordAndOfferLogout(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	c := testutil.Client(t)
	_, login := do(t, c, "GET", g.URL+"/login", "")
	for _, want := range []string{`type="password"`, `autocomplete="current-password"`} {
		if !strings.Contains(login, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	for _, bad := range []string{"onpaste", "oncopy", `autocomplete="off"`} {
		if strings.Contains(login, bad) {
			t.Errorf("login page contains %s", bad)
		}
	}
	if resp, body := loginJSON(t, c, g.URL, "alice", strongPassword); resp.StatusCode != http.StatusOK {
		t.Fatalf("login = %d %s", resp.StatusCode, body)
	}
	if _, account := do(t, c, "GET", g.URL+"/account", ""); !strings.Contains(account, `action="/auth/logout"`) {
		t.Errorf("account page has no logout form")
	}
}

// The password is checked exactly as sent: no trimming, no case folding,
// no truncation (ASVS 6.2.8).
func TestPasswordUsedExactlyAsSent(t *testing.T) {
	g := testutil.Start(t)
	long := strings.Repeat("correct horse battery staple ", 4) // 116 characters
	g.CreateUser(t, "alice", long)
	for _, tc := range []struct {
		name, password string
		status         int
	}{
		{"exact", long, http.StatusOK},
		{"trailing space trimmed", strings.TrimSpace(long), http.StatusUnauthorized},
		{"upper case", strings.ToUpper(long), http.StatusUnauthorized},
		{"truncated to 64", long[:64], http.StatusUnauthorized},
		{"extra space", long + " ", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := loginJSON(t, testutil.Client(t), g.URL, "alice", tc.password); resp.StatusCode != tc.status {
				t.Errorf("login = %d %s, want %d", resp.StatusCode, body, tc.status)
			}
		})
	}
}
