package httpapi_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// A login flood is shed, not queued (issue 11 finding 8), and
// passwords.max_wait is the bound between the two. With one hashing slot
// and per-client caps off, 48 concurrent logins on each endpoint:
//   - max_wait far below one hash: every login that finds the slot busy is
//     refused at once with 503, Retry-After and the contract's error body
//     (so some are refused), and every login admitted succeeds;
//   - max_wait far above the whole flood: nothing is refused, every login
//     queues and succeeds.
//
// Behaviour, not speed: the test counts answers and never reads a clock.
func TestLoginFloodIsShed(t *testing.T) {
	form := url.Values{"username": {"alice"}, "password": {strongPassword}, "next": {"/"}}.Encode()
	grant := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}}.Encode()
	endpoints := []loginEndpoint{
		{"login JSON", "/auth/login", "application/json", `{"username":"alice","password":"` + strongPassword + `"}`,
			http.StatusOK, `{"error":"temporarily_unavailable"}`},
		{"login form", "/auth/login", "application/x-www-form-urlencoded", form, http.StatusSeeOther, ""},
		{"password grant", "/auth/token", "application/x-www-form-urlencoded", grant, http.StatusOK, `"error":"temporarily_unavailable"`},
	}
	bounds := []struct {
		name    string
		maxWait time.Duration
		shed    bool // some logins refused (else none)
	}{
		// Any wait is too long: a login behind a running hash is refused.
		{"max_wait below one hash", time.Microsecond, true},
		// 48 hashes of the harness's cost fit many times over: all queue.
		{"max_wait above the flood", 10 * time.Minute, false},
	}
	for _, b := range bounds {
		t.Run(b.name, func(t *testing.T) {
			g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
				if b.shed {
					// The production cost (tens of milliseconds a hash), not
					// the harness's cheap one: a hash is then far longer than
					// the short max_wait, whatever the machine. Queueing
					// needs no such cost, and 48 production hashes one at a
					// time under -race on a loaded machine outlast the test
					// client's 30 s timeout.
					c.Passwords.MemoryKiB, c.Passwords.Iterations = 19456, 2
				}
				c.Passwords.MaxConcurrent = 1
				c.Passwords.MaxPerClient = -1 // only max_wait refuses
				c.Passwords.MaxWait = config.Duration(b.maxWait)
				c.Login.MaxFailures = 1000
			}))
			g.CreateUser(t, "alice", strongPassword)
			for _, tc := range endpoints {
				t.Run(tc.name, func(t *testing.T) {
					const n = 48
					ok, shed := floodLogins(t, g.URL, tc, n, nil)
					if ok+shed != n {
						return // the unexpected answers are reported above
					}
					switch {
					case b.shed && (shed == 0 || ok == 0):
						t.Errorf("%d logins: %d succeeded, %d shed; want some of each", n, ok, shed)
					case !b.shed && ok != n:
						t.Errorf("%d logins: %d succeeded, %d shed; want all to queue and succeed", n, ok, shed)
					}
				})
			}
		})
	}
}

// One client flooding the login endpoints cannot crowd out the others
// (passwords.max_per_client): with a cap of 2, 16 concurrent logins of one
// client IP get 503 + Retry-After beyond its cap, on every login endpoint,
// while another client's login, sent at the same time, succeeds.
func TestLoginFloodOfOneClientIsCapped(t *testing.T) {
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Passwords.MemoryKiB, c.Passwords.Iterations = 19456, 2 // ≈ 25 ms a hash: logins overlap
		c.Passwords.MaxConcurrent = 1
		c.Passwords.MaxPerClient = 2
		c.Passwords.ShedDelay = config.Duration(20 * time.Millisecond)
		c.Passwords.MaxWait = config.Duration(10 * time.Second) // no global shedding: only the cap refuses
		c.Login.MaxFailures = 1000
	}))
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)

	grant := func(user string) string {
		return url.Values{"grant_type": {"password"}, "username": {user}, "password": {strongPassword}}.Encode()
	}
	form := url.Values{"username": {"alice"}, "password": {strongPassword}, "next": {"/account"}}.Encode()
	cases := []loginEndpoint{
		{"login JSON", "/auth/login", "application/json", `{"username":"alice","password":"` + strongPassword + `"}`,
			http.StatusOK, `{"error":"temporarily_unavailable"}`},
		{"login form", "/auth/login", "application/x-www-form-urlencoded", form, http.StatusSeeOther, "/account"},
		{"password grant", "/auth/token", "application/x-www-form-urlencoded", grant("alice"), http.StatusOK,
			`"error":"temporarily_unavailable"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const n = 16
			// Another client, while the flood runs: never refused.
			other := func() {
				resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", grant("bob"),
					"Content-Type", "application/x-www-form-urlencoded", "X-Forwarded-For", "198.51.100.20")
				if resp.StatusCode != http.StatusOK {
					t.Errorf("other client's login during the flood = %d %s, want 200", resp.StatusCode, body)
				}
			}
			ok, shed := floodLogins(t, g.URL, tc, n, other, "X-Forwarded-For", "203.0.113.9")
			if ok == 0 || shed == 0 {
				t.Errorf("%d logins of one client: %d succeeded, %d refused; want some of each", n, ok, shed)
			}
		})
	}
}

// loginEndpoint is a password login as a flood sends it: where, what, and
// the answers it may get (okStatus, or 503 whose body contains shedBody).
type loginEndpoint struct {
	name, path, contentType, body string
	okStatus                      int
	shedBody                      string // "" = any
}

// floodLogins sends n concurrent logins to e (with header), runs during
// (when not nil) while they are in flight, and counts the successes and
// the 503 refusals; a refusal must carry Retry-After >= 1 s and e's body,
// and any other answer is an error.
func floodLogins(t *testing.T, base string, e loginEndpoint, n int, during func(), header ...string) (ok, shed int) {
	t.Helper()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	headers := append([]string{"Content-Type", e.contentType}, header...)
	for range n {
		wg.Go(func() {
			resp, body := do(t, testutil.Client(t), "POST", base+e.path, e.body, headers...)
			mu.Lock()
			defer mu.Unlock()
			switch resp.StatusCode {
			case e.okStatus:
				ok++
			case http.StatusServiceUnavailable:
				shed++
				if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs < 1 {
					t.Errorf("refused login Retry-After = %q, want whole seconds >= 1", resp.Header.Get("Retry-After"))
				}
				if !strings.Contains(body, e.shedBody) {
					t.Errorf("refused login body = %s, want it to contain %s", body, e.shedBody)
				}
			default:
				t.Errorf("login = %d %s, want %d or 503", resp.StatusCode, body, e.okStatus)
			}
		})
	}
	if during != nil {
		during()
	}
	wg.Wait()
	return ok, shed
}

// Logout tells the browser to drop every cookie of the origin, with and
// without a live session, for JSON and form clients alike.
func TestLogoutClearsSiteData(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	for _, tc := range []struct {
		name     string
		loggedIn bool
		header   []string
		status   int
	}{
		{"JSON with session", true, nil, http.StatusNoContent},
		{"JSON without session", false, nil, http.StatusNoContent},
		{"form with session", true, []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusSeeOther},
		{"form without session", false, []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testutil.Client(t)
			if tc.loggedIn {
				if resp, body := loginJSON(t, c, g.URL, "alice", strongPassword); resp.StatusCode != http.StatusOK {
					t.Fatalf("login = %d %s", resp.StatusCode, body)
				}
			}
			resp, _ := do(t, c, "POST", g.URL+"/auth/logout", "", tc.header...)
			if resp.StatusCode != tc.status {
				t.Errorf("logout = %d, want %d", resp.StatusCode, tc.status)
			}
			if got, want := resp.Header.Get("Clear-Site-Data"), `"cookies"`; got != want {
				t.Errorf("Clear-Site-Data = %q, want %q", got, want)
			}
		})
	}
}
