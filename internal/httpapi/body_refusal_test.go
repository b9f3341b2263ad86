package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestBodyRefusalIsDescribed: a body that names a member or form parameter
// twice is refused with 400 invalid_request whose error_description names
// it — as the admin API names a repeated member and the token endpoint a
// repeated parameter — on /auth/login (JSON and form) and the other
// endpoints that read the same bodies; a JSON body that does not parse, or
// has data after it, is described too. The status is unchanged, and no
// value sent (a password above all) is ever echoed.
func TestBodyRefusalIsDescribed(t *testing.T) {
	g := startAlice(t)
	const (
		secret1 = "first-Secret-value-9f3a"
		secret2 = "second-Secret-value-7c1e"
	)
	tests := []struct {
		name, path, contentType, body, want string
	}{
		{"JSON login, username twice", "/auth/login", "application/json",
			`{"username":"mallory","username":"alice","password":"` + secret1 + `"}`, `member "username" is repeated`},
		{"JSON login, password twice", "/auth/login", "application/json",
			`{"username":"alice","password":"` + secret1 + `","password":"` + secret2 + `"}`, `member "password" is repeated`},
		{"JSON login, password twice in another case", "/auth/login", "application/json",
			`{"username":"alice","password":"` + secret1 + `","Password":"` + secret2 + `"}`, `member "Password" is repeated`},
		{"form login, username twice", "/auth/login", formType,
			"username=alice&username=mallory&password=" + secret1, `parameter "username" is repeated`},
		{"form login, password twice", "/auth/login", formType,
			"username=alice&password=" + secret1 + "&password=" + secret2, `parameter "password" is repeated`},
		{"JSON TOTP confirmation, code twice", "/auth/mfa/totp/confirm", "application/json",
			`{"code":"123456","code":"654321"}`, `member "code" is repeated`},
		{"form password change, new_password twice", "/auth/password", formType,
			"current_password=" + secret1 + "&new_password=" + secret2 + "&new_password=" + secret2, `parameter "new_password" is repeated`},
		{"JSON login cut short", "/auth/login", "application/json",
			`{"username":"alice","password":"` + secret1, "malformed JSON body"},
		{"JSON login with data after it", "/auth/login", "application/json",
			`{"username":"alice","password":"` + secret1 + `"} {"x":1}`, "data after the JSON body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), "POST", g.URL+tt.path, tt.body, "Content-Type", tt.contentType)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d %s, want 400", resp.StatusCode, body)
			}
			m := decode(t, body)
			if got, want := m["error"], "invalid_request"; got != want {
				t.Errorf("error = %v, want %q", got, want)
			}
			if got := m["error_description"]; got != tt.want {
				t.Errorf("error_description = %v, want %q", got, tt.want)
			}
			if strings.Contains(body, secret1) || strings.Contains(body, secret2) {
				t.Errorf("the answer echoes a value sent: %s", body)
			}
		})
	}
	// A browser posting the login form twice-named gets the page naming it,
	// also without the values.
	resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/login",
		"username=alice&password="+secret1+"&password="+secret2, "Content-Type", formType, "Accept", browserHTML)
	wantFormRefusal(t, resp, body, true, http.StatusBadRequest, "invalid_request")
	if !strings.Contains(body, "password") || !strings.Contains(body, "is repeated") {
		t.Errorf("page does not name the repeated parameter: %.400s", body)
	}
	if strings.Contains(body, secret1) || strings.Contains(body, secret2) {
		t.Errorf("the page echoes a value sent")
	}
}
