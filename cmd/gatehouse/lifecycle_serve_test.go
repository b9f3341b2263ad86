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

// servedAlice is a serve process run in the test, with the user alice, for
// the commands that sign her out everywhere while it runs.
type servedAlice struct {
	c        *cli
	base     string
	password string // alice's, changed by the tests of user passwd
}

func serveAlice(t *testing.T, config string) *servedAlice {
	t.Helper()
	c := newCLI(t, config)
	c.ok(pw, "user", "add", "alice", "--password-stdin")
	logs := c.serveInTest()
	var serving struct{ Listen string }
	if err := json.Unmarshal([]byte(logs.await(t, "gatehouse serving")), &serving); err != nil {
		t.Fatal(err)
	}
	return &servedAlice{c: c, base: "http://" + serving.Listen, password: strings.TrimSpace(pw)}
}

// login signs alice in with the form and returns the browser holding her
// session cookie.
func (s *servedAlice) login(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.PostForm(s.base+"/auth/login", url.Values{"username": {"alice"}, "password": {s.password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d, want 303", resp.StatusCode)
	}
	return hc
}

// sessionStatus is the status of GET /auth/session with hc's cookie.
func (s *servedAlice) sessionStatus(t *testing.T, hc *http.Client) int {
	t.Helper()
	resp, err := hc.Get(s.base + "/auth/session")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// run runs a command that signs alice out everywhere; user passwd gives
// her a new password.
func (s *servedAlice) run(t *testing.T, name string, args ...string) {
	t.Helper()
	stdin := ""
	if name == "user passwd" {
		s.password = "a brand new passphrase for alice"
		stdin = s.password + "\n"
	}
	s.c.ok(stdin, args...)
}

// With sessions.store: memory the sessions live in the serve process, out
// of reach of a command run beside it. `gatehouse user logout` and `user
// passwd` (and every command that signs a user out everywhere) still end
// them: the serve process ends, in its own store, the user's sessions
// whose login came before the command (a session started after it lives
// on).
func TestUserCommandsEndTheSessionsOfAServeProcessWithMemorySessions(t *testing.T) {
	s := serveAlice(t, "listen: 127.0.0.1:0\nadmin_listen: ''\nsessions: {store: memory}\n")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"user logout", []string{"user", "logout", "alice"}},
		{"user passwd", []string{"user", "passwd", "alice", "--password-stdin"}},
	} {
		before := s.login(t)
		if got := s.sessionStatus(t, before); got != http.StatusOK {
			t.Fatalf("%s: the session before the command: GET /auth/session = %d, want 200", tc.name, got)
		}
		s.run(t, tc.name, tc.args...)
		// The serve process hears of the command through the revocation
		// feed: a condition wait, not a timed assertion.
		clocktest.Eventually(t, "the session begun before "+tc.name+" is refused (401)", func() bool {
			return s.sessionStatus(t, before) == http.StatusUnauthorized
		})
		if tc.name == "user passwd" {
			continue
		}
		if got := s.sessionStatus(t, s.login(t)); got != http.StatusOK {
			t.Errorf("a login after %s: GET /auth/session = %d, want 200 (only earlier logins end)", tc.name, got)
		}
	}
}

// The commands that sign a user out everywhere (docs/security.md, ASVS
// 6.4.3, 7.4.2, 7.4.3, 7.4.5) end, on the store a serve process uses,
// both the user's browser sessions and their refresh token families: a
// refresh token obtained before the command is refused after it.
func TestUserCommandsEndSessionsAndRefreshFamilies(t *testing.T) {
	s := serveAlice(t, "listen: 127.0.0.1:0\nadmin_listen: ''\n")
	// token posts to /auth/token and returns the status and refresh token.
	token := func(form url.Values) (int, string) {
		t.Helper()
		resp, err := http.PostForm(s.base+"/auth/token", form)
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
			browser := s.login(t)
			status, refresh := token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {s.password}})
			if status != http.StatusOK || refresh == "" {
				t.Fatalf("password grant: %d, refresh token %t; want 200 with one", status, refresh != "")
			}
			s.run(t, tc.name, tc.args...)
			if status, _ := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); status != http.StatusBadRequest {
				t.Errorf("refresh with a token from before %s: %d, want 400 invalid_grant", tc.name, status)
			}
			// The serve process hears of the command through the
			// revocation feed: a condition wait, not a timed assertion.
			clocktest.Eventually(t, "the session begun before "+tc.name+" is refused (401)", func() bool {
				return s.sessionStatus(t, browser) == http.StatusUnauthorized
			})
		})
	}
}
