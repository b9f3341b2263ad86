package oidc_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/oidc"
)

// A page can send a browser to /start again and again (a pop-up it keeps
// navigating); each visit leaves a state cookie of up to 4 KB for ten
// minutes. Unbounded, they grew the browser's Cookie header past what
// gatehouse (64 KiB) or a proxy in front accepts, locking the browser out
// of gatehouse, and with secure cookies (Path=/) of every app behind it.
// At most five logins stay in progress: the newest.
func TestStartKeepsAtMostFiveLoginsInProgress(t *testing.T) {
	e := newEnv(t, nil)
	long := strings.Repeat("a", 1900)
	var cbs []*url.URL
	for i := range 12 {
		cbs = append(cbs, e.begin("corp", fmt.Sprintf("/%d/%s", i, long)))
	}
	if got := len(e.stateCookies()); got != 5 {
		t.Errorf("%d state cookies after 12 starts, want 5", got)
	}
	for i, cb := range cbs {
		resp := e.get(cb.String())
		if i < 7 {
			if resp.status != http.StatusBadRequest || e.lastFailure() != "state_cookie_missing" {
				t.Errorf("login %d (dropped): %d, reason %q; want 400 state_cookie_missing", i, resp.status, e.lastFailure())
			}
			continue
		}
		if want := fmt.Sprintf("/%d/%s", i, long); resp.status != http.StatusSeeOther || resp.location != want {
			t.Errorf("login %d: %d to %.10q, want 303 to %.10q (body %q)", i, resp.status, resp.location, want, resp.body)
		}
	}
}

// The same with secure cookies (__Host-, Path=/), where every request to
// the host carries them; driven without a cookie jar, which keeps Secure
// cookies from plain-http test servers.
func TestStartKeepsAtMostFiveSecureStateCookies(t *testing.T) {
	e := newEnv(t, nil)
	h := secureHandler(t, e)
	var jar []*http.Cookie // oldest first, as browsers send them
	var first string
	for i := range 9 {
		r := httptest.NewRequest(http.MethodGet, "/auth/oidc/corp/start?next=/x", nil)
		r.SetPathValue("name", "corp")
		for _, c := range jar {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		w := httptest.NewRecorder()
		h.Start().ServeHTTP(w, r)
		if w.Code != http.StatusFound {
			t.Fatalf("start %d: status %d", i, w.Code)
		}
		for _, c := range w.Result().Cookies() {
			jar = slices.DeleteFunc(jar, func(o *http.Cookie) bool { return o.Name == c.Name })
			if c.MaxAge > 0 {
				jar = append(jar, c)
			}
		}
		if i == 0 {
			first = jar[0].Name
		}
	}
	if got := len(jar); got != 5 {
		t.Errorf("%d state cookies after 9 starts, want 5", got)
	}
	for _, c := range jar {
		if c.Name == first {
			t.Error("the oldest login's cookie is still there")
		}
	}
}

// Other providers' logins count too, and a login's own cookie is never
// the one dropped.
func TestStartBoundCountsEveryProvider(t *testing.T) {
	e := newEnv(t, nil)
	other := e.providerConfig()
	other.Name = "other"
	e.op.AddRedirectURI(e.srv.URL + "/auth/oidc/other/callback")
	e.configureProviders(e.providerConfig(), other)
	var cbs []*url.URL
	for i := range 6 {
		name := []string{"corp", "other"}[i%2]
		cbs = append(cbs, e.begin(name, "/"))
	}
	if got := len(e.allStateCookies()); got != 5 {
		t.Errorf("%d state cookies, want 5", got)
	}
	if resp := e.get(cbs[0].String()); resp.status != http.StatusBadRequest {
		t.Errorf("oldest login: %d, want 400", resp.status)
	}
	if resp := e.get(cbs[5].String()); resp.status != http.StatusSeeOther {
		t.Errorf("newest login: %d, want 303 (body %q)", resp.status, resp.body)
	}
}

// allStateCookies returns the browser's OIDC state cookies of every provider.
func (e *env) allStateCookies() []*http.Cookie {
	u, _ := url.Parse(e.srv.URL + "/auth/oidc/")
	var out []*http.Cookie
	for _, c := range e.browser.Jar.Cookies(u) {
		for _, p := range oidc.StateCookiePrefixes() {
			if strings.HasPrefix(c.Name, p) {
				out = append(out, c)
			}
		}
	}
	return out
}
