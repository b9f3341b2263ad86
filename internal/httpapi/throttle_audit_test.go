package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// Refused logins of a locked throttle key cost no hashing, so each must not
// cost an audit row: the first refusal of a key in a minute is recorded,
// the rest are counted, and the key's next recorded event says how many
// (details.suppressed). Another account, or the same account from another
// address, is another key and gets its own first event.
func TestThrottledLoginsAreCoalescedPerKey(t *testing.T) {
	for _, st := range stores {
		t.Run(st, func(t *testing.T) {
			g := passkeyInstance(t, st, func(c *config.Config) { c.Login.MaxFailures = 1 })
			g.CreateUser(t, "alice", strongPassword)
			g.CreateUser(t, "bob", strongPassword)
			c := testutil.Client(t)
			login := func(name, pw, ip string) int {
				t.Helper()
				resp, _ := loginJSON(t, c, g.URL, name, pw, "X-Forwarded-For", ip)
				return resp.StatusCode
			}
			throttled := func(name, ip string) []audit.Event {
				t.Helper()
				var out []audit.Event
				for _, e := range auditTypes(t, g, audit.LoginThrottled) {
					if e.Username == name && e.IP == ip {
						out = append(out, e)
					}
				}
				return out
			}
			const a, b, refusals = "203.0.113.10", "198.51.100.20", 300
			if code := login("alice", "wrong password !!", a); code != http.StatusUnauthorized {
				t.Fatalf("wrong password = %d, want 401", code)
			}
			for i := range refusals {
				if code := login("alice", strongPassword, a); code != http.StatusTooManyRequests {
					t.Fatalf("login %d while locked = %d, want 429", i+1, code)
				}
			}
			if evs := throttled("alice", a); len(evs) != 1 {
				t.Fatalf("%d refused logins stored %d login.throttled events, want 1", refusals, len(evs))
			}

			// Another account from the same address, and the same account
			// from another address: keys of their own.
			login("bob", "wrong password !!", a)
			login("bob", strongPassword, a)
			login("alice", "wrong password !!", b)
			login("alice", strongPassword, b)
			if n, m := len(throttled("bob", a)), len(throttled("alice", b)); n != 1 || m != 1 {
				t.Errorf("first refusal of bob from %s: %d events, of alice from %s: %d events; want 1 each", a, n, b, m)
			}

			// A minute on, the next refusal of the key is recorded with
			// the count of those not recorded.
			g.Clock.Advance(audit.CoalescePeriod + 1)
			login("alice", "wrong password !!", a) // its lock ran out: locks again
			if code := login("alice", strongPassword, a); code != http.StatusTooManyRequests {
				t.Fatalf("login after the next failure = %d, want 429", code)
			}
			evs := throttled("alice", a)
			if len(evs) != 2 {
				t.Fatalf("login.throttled events of alice from %s = %d after the period, want 2", a, len(evs))
			}
			if got := evs[0].Details["suppressed"]; got != "299" { // newest first
				t.Errorf("details.suppressed = %q, want %q (%v)", got, "299", evs[0].Details)
			}
		})
	}
}
