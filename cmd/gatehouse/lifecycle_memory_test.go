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

// With sessions.store: memory the sessions live in the serve process, out
// of reach of a command run beside it. `gatehouse user logout` and `user
// passwd` (and every command that signs a user out everywhere) still end
// them: the serve process ends, in its own store, the user's sessions
// whose login came before the command (a session started after it lives
// on).
func TestUserCommandsEndTheSessionsOfAServeProcessWithMemorySessions(t *testing.T) {
	c := newCLI(t, "listen: 127.0.0.1:0\nadmin_listen: ''\nsessions: {store: memory}\n")
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
		return hc
	}
	status := func(hc *http.Client) int {
		t.Helper()
		resp, err := hc.Get(base + "/auth/session")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"user logout", []string{"user", "logout", "alice"}},
		{"user passwd", []string{"user", "passwd", "alice", "--password-stdin"}},
	} {
		before := login()
		if got := status(before); got != http.StatusOK {
			t.Fatalf("%s: the session before the command: GET /auth/session = %d, want 200", tc.name, got)
		}
		stdin := ""
		if tc.name == "user passwd" {
			password = "a brand new passphrase for alice"
			stdin = password + "\n"
		}
		c.ok(stdin, tc.args...)
		// The serve process hears of the command through the revocation
		// feed: a condition wait, not a timed assertion.
		clocktest.Eventually(t, "the session begun before "+tc.name+" is refused (401)", func() bool {
			return status(before) == http.StatusUnauthorized
		})
		if tc.name == "user passwd" {
			continue
		}
		if got := status(login()); got != http.StatusOK {
			t.Errorf("a login after %s: GET /auth/session = %d, want 200 (only earlier logins end)", tc.name, got)
		}
	}
}
