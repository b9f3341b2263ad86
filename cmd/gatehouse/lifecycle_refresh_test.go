package main

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// The commands that sign a user out everywhere (docs/security.md, ASVS
// 6.4.3, 7.4.2, 7.4.3, 7.4.5) end, on the store a serve process uses,
// both the user's browser sessions and their refresh token families: a
// refresh token obtained before the command is refused after it.
func TestUserCommandsEndSessionsAndRefreshFamilies(t *testing.T) {
	c := newCLI(t, "listen: 127.0.0.1:0\nadmin_listen: ''\n")
	c.ok(pw, "user", "add", "alice", "--password-stdin")
	logs := c.serveInTest()
	var serving struct{ Listen string }
	if err := json.Unmarshal([]byte(logs.await(t, "gatehouse serving")), &serving); err != nil {
		t.Fatal(err)
	}
	base := "http://" + serving.Listen
	password := strings.TrimSpace(pw)

	login := func() *http.Client {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := hc.PostForm(base+"/auth/login", url.Values{"username": {"alice"}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d, want 303", resp.StatusCode)
		}
		return hc
	}
	sessionStatus := func(hc *http.Client) int {
		t.Helper()
		resp, err := hc.Get(base + "/auth/session")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// token posts to /auth/token and returns the status and refresh token.
	token := func(form url.Values) (int, string) {
		t.Helper()
		resp, err := http.PostForm(base+"/auth/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.RefreshToken
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"user logout", []string{"user", "logout", "alice"}},
		{"user passwd", []string{"user", "passwd", "alice", "--password-stdin"}},
		{"user disable", []string{"user", "disable", "alice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			browser := login()
			status, refresh := token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}})
			if status != http.StatusOK || refresh == "" {
				t.Fatalf("password grant: %d, refresh token %t; want 200 with one", status, refresh != "")
			}
			stdin := ""
			if tc.name == "user passwd" {
				password = "a brand new passphrase for alice"
				stdin = password + "\n"
			}
			c.ok(stdin, tc.args...)
			if status, _ := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); status != http.StatusBadRequest {
				t.Errorf("refresh with a token from before %s: %d, want 400 invalid_grant", tc.name, status)
			}
			// The serve process hears of the command through the
			// revocation feed: a condition wait, not a timed assertion.
			clocktest.Eventually(t, "the session begun before "+tc.name+" is refused (401)", func() bool {
				return sessionStatus(browser) == http.StatusUnauthorized
			})
		})
	}
}
