package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// startStepUpRP is startWithRP with TOTP (keys.encryption_key) and a
// settable clock.
func startStepUpRP(t *testing.T, r *rp) *testutil.Instance {
	t.Helper()
	return startWithRP(t, r, testutil.WithClock(testutil.NewClock()),
		testutil.WithConfig(func(c *config.Config) { c.Keys.EncryptionKey = encryptionKey }))
}

// webTokens authorises "web" in browser b and returns the token response.
func webTokens(t *testing.T, g *testutil.Instance, b *http.Client) map[string]any {
	t.Helper()
	v := oauth2.GenerateVerifier()
	code := codeFor(t, g, b, "web", webCB, v, "openid offline_access")
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB}, "code_verifier": {v}}, "web", webSecret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange = %d %v", resp.StatusCode, m)
	}
	return m
}

// currentApps returns the ID and apps of b's current session in
// GET /auth/sessions.
func currentApps(t *testing.T, g *testutil.Instance, b *http.Client) (string, []string) {
	t.Helper()
	resp, body := do(t, b, "GET", g.URL+"/auth/sessions", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /auth/sessions = %d %s", resp.StatusCode, body)
	}
	for _, x := range decode(t, body)["sessions"].([]any) {
		s := x.(map[string]any)
		if s["current"] == true {
			id, _ := s["id"].(string)
			return id, anyStrings(s["apps"])
		}
	}
	t.Fatalf("GET /auth/sessions lists no current session: %s", body)
	return "", nil
}

// A step-up (the second factor again, in a signed-in session) gives a new
// session ID, but it is the same person proving more, not a new login: the
// apps authorised in the session keep their refresh tokens, get no
// back-channel logout, and are listed under the new session. When that
// session ends, they are logged out with the sid their ID token named.
func TestStepUpKeepsTheSessionsAppGrants(t *testing.T) {
	r := newRP(t)
	g := startStepUpRP(t, r)
	g.CreateUser(t, "bob", strongPassword)

	b := browser(t, g, "alice") // password only
	toks := webTokens(t, g, b)
	before, _ := currentApps(t, g, b)
	secret := enrolTOTPIn(t, g, b)
	if resp, body := postJSON(t, b, g.URL+"/auth/login/mfa", map[string]string{"method": "totp", "code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != http.StatusOK {
		t.Fatalf("step-up = %d %s", resp.StatusCode, body)
	}
	after, apps := currentApps(t, g, b)
	if after == before {
		t.Fatalf("step-up kept session ID %s, want a new one (fixation)", before)
	}
	if !slices.Equal(apps, []string{"web"}) {
		t.Fatalf("apps of the stepped-up session = %v, want [web]", apps)
	}

	// Barrier: session ends are worked through one at a time, in order, and
	// each delivers its logouts; once bob's logout arrived, an end of
	// alice's old session (which would revoke the family and queue her
	// logout in one transaction) would have run before it.
	bob := browser(t, g, "bob")
	bobToks := webTokens(t, g, bob)
	if resp, _ := do(t, bob, "POST", g.URL+"/auth/logout", "", "Origin", g.URL); resp.StatusCode/100 != 2 {
		t.Fatalf("bob's logout = %d", resp.StatusCode)
	}
	checkLogoutToken(t, g, r.await(t, 5*time.Second), bobToks["id_token"].(string))

	status, _, rt := refreshCall(t, g, "web", webSecret, toks["refresh_token"].(string))
	if status != http.StatusOK {
		t.Fatalf("refresh after the step-up = %d, want 200: the step-up ended the app's grant", status)
	}

	// The stepped-up session's end logs the app out, naming the sid of
	// the ID token it got (the session it authorised in).
	if resp, _ := do(t, b, "POST", g.URL+"/auth/logout", "", "Origin", g.URL); resp.StatusCode/100 != 2 {
		t.Fatalf("logout = %d", resp.StatusCode)
	}
	checkLogoutToken(t, g, r.await(t, 5*time.Second), toks["id_token"].(string))
	if status, _, _ := refreshCall(t, g, "web", webSecret, rt); status != http.StatusBadRequest {
		t.Fatalf("refresh after the stepped-up session ended = %d, want 400 invalid_grant", status)
	}
}

// A login in a browser that holds a session — the same user again, or
// another user — is no step-up, even when it finishes on /auth/login/mfa:
// the old session ends with its apps' grants, and nothing passes to the
// new session.
func TestFreshSecondStepLoginDoesNotInheritAppGrants(t *testing.T) {
	tests := []struct {
		name string
		as   string
	}{
		{"same user", "alice"},
		{"another user", "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRP(t)
			g := startStepUpRP(t, r)
			g.CreateUser(t, "bob", strongPassword)
			secrets := map[string]string{"alice": enrolTOTP(t, g, "alice"), "bob": enrolTOTP(t, g, "bob")}

			b, _ := pendingLogin(t, g, "alice")
			if resp, body := postJSON(t, b, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secrets["alice"], g.Clock.Now())}); resp.StatusCode != http.StatusOK {
				t.Fatalf("alice's second step = %d %s", resp.StatusCode, body)
			}
			toks := webTokens(t, g, b)
			g.Clock.Advance(time.Minute) // past the code alice used

			if resp, body := loginJSON(t, b, g.URL, tt.as, strongPassword); resp.StatusCode != http.StatusOK {
				t.Fatalf("password step = %d %s", resp.StatusCode, body)
			}
			if resp, body := postJSON(t, b, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secrets[tt.as], g.Clock.Now())}); resp.StatusCode != http.StatusOK {
				t.Fatalf("second step = %d %s", resp.StatusCode, body)
			}
			checkLogoutToken(t, g, r.await(t, 5*time.Second), toks["id_token"].(string))
			if status, _, _ := refreshCall(t, g, "web", webSecret, toks["refresh_token"].(string)); status != http.StatusBadRequest {
				t.Fatalf("refresh of the replaced session's app = %d, want 400 invalid_grant", status)
			}
			if _, apps := currentApps(t, g, b); len(apps) != 0 {
				t.Fatalf("apps of the new login's session = %v, want none", apps)
			}
		})
	}
}

// An app that got its ID token before a step-up knows the session by the
// sid in it; the step-up gave the session a new ID but kept the app's
// grant under that sid. RP-initiated logout with that ID token as the hint
// is the app's own session, so it ends without a question. A hint naming
// another session of the same user still asks.
func TestEndSessionAfterStepUpKnowsTheAppsSID(t *testing.T) {
	r := newRP(t)
	g := startStepUpRP(t, r)

	other := browser(t, g, "alice") // a second session of the same user
	otherToks := webTokens(t, g, other)

	b := browser(t, g, "alice")
	toks := webTokens(t, g, b)
	secret := enrolTOTPIn(t, g, b)
	if resp, body := postJSON(t, b, g.URL+"/auth/login/mfa", map[string]string{"method": "totp", "code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != http.StatusOK {
		t.Fatalf("step-up = %d %s", resp.StatusCode, body)
	}

	q := url.Values{"id_token_hint": {otherToks["id_token"].(string)}, "post_logout_redirect_uri": {"https://rp.example.com/bye"}}
	resp, page := do(t, b, "GET", g.URL+"/auth/end_session?"+q.Encode(), "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="confirm"`) {
		t.Fatalf("end_session with another session's ID token = %d, want the confirmation page", resp.StatusCode)
	}

	q.Set("id_token_hint", toks["id_token"].(string))
	q.Set("state", "st")
	resp, _ = do(t, b, "GET", g.URL+"/auth/end_session?"+q.Encode(), "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://rp.example.com/bye?state=st" {
		t.Fatalf("end_session with the ID token from before the step-up = %d %q, want 303 back to the RP", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := do(t, b, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("session after end_session = %d, want 401", resp.StatusCode)
	}
	checkLogoutToken(t, g, r.await(t, 5*time.Second), toks["id_token"].(string))
}
