package oidc_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
)

// anonymous sends a request without cookies from client ip (the client
// IP httpapi's middleware would find) and returns its status.
func (e *env) anonymous(method, path, ip string, form url.Values) int {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set(testClientIP, ip)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// failures counts the stored oidc.failed events by reason and client IP
// ("reason ip"), and returns the newest of each.
func (e *env) failures() (map[string]int, map[string]audit.Event) {
	e.t.Helper()
	n, newest := map[string]int{}, map[string]audit.Event{}
	var evs []audit.Event
	f := audit.Filter{Type: audit.OIDCLoginFailed, Limit: 100}
	for { // every page, newest first
		page, err := e.store.ListAudit(context.Background(), f)
		if err != nil {
			e.t.Fatalf("list audit: %v", err)
		}
		evs = append(evs, page...)
		if len(page) < f.Limit {
			break
		}
		f.Before = audit.Cursor{Time: page[len(page)-1].Time, ID: page[len(page)-1].ID}
	}
	for _, ev := range evs {
		k := ev.Details["reason"] + " " + ev.IP
		if n[k] == 0 {
			newest[k] = ev
		}
		n[k]++
	}
	return n, newest
}

// Anyone can make the OIDC endpoints fail at no cost — a start at a
// provider that does not exist, a callback without state, a garbage
// logout token — and each failure was an oidc.failed row: a client could
// grow the audit table without bound. A failure about no user is recorded
// once per reason, provider and client (an IPv6 client per /64) and
// minute; the others of that minute are counted into the key's next
// recorded event (details.suppressed). A failure about a known user is
// recorded every time.
func TestAnonymousOIDCFailuresAreCoalesced(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			e := newEnvOn(t, be.open(t), withBackchannel)
			const repeats = 30
			const a, b = "203.0.113.10", "198.51.100.20"
			sixA, sixB := "2001:db8:1:2::1", "2001:db8:1:2:ffff::9" // one /64
			garbage := url.Values{"logout_token": {"not.a.jwt"}}
			for i := range repeats {
				for _, ip := range []string{a, sixA, sixB} {
					if got := e.anonymous("GET", fmt.Sprintf("/auth/oidc/nope-%d/start", i), ip, nil); got != http.StatusNotFound {
						t.Fatalf("unknown provider = %d, want 404", got)
					}
					if got := e.anonymous("GET", "/auth/oidc/corp/callback?code=x", ip, nil); got != http.StatusBadRequest {
						t.Fatalf("callback without state = %d, want 400", got)
					}
					if got := e.anonymous("POST", "/auth/oidc/corp/backchannel-logout", ip, garbage); got != http.StatusBadRequest {
						t.Fatalf("garbage logout token = %d, want 400", got)
					}
				}
			}
			e.anonymous("GET", "/auth/oidc/other/start", b, nil) // another client: a key of its own

			n, _ := e.failures()
			for _, reason := range []string{"unknown_provider", "state_missing", "logout_token_invalid"} {
				if got := n[reason+" "+a]; got != 1 {
					t.Errorf("%d × %s from %s: %d oidc.failed events, want 1", repeats, reason, a, got)
				}
				if got := n[reason+" "+sixA] + n[reason+" "+sixB]; got != 1 {
					t.Errorf("%d × %s from each of two addresses of one IPv6 /64: %d oidc.failed events, want 1", repeats, reason, got)
				}
			}
			if got := n["unknown_provider "+b]; got != 1 {
				t.Errorf("unknown provider from another client %s: %d events, want 1", b, got)
			}

			// A minute on, the key's next event is recorded with the count
			// of those that were not.
			e.clock.Advance(audit.CoalescePeriod + 1)
			e.anonymous("GET", "/auth/oidc/nope/start", a, nil)
			n, newest := e.failures()
			if got := n["unknown_provider "+a]; got != 2 {
				t.Fatalf("unknown provider from %s after the period: %d events, want 2", a, got)
			}
			if got, want := newest["unknown_provider "+a].Details["suppressed"], fmt.Sprint(repeats-1); got != want {
				t.Errorf("details.suppressed = %q, want %q (%v)", got, want, newest["unknown_provider "+a].Details)
			}
		})
	}
}

// A failure about a known user — the user is disabled — is the trail of
// that user's account: each is recorded, none coalesced.
func TestUserOIDCFailuresAreNotCoalesced(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			e := newEnvOn(t, be.open(t), nil)
			if resp := e.login("/"); resp.status != http.StatusSeeOther {
				t.Fatalf("first login: %d, want 303", resp.status)
			}
			u := e.sessionUsers()[0]
			u.Disabled = true
			if err := e.store.UpdateUser(context.Background(), u, u.UpdatedAt); err != nil {
				t.Fatal(err)
			}
			const logins = 3
			for range logins {
				e.newBrowser()
				if resp := e.login("/"); resp.status != http.StatusForbidden {
					t.Fatalf("disabled user's login = %d, want 403", resp.status)
				}
			}
			var got int
			for _, ev := range e.events(audit.OIDCLoginFailed) {
				if ev.Details["reason"] == "user_disabled" && ev.UserID == u.ID {
					got++
				}
			}
			if got != logins {
				t.Errorf("%d refused logins of a disabled user: %d oidc.failed events with the user, want %d", logins, got, logins)
			}
		})
	}
}
