package httpapi_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

const newRecoveryCodesButton = `action="/auth/mfa/recovery-codes"`

// "New recovery codes" is on /account for any user with a second factor
// (an authenticator app or a passkey), not for a user without one; its form
// POST shows 10 new codes that work, under the freshness rule of every
// factor change (a password-only session older than 5 minutes is sent to
// sign in again).
func TestAccountRecoveryCodesForAnySecondFactor(t *testing.T) {
	eachStore(t, func(t *testing.T, g *testutil.Instance) {
		cases := []struct {
			name   string
			factor func(t *testing.T, c *http.Client) // on a fresh password session
			button bool
		}{
			{"no factor", func(*testing.T, *http.Client) {}, false},
			{"authenticator app", func(t *testing.T, c *http.Client) { enrolTOTPIn(t, g, c) }, true},
			{"passkey only", func(t *testing.T, c *http.Client) { registerPasskey(t, g, c, securityKey(), "YubiKey") }, true},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				name := "user" + string(rune('a'+i))
				g.CreateUser(t, name, strongPassword)
				c := signedIn(t, g, name)
				tc.factor(t, c)
				resp, body := do(t, c, "GET", g.URL+"/account", "")
				if resp.StatusCode != 200 {
					t.Fatalf("/account = %d", resp.StatusCode)
				}
				if got := strings.Contains(body, newRecoveryCodesButton); got != tc.button {
					t.Fatalf("/account shows New recovery codes = %v, want %v", got, tc.button)
				}
				if got := strings.Contains(body, "Recovery codes left:"); got != tc.button {
					t.Errorf("/account shows the recovery codes left = %v, want %v", got, tc.button)
				}
				if !tc.button {
					return
				}
				// The form POST of the fresh session: the codes page.
				resp, body = do(t, c, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/x-www-form-urlencoded")
				codes := regexp.MustCompile(`<li><code>([^<]+)</code></li>`).FindAllStringSubmatch(body, -1)
				if resp.StatusCode != 200 || len(codes) != 10 {
					t.Fatalf("POST /auth/mfa/recovery-codes (form) = %d with %d codes, want 200 with 10: %s", resp.StatusCode, len(codes), body)
				}
				if _, body := do(t, c, "GET", g.URL+"/account", ""); !strings.Contains(body, "Recovery codes left: 10.") {
					t.Error("/account after new codes lacks \"Recovery codes left: 10.\"")
				}
				// A new code is a working second factor.
				p, _ := pendingLogin(t, g, name)
				if resp, body := postJSON(t, p, g.URL+"/auth/login/mfa", map[string]string{"method": "recovery", "code": codes[0][1]}); resp.StatusCode != 200 {
					t.Fatalf("second step with a new recovery code = %d %s, want 200", resp.StatusCode, body)
				}
				// The same session 6 minutes on (password only): sign in again.
				g.Clock.Advance(6 * time.Minute)
				resp, _ = do(t, c, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/x-www-form-urlencoded")
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Faccount" {
					t.Fatalf("form POST 6 min after a password login = %d %q, want 303 /login?next=%%2Faccount",
						resp.StatusCode, resp.Header.Get("Location"))
				}
				if strings.Contains(resp.Header.Get("Content-Type"), "html") {
					t.Error("the refused request showed codes")
				}
			})
		}
	})
}

// recoveryCodesOn returns the recovery codes a codes page shows.
func recoveryCodesOn(page string) []string {
	var codes []string
	for _, m := range regexp.MustCompile(`<li><code>([^<]+)</code></li>`).FindAllStringSubmatch(page, -1) {
		codes = append(codes, m[1])
	}
	return codes
}

// Enrolling an authenticator app from the step-up offer of /login/mfa does
// not upgrade the password-only session (the confirmation proves the new
// authenticator, not the account owner): the confirmation shows the first
// recovery codes once, whose Continue goes back to the code form, which
// says to wait for the app's next code; the confirmation code is refused
// there (spent), the next one steps up. Enrolling from /account goes back
// to /account without that text. Without the codes page the step-up
// enrolment left a TOTP and no recovery codes: a lost phone locked the
// user out.
func TestTOTPEnrolmentInASessionWaitsForTheNextCode(t *testing.T) {
	g := mfaInstance(t)
	const waitText = "wait until the app shows a new code"
	const enrolText = "each code works only once, so wait for"
	cases := []struct {
		name     string
		next     string // the enrolment form's next ("" = /account's form)
		location string // after the confirmation
	}{
		{"step-up offer of /login/mfa", "/app/x", "/login/mfa?enrolled=1&next=%2Fapp%2Fx"},
		{"account page", "", "/account"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "stepper" + string(rune('a'+i))
			g.CreateUser(t, name, strongPassword)
			c := signedIn(t, g, name)
			before, _ := sessionInfo(t, g, c)
			formBody := func(v url.Values) string {
				if tc.next != "" {
					v.Set("next", tc.next)
				}
				return v.Encode()
			}
			if tc.next != "" {
				resp, body := do(t, c, "GET", g.URL+"/login/mfa?next="+url.QueryEscape(tc.next), "")
				if resp.StatusCode != 200 || !strings.Contains(body, `action="/auth/mfa/totp"`) {
					t.Fatalf("step-up page of a user without a factor = %d, lacks the enrolment offer: %s", resp.StatusCode, body)
				}
			}
			resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", formBody(url.Values{}), "Content-Type", "application/x-www-form-urlencoded")
			m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(body)
			if resp.StatusCode != 200 || m == nil {
				t.Fatalf("enrolment page = %d, no secret: %s", resp.StatusCode, body)
			}
			if got := strings.Contains(body, enrolText); got != (tc.next != "") {
				t.Errorf("enrolment page says to wait for the next code = %v, want %v", got, tc.next != "")
			}
			secret := m[1]
			code := mfatest.TOTPCode(t, secret, g.Clock.Now())
			// The confirmation form as the browser sends it: its hidden
			// fields and the code.
			confirm := url.Values{"code": {code}}
			for _, h := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(body, -1) {
				confirm.Set(h[1], html.UnescapeString(h[2]))
			}
			resp, body = do(t, c, "POST", g.URL+"/auth/mfa/totp/confirm", confirm.Encode(), "Content-Type", "application/x-www-form-urlencoded")
			link := regexp.MustCompile(`<a class="button" href="([^"]+)">Continue</a>`).FindStringSubmatch(body)
			if resp.StatusCode != http.StatusOK || len(recoveryCodesOn(body)) != 10 || link == nil || html.UnescapeString(link[1]) != tc.location {
				t.Fatalf("confirm = %d %q with %d recovery codes and Continue %v, want 200 with 10 and Continue to %s:\n%s",
					resp.StatusCode, resp.Header.Get("Location"), len(recoveryCodesOn(body)), link, tc.location, body)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("codes page Cache-Control = %q, want no-store", got)
			}
			// Not upgraded: same session, password only.
			if id, amr := sessionInfo(t, g, c); id != before || !slices.Equal(amr, []string{"pwd"}) {
				t.Fatalf("session after enrolment = %s %v, want the same %s with [pwd]", id, amr, before)
			}
			if tc.next == "" {
				return
			}
			resp, body = do(t, c, "GET", g.URL+tc.location, "")
			if resp.StatusCode != 200 || !strings.Contains(body, waitText) || !strings.Contains(body, `action="/auth/login/mfa"`) {
				t.Fatalf("code form after the enrolment = %d, lacks %q or the code form: %s", resp.StatusCode, waitText, body)
			}
			if _, body := do(t, c, "GET", g.URL+"/login/mfa?next=%2Fapp%2Fx", ""); strings.Contains(body, waitText) {
				t.Error("the plain step-up page says the app was just turned on")
			}
			step := func(code string) *http.Response {
				resp, _ := do(t, c, "POST", g.URL+"/auth/login/mfa", url.Values{"method": {"totp"}, "code": {code}, "next": {tc.next}}.Encode(),
					"Content-Type", "application/x-www-form-urlencoded")
				return resp
			}
			if resp := step(code); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/mfa?error=1") {
				t.Fatalf("step-up with the confirmation code = %d %q, want 303 /login/mfa?error=1…", resp.StatusCode, resp.Header.Get("Location"))
			}
			g.Clock.Advance(30 * time.Second)
			if resp := step(mfatest.TOTPCode(t, secret, g.Clock.Now())); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.next {
				t.Fatalf("step-up with the next code = %d %q, want 303 %s", resp.StatusCode, resp.Header.Get("Location"), tc.next)
			}
			if id, amr := sessionInfo(t, g, c); id == before || !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) {
				t.Fatalf("session after the step-up = %s %v, want a new ID with [pwd otp mfa]", id, amr)
			}
		})
	}
}

// Every <time> on /account carries a valid HTML datetime (RFC 3339, UTC)
// in its attribute, naming the same instant as the exact time people see
// in its title; the text stays relative.
func TestAccountTimeElementsUseRFC3339(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	c := signedIn(t, g, "alice")
	loggedIn := g.Clock.Now()
	registerPasskey(t, g, c, securityKey(), "YubiKey")
	g.Clock.Advance(3 * time.Minute)
	resp, body := do(t, c, "GET", g.URL+"/account", "")
	if resp.StatusCode != 200 {
		t.Fatalf("/account = %d", resp.StatusCode)
	}
	times := regexp.MustCompile(`<time datetime="([^"]*)" title="([^"]*)">([^<]*)</time>`).FindAllStringSubmatch(body, -1)
	if len(times) < 3 { // session started, last seen; passkey added
		t.Fatalf("/account has %d <time> elements, want at least 3: %s", len(times), body)
	}
	relative := regexp.MustCompile(`^(just now|\d+ (minute|hour|day)s? ago)$`)
	for _, m := range times {
		attr, title, text := m[1], m[2], m[3]
		at, err := time.Parse(time.RFC3339, attr)
		if err != nil || !strings.HasSuffix(attr, "Z") {
			t.Errorf("datetime=%q is not RFC 3339 in UTC: %v", attr, err)
			continue
		}
		shown, err := time.Parse("2006-01-02 15:04:05 MST", title)
		if err != nil || !shown.Equal(at) {
			t.Errorf("title %q and datetime %q name different times (%v)", title, attr, err)
		}
		if !relative.MatchString(text) {
			t.Errorf("<time> text = %q, want a relative time", text)
		}
	}
	if want := loggedIn.UTC().Format(time.RFC3339); times[0][1] != want || times[0][3] != "3 minutes ago" {
		t.Errorf("session started = %q (%s), want %q (3 minutes ago)", times[0][1], times[0][3], want)
	}
}

// A user who has recovery codes already (beside a passkey) keeps them when
// adding an authenticator app by the form: the confirmation goes on to
// /account without a new set, and the codes they saved still work.
func TestTOTPEnrolmentKeepsRecoveryCodesLeft(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	c := signedIn(t, g, "alice")
	registerPasskey(t, g, c, securityKey(), "YubiKey")
	resp, body := postJSON(t, c, g.URL+"/auth/mfa/recovery-codes", map[string]string{})
	if resp.StatusCode != 200 {
		t.Fatalf("POST /auth/mfa/recovery-codes = %d %s", resp.StatusCode, body)
	}
	saved, _ := decode(t, body)["codes"].([]any)
	resp, body = do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/x-www-form-urlencoded")
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || len(saved) != 10 {
		t.Fatalf("enrolment page = %d (%d codes saved): %s", resp.StatusCode, len(saved), body)
	}
	confirm := url.Values{"code": {mfatest.TOTPCode(t, m[1], g.Clock.Now())}}
	for _, h := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(body, -1) {
		confirm.Set(h[1], html.UnescapeString(h[2]))
	}
	resp, body = do(t, c, "POST", g.URL+"/auth/mfa/totp/confirm", confirm.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("confirm = %d %q, want 303 /account (codes left, none minted): %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	p, _ := pendingLogin(t, g, "alice")
	if resp, body := postJSON(t, p, g.URL+"/auth/login/mfa", map[string]string{"method": "recovery", "code": saved[0].(string)}); resp.StatusCode != 200 {
		t.Fatalf("second step with a saved recovery code = %d %s, want 200", resp.StatusCode, body)
	}
}
