package oidc_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
)

func TestStartRedirectsWithStateNonceAndPKCE(t *testing.T) {
	e := newEnv(t, nil)
	resp := e.get(e.srv.URL + "/auth/oidc/corp/start?next=/app/")
	if got, want := resp.status, http.StatusFound; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	loc, err := url.Parse(resp.location)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := loc.Scheme+"://"+loc.Host, e.op.Issuer(); got != want {
		t.Errorf("redirect goes to %q, want the provider %q", got, want)
	}
	q := loc.Query()
	for key, want := range map[string]string{
		"response_type":         "code",
		"client_id":             e.op.ClientID(),
		"redirect_uri":          e.srv.URL + "/auth/oidc/corp/callback",
		"scope":                 "openid email profile",
		"code_challenge_method": "S256",
	} {
		if got := q.Get(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	// 128 bits of randomness need at least 22 base64url characters.
	for _, key := range []string{"state", "nonce", "code_challenge"} {
		if got := len(q.Get(key)); got < 22 {
			t.Errorf("%s has %d characters, want >= 22", key, got)
		}
	}
	if q.Get("state") == q.Get("nonce") {
		t.Error("state and nonce are equal")
	}
	cookies := (&http.Response{Header: resp.header}).Cookies()
	if got, want := len(cookies), 1; got != want {
		t.Fatalf("%d cookies set, want %d", got, want)
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/auth/oidc/" || c.MaxAge != 600 || c.Secure {
		t.Errorf("state cookie = %+v, want HttpOnly, SameSite=Lax, Path=/auth/oidc/, Max-Age=600, not Secure on http", c)
	}
	if strings.Contains(c.Value, q.Get("state")) || strings.Contains(c.Value, q.Get("nonce")) {
		t.Error("state cookie holds the state or nonce in clear")
	}
}

func TestStartSecureCookie(t *testing.T) {
	e := newEnv(t, nil)
	h := secureHandler(t, e)
	r := httptest.NewRequest(http.MethodGet, "/auth/oidc/corp/start", nil)
	r.SetPathValue("name", "corp")
	w := httptest.NewRecorder()
	h.Start().ServeHTTP(w, r)
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("%d cookies, want 1 (status %d)", len(cookies), w.Code)
	}
	c := cookies[0]
	if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || c.Path != "/" || c.Domain != "" {
		t.Errorf("cookie %s: Secure=%v Path=%q Domain=%q, want a __Host- cookie (Secure, Path=/, no Domain)", c.Name, c.Secure, c.Path, c.Domain)
	}
}

func TestLoginCreatesUserLinksIdentityAndReusesIt(t *testing.T) {
	e := newEnv(t, nil)
	resp := e.login("/app/orders?x=1")
	if got, want := resp.status, http.StatusSeeOther; got != want {
		t.Fatalf("status = %d, want %d (body %q)", got, want, resp.body)
	}
	if got, want := resp.location, "/app/orders?x=1"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if got := len(e.stateCookies()); got != 0 {
		t.Errorf("%d state cookies left after the callback, want 0", got)
	}
	sessions := e.sessionUsers()
	if len(sessions) != 1 {
		t.Fatalf("%d sessions, want 1", len(sessions))
	}
	u := sessions[0]
	if got, want := u.Username, "alice"; got != want {
		t.Errorf("username = %q, want %q", got, want)
	}
	if got, want := u.Roles, []string{"user"}; !slices.Equal(got, want) {
		t.Errorf("roles = %v, want %v", got, want)
	}
	if got, want := e.methods[0], "oidc:corp"; got != want {
		t.Errorf("session method = %q, want %q", got, want)
	}
	ids, err := e.store.UserIdentities(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0].Issuer != e.op.Issuer() || ids[0].Subject != alice.Subject || ids[0].Provider != "corp" {
		t.Errorf("identities = %+v, want one for %s / %s", ids, e.op.Issuer(), alice.Subject)
	}
	for _, typ := range []string{audit.LoginOK, audit.IdentityLinked, audit.UserCreated} {
		if evs := e.events(typ); len(evs) != 1 || evs[0].UserID != u.ID {
			t.Errorf("audit %s: %+v, want one event for user %s", typ, evs, u.ID)
		}
	}
	if got, want := e.events(audit.LoginOK)[0].Details["method"], "oidc:corp"; got != want {
		t.Errorf("login.ok method = %q, want %q", got, want)
	}

	resp = e.login("/again")
	if got, want := resp.status, http.StatusSeeOther; got != want {
		t.Fatalf("second login status = %d, want %d (body %q)", got, want, resp.body)
	}
	if got, want := e.sessionUsers()[1].ID, u.ID; got != want {
		t.Errorf("second login is user %q, want the same user %q", got, want)
	}
	if got, want := len(e.users()), 1; got != want {
		t.Errorf("%d users after two logins, want %d", got, want)
	}
	if got, want := len(e.events(audit.IdentityLinked)), 1; got != want {
		t.Errorf("%d identity.linked events, want %d", got, want)
	}
}

func TestParallelLoginsInTwoTabs(t *testing.T) {
	e := newEnv(t, nil)
	tabA := e.begin("corp", "/a")
	tabB := e.begin("corp", "/b")
	for _, tc := range []struct {
		cb   *url.URL
		next string
	}{{tabB, "/b"}, {tabA, "/a"}} {
		resp := e.get(tc.cb.String())
		if resp.status != http.StatusSeeOther || resp.location != tc.next {
			t.Errorf("callback: %d to %q, want 303 to %q", resp.status, resp.location, tc.next)
		}
	}
}

func TestCallbackRefusesBadState(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(e *env, cb *url.URL)
		reason string
	}{
		{"wrong state", func(_ *env, cb *url.URL) { setParam(cb, "state", "bm90LXRoZS1zdGF0ZS13ZS1zZW50LWF0LWFsbA") }, "state_cookie_missing"},
		{"missing state", func(_ *env, cb *url.URL) { setParam(cb, "state", "") }, "state_missing"},
		{"missing state cookie", func(e *env, _ *url.URL) { e.newBrowser() }, "state_cookie_missing"},
		{"expired state", func(e *env, _ *url.URL) { e.clock.Advance(10*time.Minute + time.Second) }, "state_expired"},
		{"state cookie from another key", func(e *env, _ *url.URL) { e.key = make([]byte, 32); e.configure(e.providerConfig(), nil) }, "state_invalid"},
		{"iss of another issuer", func(_ *env, cb *url.URL) { setParam(cb, "iss", "https://evil.example") }, "issuer_mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			cb := e.begin("corp", "/app/")
			tc.tamper(e, cb)
			e.assertRefused(e.get(cb.String()), http.StatusBadRequest, tc.reason)
			if got := len(e.users()); got != 0 {
				t.Errorf("%d users created, want 0", got)
			}
		})
	}
}

func TestCallbackRefusesReplayedCode(t *testing.T) {
	e := newEnv(t, nil)
	cb := e.begin("corp", "/")
	saved := e.stateCookies()
	if resp := e.get(cb.String()); resp.status != http.StatusSeeOther {
		t.Fatalf("first callback: %d, want 303 (body %q)", resp.status, resp.body)
	}
	// Put the state cookie back, so that only the provider can refuse.
	e.browser.Jar.SetCookies(cb, saved)
	e.mu.Lock()
	e.sessions = nil
	e.mu.Unlock()
	e.assertRefused(e.get(cb.String()), http.StatusBadRequest, "code_rejected")
}

func TestCallbackRefusesBadIDToken(t *testing.T) {
	tests := []struct {
		name   string
		behave oidctestop.Behaviour
		reason string
	}{
		{"wrong nonce", oidctestop.Behaviour{IDTokenNonce: "not-the-nonce"}, "nonce_mismatch"},
		{"another issuer", oidctestop.Behaviour{IDTokenIssuer: "https://other-issuer.example"}, "id_token_invalid"},
		{"another audience", oidctestop.Behaviour{IDTokenAudience: []string{"another-client"}}, "id_token_invalid"},
		{"extra audience, azp another client", oidctestop.Behaviour{IDTokenAudience: []string{"another-client", "gatehouse"}}, "id_token_invalid"},
		{"expired", oidctestop.Behaviour{IDTokenLifetime: -time.Minute}, "id_token_invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.op.SetBehaviour(tc.behave)
			e.assertRefused(e.login("/"), http.StatusBadRequest, tc.reason)
			if got := len(e.users()); got != 0 {
				t.Errorf("%d users created, want 0", got)
			}
		})
	}
}

// An ID token without sub (OIDC Core makes it required) names no one: the
// identity key would be (issuer, ""), one key for every such login, so the
// second person through it would log in as the first.
func TestCallbackRefusesIDTokenWithoutSubject(t *testing.T) {
	e := newEnv(t, nil)
	e.op.SetBehaviour(oidctestop.Behaviour{IDTokenWithoutSubject: true})
	e.assertRefused(e.login("/"), http.StatusBadGateway, "subject_missing")
	e.op.SetUser(oidctestop.User{Subject: "b0b0b0b0b0", PreferredUsername: "bob", Email: "bob@corp.example", EmailVerified: true})
	e.assertRefused(e.login("/"), http.StatusBadGateway, "subject_missing")
	if got := e.users(); len(got) != 0 {
		t.Errorf("users created = %+v, want none", got)
	}
}

func TestCallbackShowsProviderError(t *testing.T) {
	tests := []struct {
		deny   string
		status int
		shown  string
	}{
		{"access_denied", http.StatusForbidden, "access_denied"},
		{"temporarily_unavailable", http.StatusBadRequest, "temporarily_unavailable"},
		{"<script>alert(1)</script>", http.StatusBadRequest, "&lt;script&gt;alert(1)&lt;/script&gt;"},
	}
	for _, tc := range tests {
		t.Run(tc.deny, func(t *testing.T) {
			e := newEnv(t, nil)
			e.op.SetBehaviour(oidctestop.Behaviour{Deny: tc.deny})
			resp := e.login("/")
			e.assertRefused(resp, tc.status, "provider_error")
			if !strings.Contains(resp.body, tc.shown) {
				t.Errorf("page does not name the error %q: %s", tc.shown, resp.body)
			}
			if strings.Contains(resp.body, "<script>") {
				t.Error("provider error is not escaped")
			}
		})
	}
}

func TestCallbackIssParameter(t *testing.T) {
	tests := []struct {
		name   string
		behave oidctestop.Behaviour
		status int
		reason string
	}{
		{"wrong iss", oidctestop.Behaviour{AuthResponseIssuer: "https://evil.example"}, http.StatusBadRequest, "issuer_mismatch"},
		{"iss missing although advertised", oidctestop.Behaviour{OmitIssParameter: true}, http.StatusBadRequest, "issuer_missing"},
		{"iss missing and not advertised", oidctestop.Behaviour{OmitIssParameter: true, NoIssSupport: true}, http.StatusSeeOther, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.op.SetBehaviour(tc.behave)
			resp := e.login("/")
			if tc.reason == "" {
				if resp.status != tc.status {
					t.Errorf("status = %d, want %d (body %q)", resp.status, tc.status, resp.body)
				}
				return
			}
			e.assertRefused(resp, tc.status, tc.reason)
		})
	}
}

func TestNextIsSameOriginPathOnly(t *testing.T) {
	tests := []struct{ next, want string }{
		{"/app/x?y=1#z", "/app/x?y=1#z"},
		{"", "/"},
		{"//evil.example", "/"},
		{"https://evil.example", "/"},
		{`/\evil.example`, "/"},
		{"/ok\\..\\evil", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{"/a\nb", "/"},
	}
	e := newEnv(t, nil)
	for _, tc := range tests {
		t.Run(tc.next, func(t *testing.T) {
			resp := e.login(tc.next)
			if resp.status != http.StatusSeeOther || resp.location != tc.want {
				t.Errorf("login with next=%q: %d to %q, want 303 to %q", tc.next, resp.status, resp.location, tc.want)
			}
		})
	}
}

// Without create_users an account nobody linked is refused; the page
// tells the person that an administrator can link it and the account's
// subject to give them (`gatehouse user link … --subject`), escaped.
func TestNoLocalAccountWithoutCreateUsers(t *testing.T) {
	e := newEnv(t, func(p *oidc.Provider) { p.CreateUsers = false })
	resp := e.login("/")
	e.assertRefused(resp, http.StatusForbidden, "no_local_account")
	if got := len(e.users()); got != 0 {
		t.Errorf("%d users created, want 0", got)
	}
	if !strings.Contains(resp.body, "an administrator can link it") || !strings.Contains(resp.body, "<code>"+alice.Subject+"</code>") {
		t.Errorf("the page does not name the account for an administrator:\n%s", resp.body)
	}
}

func TestAllowedEmailDomains(t *testing.T) {
	tests := []struct {
		name   string
		user   oidctestop.User
		status int
		// says is what the error page tells the user: an address in an
		// allowed domain that the provider did not verify is refused
		// for that, not for its domain.
		says string
	}{
		{"verified email in domain", alice, http.StatusSeeOther, ""},
		{"domain compared case-insensitively", withEmail(alice, "alice@CORP.example", true), http.StatusSeeOther, ""},
		{"other domain", withEmail(alice, "alice@other.example", true), http.StatusForbidden, "email domain is not allowed"},
		{"subdomain", withEmail(alice, "alice@x.corp.example", true), http.StatusForbidden, "email domain is not allowed"},
		{"unverified email in domain", withEmail(alice, "alice@corp.example", false), http.StatusForbidden, "did not confirm an email address"},
		{"no email", withEmail(alice, "", false), http.StatusForbidden, "did not confirm an email address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(p *oidc.Provider) { p.AllowedEmailDomains = []string{"corp.example"} })
			e.op.SetUser(tc.user)
			resp := e.login("/")
			if tc.status == http.StatusSeeOther {
				if resp.status != tc.status {
					t.Errorf("status = %d, want %d (body %q)", resp.status, tc.status, resp.body)
				}
				return
			}
			e.assertRefused(resp, tc.status, "email_domain_not_allowed")
			if !strings.Contains(resp.body, tc.says) {
				t.Errorf("page does not say %q: %s", tc.says, resp.body)
			}
			if got := len(e.users()); got != 0 {
				t.Errorf("%d users created, want 0", got)
			}
		})
	}
}

func TestAllowedEmailDomainsRestrictLinkedUsers(t *testing.T) {
	e := newEnv(t, nil)
	e.op.SetUser(withEmail(alice, "alice@other.example", true))
	if resp := e.login("/"); resp.status != http.StatusSeeOther {
		t.Fatalf("first login: %d, want 303", resp.status)
	}
	e.configure(e.providerConfig(), func(p *oidc.Provider) { p.AllowedEmailDomains = []string{"corp.example"} })
	e.mu.Lock()
	e.sessions = nil
	e.mu.Unlock()
	e.assertRefused(e.login("/"), http.StatusForbidden, "email_domain_not_allowed")
}

func TestLinkByEmail(t *testing.T) {
	tests := []struct {
		name        string
		linkByEmail bool
		verified    bool
		linked      bool
	}{
		{"enabled and verified", true, true, true},
		{"enabled but unverified", true, false, false},
		{"verified but disabled in config", false, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(p *oidc.Provider) { p.CreateUsers = false; p.LinkByEmail = tc.linkByEmail })
			local := e.createLocalUser("Alice@Corp.example", false)
			e.op.SetUser(withEmail(alice, "alice@corp.example", tc.verified))
			resp := e.login("/")
			if !tc.linked {
				e.assertRefused(resp, http.StatusForbidden, "no_local_account")
				return
			}
			if resp.status != http.StatusSeeOther {
				t.Fatalf("status = %d, want 303 (body %q)", resp.status, resp.body)
			}
			if got, want := e.sessionUsers()[0].ID, local.ID; got != want {
				t.Errorf("logged in as %q, want the existing user %q", got, want)
			}
			if evs := e.events(audit.IdentityLinked); len(evs) != 1 || evs[0].UserID != local.ID {
				t.Errorf("identity.linked events = %+v, want one for %s", evs, local.ID)
			}
		})
	}
}

// Full Unicode case folding (the username key) makes "ß" "ss" and "ς"
// "σ": alice@straße.example and alice@strasse.example are one username but
// two mail domains (IDNA2008), so a verified address at one must not be
// linked to the account named after the other.
func TestLinkByEmailNeedsTheSameAddress(t *testing.T) {
	tests := []struct {
		name, local, email string
		linked             bool
	}{
		{"same address", "alice@strasse.example", "alice@strasse.example", true},
		{"ASCII case differs", "Alice@Strasse.Example", "alice@strasse.example", true},
		{"fullwidth letters", "ａｌｉｃｅ@strasse.example", "alice@strasse.example", true},
		{"sharp s domain", "alice@strasse.example", "alice@straße.example", false},
		{"sharp s account, ss email", "alice@straße.example", "alice@strasse.example", false},
		{"final sigma domain", "alice@σ.example", "alice@ς.example", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(p *oidc.Provider) { p.CreateUsers = false; p.LinkByEmail = true })
			local := e.createLocalUser(tc.local, false)
			e.op.SetUser(withEmail(alice, tc.email, true))
			resp := e.login("/")
			if !tc.linked {
				e.assertRefused(resp, http.StatusForbidden, "no_local_account")
				if evs := e.events(audit.IdentityLinked); len(evs) != 0 {
					t.Errorf("identity.linked events = %+v, want none", evs)
				}
				return
			}
			if resp.status != http.StatusSeeOther {
				t.Fatalf("status = %d, want 303 (body %q)", resp.status, resp.body)
			}
			if got, want := e.sessionUsers()[0].ID, local.ID; got != want {
				t.Errorf("logged in as %q, want the existing user %q", got, want)
			}
		})
	}
}

func TestDisabledUserIsRefused(t *testing.T) {
	t.Run("linked user", func(t *testing.T) {
		e := newEnv(t, nil)
		if resp := e.login("/"); resp.status != http.StatusSeeOther {
			t.Fatalf("first login: %d, want 303", resp.status)
		}
		u := e.sessionUsers()[0]
		u.Disabled = true
		if err := e.store.UpdateUser(context.Background(), u, u.UpdatedAt); err != nil {
			t.Fatal(err)
		}
		e.mu.Lock()
		e.sessions = nil
		e.mu.Unlock()
		e.assertRefused(e.login("/"), http.StatusForbidden, "user_disabled")
	})
	t.Run("user found by email", func(t *testing.T) {
		e := newEnv(t, func(p *oidc.Provider) { p.LinkByEmail = true })
		e.createLocalUser(alice.Email, true)
		e.assertRefused(e.login("/"), http.StatusForbidden, "user_disabled")
	})
}

func TestNewUsernameFallsBack(t *testing.T) {
	tests := []struct {
		name  string
		taken []string
		user  oidctestop.User
		want  string
	}{
		{"preferred_username", nil, alice, "alice"},
		{"email when username taken", []string{"alice"}, alice, "alice@corp.example"},
		{"provider and subject when both taken", []string{"alice", "alice@corp.example"}, alice, "corp-a1b2c3d4"},
		{"unverified email is skipped", []string{"alice"}, withEmail(alice, "alice@corp.example", false), "corp-a1b2c3d4"},
		{"email-like username must be the verified email", nil,
			oidctestop.User{Subject: "s-123456789", PreferredUsername: "boss@corp.example", Email: "eve@corp.example", EmailVerified: true},
			"eve@corp.example"},
		// NFKC makes these "@": judged as the name they become, or an
		// unverified address becomes a username that a later link_by_email
		// login of the address's owner is linked into.
		{"fullwidth at sign is an email-like username", nil,
			oidctestop.User{Subject: "s-123456789", PreferredUsername: "boss\uFF20corp.example", Email: "eve@corp.example", EmailVerified: false},
			"corp-s-123456"},
		{"small at sign is an email-like username", nil,
			oidctestop.User{Subject: "s-123456789", PreferredUsername: "boss\uFE6Bcorp.example", Email: "eve@corp.example", EmailVerified: true},
			"eve@corp.example"},
		// One username key, two mail domains: the verified address is
		// alice@straße.example, not the preferred alice@strasse.example.
		{"email-like username folding to the verified email", nil,
			oidctestop.User{Subject: "s-123456789", PreferredUsername: "alice@strasse.example", Email: "alice@straße.example", EmailVerified: true},
			"alice@straße.example"},
		// Drift fixed in issue 12: the user service's name rule (1..64
		// characters, no spaces) applies to accounts a provider creates too.
		{"username with a space falls back to the email", nil,
			oidctestop.User{Subject: "s-123456789", PreferredUsername: "Alice Smith", Email: "alice@corp.example", EmailVerified: true},
			"alice@corp.example"},
		{"username over 64 characters falls back to the email", nil,
			oidctestop.User{Subject: "s-123456789", PreferredUsername: strings.Repeat("a", 100), Email: "alice@corp.example", EmailVerified: true},
			"alice@corp.example"},
		// The audit filters read 32 hex digits as a user ID, so no account
		// is named so (user.CheckName): such a preferred_username is
		// skipped as a name with a space is, not a failed login.
		{"username of 32 hex digits falls back to the email", nil,
			oidctestop.User{Subject: "s-123456789", PreferredUsername: "0123456789abcdef0123456789abcdef", Email: "alice@corp.example", EmailVerified: true},
			"alice@corp.example"},
		{"username of 32 uppercase hex digits falls back to provider and subject", nil,
			oidctestop.User{Subject: "s-123456789", PreferredUsername: "0123456789ABCDEF0123456789ABCDEF"},
			"corp-s-123456"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			for _, name := range tc.taken {
				e.createLocalUser(name, false)
			}
			e.op.SetUser(tc.user)
			if resp := e.login("/"); resp.status != http.StatusSeeOther {
				t.Fatalf("status = %d, want 303 (body %q)", resp.status, resp.body)
			}
			if got := e.sessionUsers()[0].Username; got != tc.want {
				t.Errorf("new username = %q, want %q", got, tc.want)
			}
		})
	}
}

// A default role with a comma would split into two roles in X-Auth-Roles;
// the user service refuses it for provider-created accounts as for any
// other (config check refuses it before that).
func TestCreatedUserRolesFollowTheRoleRule(t *testing.T) {
	e := newEnv(t, func(p *oidc.Provider) { p.DefaultRoles = []string{"user,admin"} })
	if resp := e.login("/"); resp.status == http.StatusSeeOther {
		t.Fatalf("login with default role %q succeeded, want refusal", "user,admin")
	}
	if got := e.users(); len(got) != 0 {
		t.Errorf("users created = %+v, want none", got)
	}
}

// Without default_roles a created user has no roles, like `gatehouse user
// add` without --role: the [user] of contract §7's example is a value to
// set, not a default that would grant a role nobody configured
// (docs/oidc.md). The user passes routes that ask for no role.
func TestCreatedUserWithoutDefaultRolesHasNone(t *testing.T) {
	e := newEnv(t, func(p *oidc.Provider) { p.DefaultRoles = nil })
	if resp := e.login("/"); resp.status != http.StatusSeeOther {
		t.Fatalf("login = %d (body %q), want 303", resp.status, resp.body)
	}
	users := e.users()
	if len(users) != 1 {
		t.Fatalf("users created = %+v, want one", users)
	}
	if got := users[0].Roles; len(got) != 0 {
		t.Errorf("roles = %q, want none", got)
	}
}

func TestClaimsFromUserinfo(t *testing.T) {
	e := newEnv(t, nil)
	e.op.SetBehaviour(oidctestop.Behaviour{ClaimsOnlyInUserinfo: true})
	if resp := e.login("/"); resp.status != http.StatusSeeOther {
		t.Fatalf("status = %d, want 303 (body %q)", resp.status, resp.body)
	}
	if got, want := e.sessionUsers()[0].Username, "alice"; got != want {
		t.Errorf("username = %q, want %q (from userinfo)", got, want)
	}
}

func TestDiscoveryIsLazyAndRetried(t *testing.T) {
	e := newEnv(t, nil)
	e.op.SetBehaviour(oidctestop.Behaviour{DiscoveryDown: true})
	e.configure(e.providerConfig(), nil) // New must not fail while the provider is down
	start := e.srv.URL + "/auth/oidc/corp/start"
	e.assertRefused(e.get(start), http.StatusBadGateway, "provider_unavailable")

	e.op.SetBehaviour(oidctestop.Behaviour{})
	if got, want := e.get(start).status, http.StatusBadGateway; got != want {
		t.Errorf("right after a failure: status = %d, want %d (retry is rate-limited)", got, want)
	}
	e.clock.Advance(11 * time.Second)
	if got, want := e.get(start).status, http.StatusFound; got != want {
		t.Errorf("after the retry interval: status = %d, want %d", got, want)
	}
}

func TestProviderUnreachable(t *testing.T) {
	e := newEnv(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	e.configure(e.providerConfig(), func(p *oidc.Provider) { p.Issuer = "http://" + addr })
	e.assertRefused(e.get(e.srv.URL+"/auth/oidc/corp/start"), http.StatusBadGateway, "provider_unavailable")
}

func TestUnknownProvider(t *testing.T) {
	e := newEnv(t, nil)
	e.assertRefused(e.get(e.srv.URL+"/auth/oidc/nope/start"), http.StatusNotFound, "unknown_provider")
}

func TestStoreDownFailsClosed(t *testing.T) {
	e := newEnv(t, nil)
	cb := e.begin("corp", "/")
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	resp := e.get(cb.String())
	if got, want := resp.status, http.StatusServiceUnavailable; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	if got := len(e.sessionUsers()); got != 0 {
		t.Errorf("%d sessions started, want none", got)
	}
}

func TestProviders(t *testing.T) {
	e := newEnv(t, nil)
	second := e.providerConfig()
	second.Name, second.DisplayName = "github", ""
	e.configureProviders(e.providerConfig(), second)
	got := e.handler().Providers()
	want := []oidc.ProviderInfo{{Name: "corp", DisplayName: "Corp SSO"}, {Name: "github", DisplayName: "github"}}
	if !slices.Equal(got, want) {
		t.Errorf("Providers() = %+v, want %+v", got, want)
	}
}

func TestNewRejectsBadDeps(t *testing.T) {
	e := newEnv(t, nil)
	good := oidc.Deps{
		PublicURL: "http://127.0.0.1:8080", Users: e.userService, StateKey: e.key,
		StartSession: func(http.ResponseWriter, *http.Request, auth.User, string) (oidc.StartedSession, error) {
			return oidc.StartedSession{}, nil
		},
	}
	tests := []struct {
		name string
		edit func(*oidc.Deps)
	}{
		{"short state key", func(d *oidc.Deps) { d.StateKey = d.StateKey[:16] }},
		{"no users", func(d *oidc.Deps) { d.Users = nil }},
		{"no session starter", func(d *oidc.Deps) { d.StartSession = nil }},
		{"relative public URL", func(d *oidc.Deps) { d.PublicURL = "/x" }},
		{"duplicate provider", func(d *oidc.Deps) {
			d.Providers = []oidc.Provider{{Name: "a", Issuer: "http://x"}, {Name: "a", Issuer: "http://y"}}
		}},
	}
	if _, err := oidc.New(context.Background(), good); err != nil {
		t.Fatalf("valid deps refused: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := good
			tc.edit(&d)
			if _, err := oidc.New(context.Background(), d); err == nil {
				t.Error("New accepted invalid deps")
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"}, {"/a/b?c=d", "/a/b?c=d"}, {"//x", "/"}, {`/\x`, "/"}, {"http://x/", "/"},
		{"x", "/"}, {"/\tx", "/"},
		// At most 2048 bytes as the sealed cookies store it: "&", "<" and
		// ">" take six there (\u0026).
		{"/" + strings.Repeat("a", 2047), "/" + strings.Repeat("a", 2047)},
		{"/" + strings.Repeat("a", 2048), "/"},
		{"/?" + strings.Repeat("a=1&", 150), "/?" + strings.Repeat("a=1&", 150)},
		{"/?" + strings.Repeat("a&", 400), "/"},
	}
	for _, tc := range tests {
		if got := oidc.SafeNext(tc.in); got != tc.want {
			t.Errorf("SafeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestSafeNextOnServedHosts: an absolute next is accepted only on a host
// some gateway route serves, and every open-redirect spelling still fails.
func TestSafeNextOnServedHosts(t *testing.T) {
	served := func(h string) bool { return h == "app.example.com" || h == "app.example.com:8443" }
	tests := []struct{ in, want string }{
		{"/a?b=c", "/a?b=c"},
		{"https://app.example.com/orders?x=1", "https://app.example.com/orders?x=1"},
		{"http://app.example.com:8443/", "http://app.example.com:8443/"},
		{"https://evil.example/", "/"},
		{"//app.example.com/x", "/"},
		{"https://app.example.com@evil.example/", "/"},
		{"https://user@app.example.com/", "/"},
		{`https://app.example.com\@evil.example/`, "/"},
		{"https://evil.example#@app.example.com", "/"},
		{"https://app.example.com.evil.example/", "/"},
		{"javascript://app.example.com/%0aalert(1)", "/"},
		{"ftp://app.example.com/", "/"},
		{"https:app.example.com/", "/"},
		{"https:///app.example.com/", "/"},
		{"HTTPS://app.example.com/", "/"},
		{"https://app.example.com/	x", "/"},
	}
	for _, tc := range tests {
		if got := oidc.SafeNextOn(tc.in, served); got != tc.want {
			t.Errorf("SafeNextOn(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := oidc.SafeNextOn("https://app.example.com/", nil); got != "/" {
		t.Errorf("SafeNextOn with no served hosts = %q, want /", got)
	}
}

// --- helpers specific to these tests ---

func withEmail(u oidctestop.User, email string, verified bool) oidctestop.User {
	u.Email, u.EmailVerified = email, verified
	return u
}

func setParam(u *url.URL, key, value string) {
	q := u.Query()
	if value == "" {
		q.Del(key)
	} else {
		q.Set(key, value)
	}
	u.RawQuery = q.Encode()
}

func (e *env) providerConfig() oidc.Provider {
	return oidc.Provider{
		Name: "corp", DisplayName: "Corp SSO", Issuer: e.op.Issuer(),
		ClientID: e.op.ClientID(), ClientSecret: e.op.ClientSecret(),
		CreateUsers: true, DefaultRoles: []string{"user"},
	}
}

func (e *env) createLocalUser(name string, disabled bool) auth.User {
	e.t.Helper()
	now := time.Now()
	u := auth.User{ID: "local-" + name, Username: name, Roles: []string{"admin"}, Disabled: disabled, CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateUser(context.Background(), u); err != nil && !errors.Is(err, auth.ErrConflict) {
		e.t.Fatalf("create user %q: %v", name, err)
	}
	return u
}

// The audience knob re-signs the ID token; with the right audience that
// token must pass, so the audience cases above fail for the audience alone.
func TestReSignedIDTokenWithRightAudienceIsAccepted(t *testing.T) {
	e := newEnv(t, nil)
	e.op.SetBehaviour(oidctestop.Behaviour{IDTokenAudience: []string{e.op.ClientID()}})
	if resp := e.login("/"); resp.status != http.StatusSeeOther {
		t.Errorf("status = %d, want 303 (body %q)", resp.status, resp.body)
	}
}

// keysDown is a transport that fails every request for the provider's
// JWKS (its path ends in /keys) and passes the rest.
type keysDown struct{}

func (keysDown) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/keys") {
		return nil, errors.New("connection refused")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// An unreachable or misconfigured provider is logged as the provider's
// failure with its cause: the operator reading the log must not be sent
// to gatehouse's own store ("store unavailable"), which answered fine.
func TestProviderFailureLogNamesTheProvider(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(e *env)
		status int
		want   string // in the log line
	}{
		{"issuer with a trailing slash", func(e *env) {
			e.configure(e.providerConfig(), func(p *oidc.Provider) { p.Issuer += "/" })
		}, http.StatusBadGateway, "did not match the issuer URL returned by provider"},
		{"provider keys unreachable", func(e *env) {
			e.client = &http.Client{Transport: keysDown{}}
			e.configure(e.providerConfig(), nil)
		}, http.StatusBadGateway, "fetching keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			var logs strings.Builder
			e.logs = &logs
			tc.edit(e)
			resp := e.get(e.srv.URL + "/auth/oidc/corp/start")
			if resp.status == http.StatusFound {
				resp = e.login("/")
			}
			e.assertRefused(resp, tc.status, "provider_unavailable")
			line := logs.String()
			if !strings.Contains(line, tc.want) || !strings.Contains(line, "provider") {
				t.Errorf("log does not name the cause %q: %s", tc.want, line)
			}
			if strings.Contains(line, "store unavailable") {
				t.Errorf("log blames gatehouse's store for the provider: %s", line)
			}
		})
	}
}
