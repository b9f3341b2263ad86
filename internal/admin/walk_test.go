package admin_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
)

// An administrator without a factor is sent by the console to the step-up
// page, which offers to set up an authenticator app. Confirming it there
// answers the recovery codes, shown once, with a link on to the code form;
// the admin API's factor view then counts them. Without them a lost phone
// locks the administrator out (docs/mfa.md).
func TestStepUpEnrolmentIssuesRecoveryCodes(t *testing.T) {
	e := start(t)
	e.CreateUser(t, "boss", pw, "admin")
	boss := append([]string{"Accept", "text/html", "Sec-Fetch-Site", "same-origin"}, e.cookie(e.login(t, "boss"))...)
	resp, _ := e.do(t, "GET", "/admin/users", "", boss...)
	stepUp := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || stepUp != "/login/mfa?next=%2Fadmin%2Fusers" {
		t.Fatalf("console without a factor = %d %q, want 302 /login/mfa?next=%%2Fadmin%%2Fusers", resp.StatusCode, stepUp)
	}
	if resp, body := e.do(t, "GET", stepUp, "", boss...); resp.StatusCode != 200 || !strings.Contains(body, `action="/auth/mfa/totp"`) {
		t.Fatalf("step-up page = %d, lacks the enrolment offer:\n%s", resp.StatusCode, body)
	}
	form := append([]string{"Content-Type", "application/x-www-form-urlencoded"}, boss...)
	resp, body := e.do(t, "POST", "/auth/mfa/totp", url.Values{"next": {"/admin/users"}}.Encode(), form...)
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("enrolment page = %d, no key:\n%s", resp.StatusCode, body)
	}
	confirm := url.Values{"code": {e.totp(t, m[1])}}
	for _, h := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(body, -1) {
		confirm.Set(h[1], html.UnescapeString(h[2]))
	}
	resp, body = e.do(t, "POST", "/auth/mfa/totp/confirm", confirm.Encode(), form...)
	codes := regexp.MustCompile(`<li><code>([^<]+)</code></li>`).FindAllStringSubmatch(body, -1)
	if resp.StatusCode != 200 || len(codes) != 10 {
		t.Fatalf("confirmation = %d %q with %d recovery codes, want 200 with 10:\n%s", resp.StatusCode, resp.Header.Get("Location"), len(codes), body)
	}
	if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, "no-store") {
		t.Errorf("codes page Cache-Control = %q, want no-store", got)
	}
	link := regexp.MustCompile(`<a class="button" href="([^"]+)">Continue</a>`).FindStringSubmatch(body)
	if link == nil || html.UnescapeString(link[1]) != "/login/mfa?enrolled=1&next=%2Fadmin%2Fusers" {
		t.Errorf("codes page lacks Continue to the code form: %v\n%s", link, body)
	}
	_, body = e.do(t, "GET", "/admin/api/v1/users/boss/factors", "", bearer(e.rootToken)...)
	var f struct {
		TOTP              string `json:"totp"`
		RecoveryCodesLeft int    `json:"recovery_codes_left"`
	}
	if err := json.Unmarshal([]byte(body), &f); err != nil || f.TOTP != "on" || f.RecoveryCodesLeft != 10 {
		t.Fatalf("factors after the step-up enrolment = %s, want totp on and 10 recovery codes left", body)
	}
	// Continue: the app's next code steps up into the console.
	e.clock.Advance(30 * time.Second)
	resp, _ = e.do(t, "POST", "/auth/login/mfa", url.Values{"method": {"totp"}, "code": {e.totp(t, m[1])}, "next": {"/admin/users"}}.Encode(), form...)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/users" {
		t.Fatalf("step-up with the next code = %d %q, want 303 /admin/users", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// A console GET of a path no page has, or of a form's POST-only path,
// does not say "no such user": an unknown path is a 404 page saying the
// console has no such page, a POST-only one 405 with Allow, as the API
// answers. Both only after authentication.
func TestConsoleUnknownPathAndMethod(t *testing.T) {
	e := start(t)
	admin := append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)
	tests := []struct {
		name, method, path string
		header             []string
		status             int
		allow, says        string
	}{
		{"unknown path", "GET", "/admin/nope", admin, 404, "", "The admin console has no page at this address."},
		{"POST-only form path", "GET", "/admin/keys/rotate", admin, 405, "POST", "This address takes POST only"},
		{"POST-only user form", "GET", "/admin/users/alice/disable", admin, 405, "POST", "This address takes POST only"},
		{"unknown user", "GET", "/admin/users/nobody", admin, 404, "", "There is no such user, session, grant or client."},
		{"no session", "GET", "/admin/nope", []string{"Accept", "text/html"}, 302, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, tt.method, tt.path, "", tt.header...)
			if resp.StatusCode != tt.status || resp.Header.Get("Allow") != tt.allow {
				t.Fatalf("%s %s = %d Allow %q, want %d Allow %q:\n%s", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Allow"), tt.status, tt.allow, body)
			}
			if !strings.Contains(body, tt.says) {
				t.Errorf("page lacks %q:\n%s", tt.says, body)
			}
			if tt.status != 404 && strings.Contains(body, "no such user") {
				t.Errorf("page says there is no such user:\n%s", body)
			}
		})
	}
}

// Revoking a family that is already revoked changes nothing: 204 again
// (the family is still the user's, listed as revoked), and no second
// token.revoked event. Every token.revoked event about the user names
// them, as session.revoked does.
func TestRevokeFamilyTwiceAndTokenRevokedNamesTheUser(t *testing.T) {
	e := start(t)
	fam := e.familiesOf(t, "alice")[0]
	path := "/admin/api/v1/users/alice/families/" + fam
	for i := range 2 {
		if resp, body := e.do(t, "DELETE", path, "", bearer(e.rootToken)...); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE #%d = %d %s, want 204", i+1, resp.StatusCode, body)
		}
	}
	revoked := 0
	for _, ev := range e.auditOf(t, audit.TokenRevoked) {
		if ev.Details["family"] == fam {
			revoked++
		}
	}
	if revoked != 1 {
		t.Errorf("token.revoked events of family %s = %d, want 1", fam, revoked)
	}
	// Sign out everywhere (user.Service) revokes the rest.
	if resp, body := e.do(t, "POST", "/admin/api/v1/users/alice/logout", "", bearer(e.rootToken)...); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout = %d %s", resp.StatusCode, body)
	}
	evs := e.auditOf(t, audit.TokenRevoked)
	if len(evs) < 2 {
		t.Fatalf("token.revoked events = %d, want the family's and the logout's", len(evs))
	}
	for _, ev := range evs {
		if ev.UserID != "" && ev.Username == "" {
			t.Errorf("token.revoked %v of user %s has no username", ev.Details, ev.UserID)
		}
	}
}

// An audit query whose since is not before its until names no time at
// all: 400 saying so, not an empty page.
func TestAuditSinceAfterUntil(t *testing.T) {
	e := start(t)
	tests := []struct {
		name, query string
		status      int
	}{
		{"since after until", "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", 400},
		{"since equal to until", "since=2026-01-02T00:00:00Z&until=2026-01-02T00:00:00Z", 400},
		{"offset makes since later", "since=2026-01-02T00:30:00Z&until=2026-01-02T01:00:00%2B01:00", 400},
		{"since before until", "since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", "/admin/api/v1/audit?"+tt.query, "", bearer(e.rootToken)...)
			if resp.StatusCode != tt.status {
				t.Fatalf("audit?%s = %d %s, want %d", tt.query, resp.StatusCode, body, tt.status)
			}
			if tt.status == 400 && !strings.Contains(body, "since must be before until") {
				t.Errorf("body = %s, want an error_description saying since must be before until", body)
			}
		})
	}
}

// A taken username is a 409 whose error_description names it, as a taken
// client_id does; the console's "Add a user" page says it too.
func TestCreateUserTakenNameNamesIt(t *testing.T) {
	e := start(t)
	for _, name := range []string{"alice", "ALICE"} {
		resp, body := e.do(t, "POST", "/admin/api/v1/users", `{"username":"`+name+`","password":"`+pw+`"}`,
			append([]string{"Content-Type", "application/json"}, bearer(e.rootToken)...)...)
		var out struct {
			ErrorDescription string `json:"error_description"`
		}
		_ = json.Unmarshal([]byte(body), &out)
		if resp.StatusCode != http.StatusConflict || !strings.Contains(out.ErrorDescription, "username "+name+" is taken") {
			t.Errorf("POST /users %s = %d %s, want 409 whose error_description says username %s is taken", name, resp.StatusCode, body, name)
		}
	}
	resp, body := e.form(t, "/admin/users", url.Values{"username": {"alice"}, "password": {pw}, "roles": {""}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "username alice is taken") {
		t.Errorf("console Add a user alice = %d, want 409 saying username alice is taken:\n%s", resp.StatusCode, body)
	}
}
