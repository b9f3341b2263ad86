package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// assertCookiesFit fails when resp sets a cookie larger than browsers keep
// (auth.MaxCookieSize): the browser would drop it without a word.
func assertCookiesFit(t *testing.T, resp *http.Response) {
	t.Helper()
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if len(sc) > auth.MaxCookieSize {
			t.Errorf("Set-Cookie of %d bytes (%.40s…), want at most %d", len(sc), sc, auth.MaxCookieSize)
		}
	}
}

// setsPending reports whether resp sets a live pending-login cookie.
func setsPending(resp *http.Response) bool {
	for _, ck := range resp.Cookies() {
		if ck.Name == mfa.PendingCookie && ck.MaxAge > 0 && ck.Value != "" {
			return true
		}
	}
	return false
}

// An OIDC login that continues on the second step carries next (up to
// 2048 bytes) and, for a provider with back-channel logout, the provider's
// sid and sub in the pending-login cookie. However long they are, the
// cookie stays within what browsers keep: next gives way first (the second
// step's page carries it in its URL), and a sid longer than gatehouse
// accepts (255 bytes) fails the login with an explaining page instead of a
// cookie the browser drops. A provider without back-channel logout does not
// carry them (nor check the sid).
func TestOIDCSecondStepPendingCookieFits(t *testing.T) {
	longNext := "/app/" + strings.Repeat("x", 2043) // 2048 bytes, the most SafeNext keeps
	longSub := strings.Repeat("s", 255)             // the most OIDC Core allows
	tests := []struct {
		name        string
		backchannel bool
		sid         string
		wantLinked  bool // the session ends with the provider's logout token
		wantRefused bool // 502 session_id_invalid
	}{
		{"long next, sid and sub of 255 bytes", true, strings.Repeat("i", 255), true, false},
		{"sid too long", true, strings.Repeat("i", 3500), false, true},
		{"no back-channel logout: sid not carried", false, strings.Repeat("i", 3500), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := oidctestop.Start(t, oidctestop.WithUser(oidctestop.User{
				Subject: longSub, PreferredUsername: "olivia", Email: "olivia@corp.example", EmailVerified: true, Name: "Olivia",
			}))
			g := mfaInstance(t, func(c *config.Config) {
				c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID(), ClientSecret: op.ClientSecret(),
					Scopes: []string{"openid", "email", "profile"}, CreateUsers: true, BackchannelLogout: tt.backchannel}}
			})
			op.AddRedirectURI(g.URL + "/auth/oidc/corp/callback")

			// The first login (no factor yet) starts its session at once.
			first := testutil.Client(t)
			if resp := oidcLoginTo(t, g, first, "/account"); !hasSessionCookie(g, resp) {
				t.Fatalf("first OIDC login = %d %q, want a session", resp.StatusCode, resp.Header.Get("Location"))
			}
			secret := enrolTOTPIn(t, g, first)
			op.SetSessionID(tt.sid)

			c := testutil.Client(t)
			resp, body := oidcLogin(t, g, c, longNext)
			assertCookiesFit(t, resp)
			if tt.wantRefused {
				if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "cannot accept") || setsPending(resp) || hasSessionCookie(g, resp) {
					t.Fatalf("OIDC login with a sid too long = %d (pending cookie %v) %s, want 502 explaining, no cookie",
						resp.StatusCode, setsPending(resp), body)
				}
				if !strings.Contains(g.Logs(), "session_id_invalid") {
					t.Errorf("logs do not give the reason session_id_invalid")
				}
				return
			}
			if want := "/login/mfa?next=" + url.QueryEscape(longNext); resp.StatusCode != http.StatusSeeOther ||
				resp.Header.Get("Location") != want || !setsPending(resp) {
				t.Fatalf("OIDC login with a second step = %d %q (pending cookie %v), want 303 to /login/mfa with next",
					resp.StatusCode, resp.Header.Get("Location"), setsPending(resp))
			}
			// The second step's form carries next, as the page writes it.
			form := url.Values{"method": {"totp"}, "code": {mfatest.TOTPCode(t, secret, g.Clock.Now())}, "next": {longNext}}
			resp, body = do(t, c, "POST", g.URL+"/auth/login/mfa", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != longNext {
				t.Fatalf("TOTP second step = %d %q %s, want 303 to next", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			sessionOf(t, g, c)
			if tt.wantLinked {
				providerLogsOut(t, g, op, longSub)
				if resp, _ := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("session after the provider's logout of its long sid = %d, want 401", resp.StatusCode)
				}
			}
		})
	}
}
