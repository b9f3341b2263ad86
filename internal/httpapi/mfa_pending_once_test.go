package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
)

// TestPendingLoginEndsWithItsSession: the gatehouse_mfa cookie stands for
// one password (or OIDC) step, and the second step that earns a session
// ends it on every instance. A copy of the cookie kept after the second
// step (a jar that did not apply the clearing Set-Cookie, a copy read off
// the wire) used to finish the same login again for its 5 minutes, with
// any further second factor — a recovery code, the app's next TOTP code —
// and mint another session each time; and two second steps sent at once
// with two different codes both got one.
func TestPendingLoginEndsWithItsSession(t *testing.T) {
	for _, st := range stores {
		t.Run(st, func(t *testing.T) { pendingLoginOnce(t, st) })
	}
}

func pendingLoginOnce(t *testing.T, store string) {
	g, secret, codes := totpUserWithCodes(t, store)

	// finished is a browser whose pending login's second step earned a
	// session, and a copy of its pending cookie kept beside it.
	finished := func(t *testing.T) (*http.Client, *http.Cookie) {
		t.Helper()
		g.Clock.Advance(30 * time.Second) // the app's next code
		c, _ := pendingLogin(t, g, "alice")
		kept := pendingCookieOf(t, g, c)
		if resp, body := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != 200 {
			t.Fatalf("second step = %d %s", resp.StatusCode, body)
		}
		g.Clock.Advance(30 * time.Second)
		return c, kept
	}
	tests := []struct {
		name string
		form bool
		in   map[string]string
	}{
		{"a recovery code", false, map[string]string{"method": "recovery", "code": codes[0]}},
		{"the next TOTP code", false, map[string]string{"method": "totp"}},
		{"a recovery code by the form", true, map[string]string{"method": "recovery", "code": codes[1], "next": "/app/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, kept := finished(t)
			copied := withCookie(t, g.URL, kept)
			if tt.in["method"] == "totp" {
				tt.in["code"] = mfatest.TOTPCode(t, secret, g.Clock.Now())
			}
			var resp *http.Response
			var body string
			if tt.form {
				form := url.Values{}
				for k, v := range tt.in {
					form.Set(k, v)
				}
				resp, body = do(t, copied, "POST", g.URL+"/auth/login/mfa", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
			} else {
				resp, body = postJSON(t, copied, g.URL+"/auth/login/mfa", tt.in)
			}
			switch {
			case tt.form && (resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login?")):
				t.Fatalf("finished pending login again by the form = %d %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
			case !tt.form && resp.StatusCode != 401:
				t.Fatalf("finished pending login again with %s = %d %s, want 401", tt.name, resp.StatusCode, body)
			}
			for _, ck := range resp.Cookies() {
				if ck.Name == g.App.Sessions.CookieName() && ck.MaxAge >= 0 && ck.Value != "" {
					t.Fatalf("finished pending login again with %s set a session cookie", tt.name)
				}
			}
			if resp, _ := do(t, copied, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 401 {
				t.Fatalf("GET /auth/session after the refused step = %d, want 401", resp.StatusCode)
			}
		})
	}

	t.Run("two codes at once", func(t *testing.T) {
		g.Clock.Advance(30 * time.Second)
		c, _ := pendingLogin(t, g, "alice")
		cookie := pendingCookieOf(t, g, c)
		ins := []map[string]string{
			{"method": "recovery", "code": codes[2]},
			{"method": "recovery", "code": codes[3]},
			{"method": "totp", "code": mfatest.TOTPCode(t, secret, g.Clock.Now())},
		}
		statuses := make([]int, len(ins))
		var wg sync.WaitGroup
		for i, in := range ins {
			cl := withCookie(t, g.URL, cookie)
			wg.Go(func() {
				resp, _ := postJSON(t, cl, g.URL+"/auth/login/mfa", in)
				statuses[i] = resp.StatusCode
			})
		}
		wg.Wait()
		if ok := count(statuses, 200); ok != 1 || count(statuses, 401) != len(ins)-1 {
			t.Fatalf("one pending login finished by %d right codes at once = %v, want one 200 and the rest 401", len(ins), statuses)
		}
	})

	t.Run("a new login is not refused", func(t *testing.T) {
		// The same browser signs in again: a new pending cookie, a new
		// second step.
		c, _ := finished(t)
		if resp, body := loginJSON(t, c, g.URL, "alice", strongPassword); resp.StatusCode != 200 {
			t.Fatalf("password step = %d %s", resp.StatusCode, body)
		}
		if resp, body := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != 200 {
			t.Fatalf("second step of a new login = %d %s", resp.StatusCode, body)
		}
	})
}

// TestLogoutEndsThePendingLogin: a sign-out in a browser that holds a
// login left at its second step (someone typed a password on a shared
// computer, then pressed "Sign out") ends that login as well. Only
// browsers that honour Clear-Site-Data dropped the gatehouse_mfa cookie,
// so anyone at that browser, or holding a copy of its cookie, could
// still finish the login for its 5 minutes with the user's second factor.
func TestLogoutEndsThePendingLogin(t *testing.T) {
	g := mfaInstance(t)
	g.CreateUser(t, "alice", strongPassword)
	secret := enrolTOTP(t, g, "alice")
	tests := []struct {
		name   string
		client func(t *testing.T, c *http.Client, kept *http.Cookie) *http.Client
	}{
		{"the same browser", func(t *testing.T, c *http.Client, _ *http.Cookie) *http.Client { return c }},
		{"a copy of its cookie", func(t *testing.T, _ *http.Client, kept *http.Cookie) *http.Client { return withCookie(t, g.URL, kept) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g.Clock.Advance(30 * time.Second)
			c, _ := pendingLogin(t, g, "alice")
			kept := pendingCookieOf(t, g, c)
			resp, body := do(t, c, "POST", g.URL+"/auth/logout", "")
			if resp.StatusCode != 204 {
				t.Fatalf("logout = %d %s", resp.StatusCode, body)
			}
			cleared := 0
			for _, ck := range resp.Cookies() {
				if ck.Name == "gatehouse_mfa" && ck.MaxAge < 0 {
					cleared++
				}
			}
			if cleared != 2 {
				t.Fatalf("logout cleared %d gatehouse_mfa cookies, want both paths", cleared)
			}
			resp, body = postJSON(t, tt.client(t, c, kept), g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())})
			if resp.StatusCode != 401 {
				t.Fatalf("second step after logout = %d %s, want 401", resp.StatusCode, body)
			}
		})
	}
}

// TestSignOutOthersEndsPendingLogins: "sign out my other sessions"
// (DELETE /auth/sessions, and its form on /account) also ends a login of
// the same user left at its second step in another browser, as a password
// change does: it counts a revocation on the user (auth.User.Revocations),
// which the pending cookie is bound to (mfa.BindOf). Before, it ended the
// sessions only, and whoever held that browser, or a copy of its cookie,
// could still finish the login with the user's second factor for its 5
// minutes. The session that signed the others out stays.
func TestSignOutOthersEndsPendingLogins(t *testing.T) {
	for _, st := range stores {
		t.Run(st, func(t *testing.T) {
			g, secret, _ := totpUserWithCodes(t, st)
			ways := []struct {
				name, method, path string
				header             []string
				want               int
			}{
				{"DELETE /auth/sessions", "DELETE", "/auth/sessions", nil, http.StatusNoContent},
				{"the form on /account", "POST", "/auth/sessions/revoke-others", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusSeeOther},
			}
			for _, w := range ways {
				t.Run(w.name, func(t *testing.T) {
					g.Clock.Advance(30 * time.Second) // the app's next code
					me, _ := pendingLogin(t, g, "alice")
					if resp, body := postJSON(t, me, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != 200 {
						t.Fatalf("second step = %d %s", resp.StatusCode, body)
					}
					elsewhere, _ := pendingLogin(t, g, "alice")
					kept := withCookie(t, g.URL, pendingCookieOf(t, g, elsewhere))
					if resp, body := do(t, me, w.method, g.URL+w.path, "", w.header...); resp.StatusCode != w.want {
						t.Fatalf("%s %s = %d %s, want %d", w.method, w.path, resp.StatusCode, body, w.want)
					}
					g.Clock.Advance(30 * time.Second)
					for _, c := range []*http.Client{elsewhere, kept} {
						resp, body := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())})
						if resp.StatusCode != http.StatusUnauthorized || hasSessionCookie(g, resp) {
							t.Fatalf("second step of a login pending at the sign-out = %d %s (session cookie %v), want 401 without a session",
								resp.StatusCode, body, hasSessionCookie(g, resp))
						}
					}
					if resp, body := do(t, me, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 200 {
						t.Fatalf("own session after signing out the others = %d %s, want 200", resp.StatusCode, body)
					}
				})
			}
		})
	}
}
