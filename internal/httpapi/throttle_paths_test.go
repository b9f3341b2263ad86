package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestLoginThrottleOneCountPerAccountAndClient: the JSON login, the form
// login and the password grant share the login throttle's counters
// (contract §4), and a spelling of the same account (case, full-width
// letters, spaces around it) or of the same client (another address in
// its IPv6 /64, another spelling of an address, IPv4-mapped IPv6) counts
// under the same key, with no fresh budget. The 429's Retry-After is the
// whole seconds until a retry goes through, on the fake clock.
func TestLoginThrottleOneCountPerAccountAndClient(t *testing.T) {
	tests := []struct {
		name     string
		failures [][3]string // via, username, X-Forwarded-For
		locked   string      // a client address the account is locked from
		free     string      // a client address it is not
	}{
		{"IPv6 /64 and name spellings", [][3]string{
			{"json", "alice", "2001:db8:1:2::1"},
			{"form", "ALICE", "2001:db8:1:2::abcd"},
			{"token", "ａｌｉｃｅ", "2001:DB8:1:2:0:0:0:1"},
		}, "2001:db8:1:2:ffff::9", "2001:db8:1:3::1"},
		{"IPv4 spellings", [][3]string{
			{"json", " Alice ", "203.0.113.7"},
			{"token", "alice", "::ffff:203.0.113.7"},
			{"form", "aLiCe", "::FFFF:cb00:7107"},
		}, "203.0.113.7", "203.0.113.8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := testutil.NewClock()
			g := testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(func(c *config.Config) { c.Login.MaxFailures = len(tt.failures) }))
			g.CreateUser(t, "alice", strongPassword)
			login := func(via, name, pw, xff string) *http.Response {
				t.Helper()
				from := []string{"X-Forwarded-For", xff}
				var resp *http.Response
				switch via {
				case "json":
					resp, _ = loginJSON(t, testutil.Client(t), g.URL, name, pw, from...)
				case "form":
					resp, _ = loginForm(t, testutil.Client(t), g.URL, name, pw, "/", from...)
				case "token":
					form := url.Values{"grant_type": {"password"}, "username": {name}, "password": {pw}}
					resp, _ = do(t, testutil.Client(t), "POST", g.URL+"/auth/token", form.Encode(),
						append([]string{"Content-Type", "application/x-www-form-urlencoded"}, from...)...)
				}
				return resp
			}
			for _, f := range tt.failures {
				if resp := login(f[0], f[1], "wrong password !!", f[2]); resp.StatusCode == http.StatusTooManyRequests {
					t.Fatalf("failure %v = 429 before max_failures", f)
				}
			}
			for _, via := range []string{"json", "form", "token"} {
				resp := login(via, "alice", strongPassword, tt.locked)
				if got, want := resp.StatusCode, http.StatusTooManyRequests; got != want {
					t.Fatalf("%s login from %s after max_failures = %d, want %d", via, tt.locked, got, want)
				}
				if got, want := resp.Header.Get("Retry-After"), "1"; got != want {
					t.Errorf("%s login: Retry-After = %q, want %q", via, got, want)
				}
			}
			if resp := login("json", "alice", strongPassword, tt.free); resp.StatusCode != http.StatusOK {
				t.Fatalf("login from another client %s = %d, want 200", tt.free, resp.StatusCode)
			}
			clock.Advance(time.Second - time.Nanosecond)
			if resp := login("json", "alice", strongPassword, tt.locked); resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("login just before Retry-After ran out = %d, want 429", resp.StatusCode)
			}
			clock.Advance(time.Nanosecond)
			if resp := login("json", "alice", strongPassword, tt.locked); resp.StatusCode != http.StatusOK {
				t.Fatalf("login once Retry-After ran out = %d, want 200", resp.StatusCode)
			}
		})
	}
}
