package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// A second step with a method POST /auth/login/mfa does not take says
// which it takes for this login (those of its "methods" that are codes)
// and where a passkey goes, never repeating what the client sent.
func TestSecondStepUnknownMethodSaysWhichAreAccepted(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	g.CreateUser(t, "totp-user", strongPassword)
	enrolTOTP(t, g, "totp-user")
	g.CreateUser(t, "both", strongPassword)
	c := signedIn(t, g, "both")
	enrolTOTPIn(t, g, c)
	if resp, body := do(t, c, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/json"); resp.StatusCode != http.StatusOK {
		t.Fatalf("recovery codes = %d %s", resp.StatusCode, body)
	}
	g.CreateUser(t, "key-user", strongPassword)
	registerPasskey(t, g, signedIn(t, g, "key-user"), securityKey(), "key")

	const sent = `<b>sms</b>`
	for _, tt := range []struct {
		user, method string
		want, never  []string
	}{
		{user: "totp-user", method: sent, want: []string{`"totp"`}, never: []string{`"recovery"`, "passkey"}},
		{user: "both", method: sent, want: []string{`"totp"`, `"recovery"`}, never: []string{"passkey"}},
		{user: "key-user", method: sent, want: []string{"passkey", "/auth/webauthn/login/begin"}, never: []string{`"totp"`}},
		{user: "key-user", method: "webauthn", want: []string{"passkey", "/auth/webauthn/login/begin"}},
	} {
		t.Run(tt.user+" "+tt.method, func(t *testing.T) {
			pc, _ := pendingLogin(t, g, tt.user)
			resp, body := postJSON(t, pc, g.URL+"/auth/login/mfa", map[string]string{"method": tt.method, "code": "123456"})
			m := decode(t, body)
			d := descr(m)
			if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_request" || d == "" {
				t.Fatalf("= %d %s, want 400 invalid_request with an error_description", resp.StatusCode, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(d, w) {
					t.Errorf("error_description %q does not name %s", d, w)
				}
			}
			for _, n := range append(tt.never, sent, "sms") {
				if strings.Contains(d, n) {
					t.Errorf("error_description %q contains %s", d, n)
				}
			}
		})
	}

	// The form's error page says the same.
	t.Run("form", func(t *testing.T) {
		pc, _ := pendingLogin(t, g, "both")
		resp, body := do(t, pc, "POST", g.URL+"/auth/login/mfa", "method=sms&code=123456",
			"Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "recovery") {
			t.Fatalf("= %d %s, want 400 naming the methods", resp.StatusCode, body)
		}
	})
}
