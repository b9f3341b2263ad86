package httperr_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

func wrap(err error) error { return fmt.Errorf("load thing: %w", err) }

func TestOfMapsEverySentinel(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"store down", auth.ErrUnavailable, 503, "unavailable"},
		{"logins shed", &auth.OverloadedError{RetryAfter: time.Second}, 503, "temporarily_unavailable"},
		{"store down wrapping not found", fmt.Errorf("%w: %w", auth.ErrUnavailable, auth.ErrNotFound), 503, "unavailable"},
		{"throttled", &auth.ThrottledError{RetryAfter: time.Second}, 429, "too_many_attempts"},
		{"invalid credentials", auth.ErrInvalidCredentials, 401, "invalid_credentials"},
		{"unauthenticated", auth.ErrUnauthenticated, 401, "unauthorized"},
		{"expired", auth.ErrExpired, 401, "unauthorized"},
		{"revoked", auth.ErrRevoked, 401, "unauthorized"},
		{"disabled", auth.ErrDisabled, 401, "unauthorized"},
		{"forbidden", auth.ErrForbidden, 403, "forbidden"},
		{"not found", auth.ErrNotFound, 404, "not_found"},
		{"invalid input", auth.ErrInvalidInput, 400, "invalid_request"},
		{"conflict", auth.ErrConflict, 409, "conflict"},
		{"unknown error", errors.New("disk on fire"), 500, "internal_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := httperr.Of(wrap(tt.err))
			if p.Status != tt.status || p.Code != tt.code {
				t.Errorf("Of = %d %q, want %d %q", p.Status, p.Code, tt.status, tt.code)
			}
			if got, want := httperr.Unavailable(wrap(tt.err)), tt.status == 503; got != want {
				t.Errorf("Unavailable = %v, want %v", got, want)
			}
		})
	}
}

func TestOAuthOfMapsGrantFailures(t *testing.T) {
	const dead = "the refresh token is invalid, expired or revoked"
	tests := []struct {
		name        string
		err         error
		status      int
		code, descr string
	}{
		{"throttled", &auth.ThrottledError{RetryAfter: time.Second}, 429, "invalid_grant", "too many failed attempts; retry later"},
		{"logins shed", &auth.OverloadedError{RetryAfter: time.Second}, 503, "temporarily_unavailable", "too many logins in progress; retry later"},
		{"bad password", auth.ErrInvalidCredentials, 400, "invalid_grant", "invalid username or password"},
		{"unknown refresh token", auth.ErrNotFound, 400, "invalid_grant", dead},
		{"reused refresh token", auth.ErrReused, 400, "invalid_grant", dead},
		{"revoked", auth.ErrRevoked, 400, "invalid_grant", dead},
		{"expired", auth.ErrExpired, 400, "invalid_grant", dead},
		{"disabled user", auth.ErrDisabled, 400, "invalid_grant", dead},
		{"unauthenticated", auth.ErrUnauthenticated, 400, "invalid_grant", dead},
		{"invalid input", auth.ErrInvalidInput, 400, "invalid_request", ""},
		{"missing parameter says which", fmt.Errorf("refresh_token is required: %w", auth.ErrInvalidRequest), 400, "invalid_request", "refresh_token is required"},
		{"described refusal", httperr.Describe(wrap(auth.ErrNotFound), httperr.CodeRefused), 400, "invalid_grant", httperr.CodeRefused},
		{"described outage shows no description", httperr.Describe(wrap(auth.ErrUnavailable), "secret detail"), 503, "unavailable", ""},
		{"store down", auth.ErrUnavailable, 503, "unavailable", ""},
		{"forbidden", auth.ErrForbidden, 403, "forbidden", ""},
		{"unknown error", errors.New("disk on fire"), 500, "internal_error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := httperr.OAuthOf(wrap(tt.err))
			if p.Status != tt.status || p.Code != tt.code || p.Description != tt.descr {
				t.Errorf("OAuthOf = %+v, want %d %q %q", p, tt.status, tt.code, tt.descr)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		preset    string // WWW-Authenticate set before Write
		body      string
		challenge string
		retry     string
		// presetRetry: Retry-After set before Write (httpapi.Waiting's own).
		presetRetry string
	}{
		{"unauthorized gets the Bearer challenge", auth.ErrUnauthenticated, "", `{"error":"unauthorized"}`, `Bearer realm="gatehouse"`, "", ""},
		{"a challenge already set is kept", auth.ErrUnauthenticated, `Bearer realm="gatehouse", error="invalid_token"`, `{"error":"unauthorized"}`, `Bearer realm="gatehouse", error="invalid_token"`, "", ""},
		{"invalid credentials carry no challenge", auth.ErrInvalidCredentials, "", `{"error":"invalid_credentials"}`, "", "", ""},
		{"throttled gets Retry-After rounded up", &auth.ThrottledError{RetryAfter: 1500 * time.Millisecond}, "", `{"error":"too_many_attempts"}`, "", "2", ""},
		{"store down gets Retry-After of StoreRetry", wrap(auth.ErrUnavailable), "", `{"error":"unavailable"}`, "", httperr.RetryAfter(httperr.StoreRetry), ""},
		{"store down keeps a Retry-After set already", wrap(auth.ErrUnavailable), "", `{"error":"unavailable"}`, "", "7", "7"},
		{"shed gets Retry-After", wrap(&auth.OverloadedError{RetryAfter: 2100 * time.Millisecond}), "", `{"error":"temporarily_unavailable"}`, "", "3", ""},
		{"rate limited gets 429 and Retry-After", fmt.Errorf("route x: %w", &auth.RateLimitedError{RetryAfter: 200 * time.Millisecond}), "", `{"error":"rate_limited"}`, "", "1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			if tt.preset != "" {
				w.Header().Set("WWW-Authenticate", tt.preset)
			}
			if tt.presetRetry != "" {
				w.Header().Set("Retry-After", tt.presetRetry)
			}
			p := httperr.Write(w, tt.err)
			if got, want := w.Code, p.Status; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got, want := w.Body.String(), tt.body+"\n"; got != want {
				t.Errorf("body = %q, want %q", got, want)
			}
			for k, want := range map[string]string{
				"Content-Type": "application/json", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
				"WWW-Authenticate": tt.challenge, "Retry-After": tt.retry,
			} {
				if got := w.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// WritePage sets the headers Write sets on the same error: the Bearer
// challenge on a 401 unauthorized (unless one is set), Retry-After.
func TestWritePageHeaders(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		preset    string // WWW-Authenticate set before WritePage
		challenge string
		retry     string
	}{
		{"unauthorized gets the Bearer challenge", auth.ErrUnauthenticated, "", `Bearer realm="gatehouse"`, ""},
		{"a challenge already set is kept", auth.ErrUnauthenticated, `Basic realm="gatehouse"`, `Basic realm="gatehouse"`, ""},
		{"invalid credentials carry no challenge", auth.ErrInvalidCredentials, "", "", ""},
		{"throttled gets Retry-After", &auth.ThrottledError{RetryAfter: 1500 * time.Millisecond}, "", "", "2"},
		{"store down gets Retry-After of StoreRetry", wrap(auth.ErrUnavailable), "", "", httperr.RetryAfter(httperr.StoreRetry)},
		{"shed gets its own Retry-After", &auth.OverloadedError{RetryAfter: 4 * time.Second}, "", "", "4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, api := httptest.NewRecorder(), httptest.NewRecorder()
			if tt.preset != "" {
				page.Header().Set("WWW-Authenticate", tt.preset)
				api.Header().Set("WWW-Authenticate", tt.preset)
			}
			p := httperr.WritePage(page, tt.err)
			if got, want := p, httperr.Write(api, tt.err); got != want || page.Code != api.Code {
				t.Errorf("page answered %+v (status %d), JSON %+v (status %d)", got, page.Code, want, api.Code)
			}
			for k, want := range map[string]string{"WWW-Authenticate": tt.challenge, "Retry-After": tt.retry, "Content-Type": "text/html; charset=utf-8"} {
				if got := page.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestWriteOAuth(t *testing.T) {
	w := httptest.NewRecorder()
	httperr.WriteOAuth(w, &auth.ThrottledError{RetryAfter: 30 * time.Second})
	if got, want := w.Body.String(), `{"error":"invalid_grant","error_description":"too many failed attempts; retry later"}`+"\n"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
	if w.Code != 429 || w.Header().Get("Retry-After") != "30" || w.Header().Get("Pragma") != "no-cache" {
		t.Errorf("status %d, Retry-After %q, Pragma %q", w.Code, w.Header().Get("Retry-After"), w.Header().Get("Pragma"))
	}
	w = httptest.NewRecorder()
	httperr.OAuth(w, http.StatusBadRequest, httperr.UnsupportedGrantType, "")
	if got, want := w.Body.String(), `{"error":"unsupported_grant_type"}`+"\n"; got != want {
		t.Errorf("without description: body = %q, want %q", got, want)
	}
}

// The body is encoded, not concatenated: a code or description with JSON
// syntax in it stays one string.
func TestJSONIsEncoded(t *testing.T) {
	w := httptest.NewRecorder()
	httperr.OAuth(w, 400, `x","admin":"true`, `a "quoted" \ description`)
	var got map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q is not JSON: %v", w.Body, err)
	}
	if len(got) != 2 || got["error"] != `x","admin":"true` || got["error_description"] != `a "quoted" \ description` {
		t.Errorf("decoded body = %v", got)
	}
}

var styleNonce = regexp.MustCompile(`<style nonce="([^"]+)">`)

func TestRenderPage(t *testing.T) {
	w := httptest.NewRecorder()
	httperr.RenderPage(w, httperr.Page{Status: 403, Title: "Sign-in not allowed", Message: "No.", CodeLabel: "Provider error", Code: "<script>x</script>"})
	body := w.Body.String()
	m := styleNonce.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no nonce'd style in %s", body)
	}
	csp := w.Header().Get("Content-Security-Policy")
	if got, want := csp, httperr.CSP(html.UnescapeString(m[1])); got != want {
		t.Errorf("CSP = %q, want %q", got, want)
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(body, "<script") {
		t.Errorf("page allows or holds inline script: CSP %q, body %s", csp, body)
	}
	if !strings.Contains(body, "Provider error: <code>&lt;script&gt;") {
		t.Errorf("code not shown escaped: %s", body)
	}
	for k, want := range map[string]string{
		"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
	} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if w.Code != 403 {
		t.Errorf("status = %d, want 403", w.Code)
	}
}

func TestPageNoncesDiffer(t *testing.T) {
	a, b := httperr.PageHeaders(http.Header{}), httperr.PageHeaders(http.Header{})
	if a == b || len(a) < 20 {
		t.Errorf("nonces %q and %q: want fresh random values", a, b)
	}
}

// The pages that load the WebAuthn glue admit scripts only by nonce (no
// inline script, no eval) and fetch only to gatehouse itself; every other
// page keeps the script-free policy.
func TestPageHeadersScript(t *testing.T) {
	h := http.Header{}
	nonce := httperr.PageHeadersScript(h)
	csp := h.Get("Content-Security-Policy")
	tests := []struct {
		name string
		want bool
		part string
	}{
		{"script by this response's nonce", true, "script-src 'nonce-" + nonce + "'"},
		{"fetch to own origin", true, "connect-src 'self'"},
		{"default none", true, "default-src 'none'"},
		{"no framing", true, "frame-ancestors 'none'"},
		{"no unsafe-inline", false, "unsafe-inline"},
		{"no unsafe-eval", false, "unsafe-eval"},
		{"no self scripts", false, "script-src 'self'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Contains(csp, tt.part); got != tt.want {
				t.Errorf("CSP %q contains %q = %v, want %v", csp, tt.part, got, tt.want)
			}
		})
	}
	if plain := httperr.CSP(nonce); strings.Contains(plain, "script-src") || strings.Contains(plain, "connect-src") {
		t.Errorf("plain CSP %q admits scripts", plain)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("page headers missing: %v", h)
	}
}

// A described error shows its sentence as error_description; an outage
// never does (it could name internals).
func TestDescribe(t *testing.T) {
	tests := []struct {
		name, desc string
		err        error
		status     int
		code       string
	}{
		{"forbidden with advice", "enrol a second factor", fmt.Errorf("admin: %w", auth.ErrForbidden), 403, "forbidden"},
		{"wrapped again", "change it in the config file", wrap(httperr.Describe(auth.ErrConflict, "change it in the config file")), 409, "conflict"},
		{"outage hides it", "", httperr.Describe(auth.ErrUnavailable, "db 10.0.0.1 down"), 503, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err
			if tt.desc != "" && tt.name == "forbidden with advice" {
				err = httperr.Describe(err, tt.desc)
			}
			rec := httptest.NewRecorder()
			httperr.Write(rec, err)
			var body map[string]string
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != tt.status || body["error"] != tt.code || body["error_description"] != tt.desc {
				t.Errorf("= %d %v, want %d %q %q", rec.Code, body, tt.status, tt.code, tt.desc)
			}
			if !errors.Is(err, auth.ErrForbidden) && !errors.Is(err, auth.ErrConflict) && !errors.Is(err, auth.ErrUnavailable) {
				t.Error("errors.Is does not see through Describe")
			}
		})
	}
}

// Every 503 the package writes carries Retry-After (RFC 9110 section
// 10.2.3), also through the writers that take a status rather than an
// error (a gateway's or an OAuth endpoint's own, a page rendered with
// RenderPage); other statuses get none.
func TestEvery503CarriesRetryAfter(t *testing.T) {
	store := httperr.RetryAfter(httperr.StoreRetry)
	tests := []struct {
		name   string
		write  func(http.ResponseWriter)
		status int
		retry  string
	}{
		{"JSON 503", func(w http.ResponseWriter) { httperr.JSON(w, 503, "unavailable") }, 503, store},
		{"OAuth 503", func(w http.ResponseWriter) { httperr.OAuth(w, 503, "temporarily_unavailable", "") }, 503, store},
		{"WriteOAuth store down", func(w http.ResponseWriter) { httperr.WriteOAuth(w, wrap(auth.ErrUnavailable)) }, 503, store},
		{"RenderPage 503", func(w http.ResponseWriter) { httperr.RenderPage(w, httperr.Page{Status: 503, Title: "Down"}) }, 503, store},
		{"RenderPage 503 keeps its own", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "9")
			httperr.RenderPage(w, httperr.Page{Status: 503, Title: "Down"})
		}, 503, "9"},
		{"JSON 500 gets none", func(w http.ResponseWriter) { httperr.JSON(w, 500, "internal_error") }, 500, ""},
		{"RenderPage 400 gets none", func(w http.ResponseWriter) { httperr.RenderPage(w, httperr.Page{Status: 400, Title: "Bad"}) }, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			tt.write(w)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retry {
				t.Errorf("Retry-After = %q, want %q", got, tt.retry)
			}
		})
	}
}

// TestWantsHTML: a client wants HTML when any Accept line names
// text/html; browsers send one line, but a proxy may split the list.
func TestWantsHTML(t *testing.T) {
	tests := []struct {
		name   string
		accept []string
		want   bool
	}{
		{"browser, one line", []string{"text/html,application/xhtml+xml,*/*;q=0.8"}, true},
		{"text/html on the second line", []string{"application/json", "text/html"}, true},
		{"no Accept", nil, false},
		{"API client", []string{"application/json"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x", nil)
			for _, v := range tt.accept {
				r.Header.Add("Accept", v)
			}
			if got := httperr.WantsHTML(r); got != tt.want {
				t.Errorf("WantsHTML(Accept %q) = %v, want %v", tt.accept, got, tt.want)
			}
		})
	}
}

// signInHref finds the page's link back to sign-in.
var signInHref = regexp.MustCompile(`<a href="([^"]*)">Back to sign-in</a>`)

// TestPageSignInLink: the page's link back to sign-in is /login unless the
// caller names another URL (the gateway, on an app's host, names
// gatehouse's absolute login URL); the URL stays escaped for the href
// attribute, and a script URL never becomes a link.
func TestPageSignInLink(t *testing.T) {
	const abs = "https://auth.example/login?next=https%3A%2F%2Fapp.example%2Fx%3Fa%3D1%26b%3D2"
	tests := []struct {
		name, signIn, want string
	}{
		{"default", "", "/login"},
		{"absolute with next", abs, abs},
		{"attribute breakout is escaped", `/login?next="><b>x`, "/login?next=%22%3e%3cb%3ex"},
		{"script URL refused", "javascript:alert(1)", "#ZgotmplZ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, write := range map[string]func(http.ResponseWriter){
				"RenderPage": func(w http.ResponseWriter) {
					httperr.RenderPage(w, httperr.Page{Status: 503, Title: "Down", SignIn: tt.signIn})
				},
				"WritePageSignIn": func(w http.ResponseWriter) { httperr.WritePageSignIn(w, wrap(auth.ErrUnavailable), tt.signIn) },
			} {
				w := httptest.NewRecorder()
				write(w)
				m := signInHref.FindStringSubmatch(w.Body.String())
				if m == nil {
					t.Fatalf("%s: no sign-in link in %s", name, w.Body.String())
				}
				if got := html.UnescapeString(m[1]); got != tt.want {
					t.Errorf("%s: link = %q, want %q", name, got, tt.want)
				}
			}
		})
	}
	w := httptest.NewRecorder()
	httperr.WritePage(w, wrap(auth.ErrUnavailable))
	if m := signInHref.FindStringSubmatch(w.Body.String()); m == nil || m[1] != "/login" {
		t.Errorf("WritePage's link = %v, want /login", m)
	}
}
