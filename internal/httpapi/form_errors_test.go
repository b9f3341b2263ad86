package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

const (
	formType    = "application/x-www-form-urlencoded"
	browserHTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
)

// wantFormRefusal checks a refused form post: an API client gets the JSON
// error, a browser (Accept: text/html) an HTML error page with the same
// status, never JSON.
func wantFormRefusal(t *testing.T, resp *http.Response, body string, browser bool, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d %s, want %d", resp.StatusCode, body, status)
	}
	ct := resp.Header.Get("Content-Type")
	switch {
	case browser && (!strings.HasPrefix(ct, "text/html") || !strings.Contains(body, "<html")):
		t.Errorf("browser got Content-Type %q, body %.200s; want an HTML page", ct, body)
	case browser && resp.Header.Get("Content-Security-Policy") == "":
		t.Error("HTML error page without Content-Security-Policy")
	case !browser && decode(t, body)["error"] != code:
		t.Errorf("body = %s, want error %q", body, code)
	}
}

// TestRepeatedFormParametersAreRefused: gatehouse's own forms refuse a
// parameter sent twice (username=a&username=b) with 400, as the JSON
// bodies refuse a member twice and the token endpoint refuses a repeated
// parameter (RFC 6749 §3.2), instead of taking the first.
func TestRepeatedFormParametersAreRefused(t *testing.T) {
	g := startAlice(t)
	tests := []struct{ name, path, body string }{
		{"login, username twice", "/auth/login", "username=alice&username=mallory&password=" + strings.ReplaceAll(strongPassword, " ", "+")},
		{"login, password twice", "/auth/login", "username=alice&password=a&password=" + strings.ReplaceAll(strongPassword, " ", "+")},
		{"login, next twice", "/auth/login", "username=alice&password=" + strings.ReplaceAll(strongPassword, " ", "+") + "&next=/a&next=/b"},
		{"second factor", "/auth/login/mfa", "method=totp&code=123456&code=654321"},
		{"password change", "/auth/password", "current_password=a&new_password=b&new_password=c"},
	}
	for _, tt := range tests {
		for _, browser := range []bool{false, true} {
			t.Run(tt.name+map[bool]string{false: ", API", true: ", browser"}[browser], func(t *testing.T) {
				header := []string{"Content-Type", formType}
				if browser {
					header = append(header, "Accept", browserHTML)
				}
				resp, body := do(t, testutil.Client(t), "POST", g.URL+tt.path, tt.body, header...)
				wantFormRefusal(t, resp, body, browser, http.StatusBadRequest, "invalid_request")
				if resp.Header.Get("Set-Cookie") != "" && !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
					t.Errorf("a refused form set a cookie: %q", resp.Header.Values("Set-Cookie"))
				}
			})
		}
	}
	// The JSON login already refuses a member twice: the two kinds of body
	// agree.
	resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/login",
		`{"username":"mallory","username":"alice","password":"`+strongPassword+`"}`, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("JSON login with username twice = %d %s, want 400", resp.StatusCode, body)
	}
}

// TestFormFailuresAnswerBrowsersWithAPage: a form post from gatehouse's
// own pages that fails before it can be answered in kind (a malformed
// body: 400; the store down: 503) gets an HTML error page with that
// status; an API client posting the same gets the JSON error.
func TestFormFailuresAnswerBrowsersWithAPage(t *testing.T) {
	proxy := redistest.NewProxy(t)
	_, prefix := redistest.New(t)
	g := startAlice(t, func(c *config.Config) { c.Redis.URL, c.Redis.KeyPrefix = proxy.URL(), prefix })
	login := "username=alice&password=" + strings.ReplaceAll(strongPassword, " ", "+")
	for _, browser := range []bool{false, true} {
		header := []string{"Content-Type", formType}
		if browser {
			header = append(header, "Accept", browserHTML)
		}
		kind := map[bool]string{false: "API", true: "browser"}[browser]
		t.Run("malformed body, "+kind, func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/login", "username=%zz&password=x", header...)
			wantFormRefusal(t, resp, body, browser, http.StatusBadRequest, "invalid_request")
		})
	}
	proxy.Stop() // the login throttle's counters live in Redis
	for _, browser := range []bool{false, true} {
		header := []string{"Content-Type", formType}
		if browser {
			header = append(header, "Accept", browserHTML)
		}
		t.Run("store down, "+map[bool]string{false: "API", true: "browser"}[browser], func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/login", login, header...)
			wantFormRefusal(t, resp, body, browser, http.StatusServiceUnavailable, "unavailable")
			if resp.Header.Get("Set-Cookie") != "" && !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
				t.Errorf("a failed login set a cookie: %q", resp.Header.Values("Set-Cookie"))
			}
		})
	}
}
