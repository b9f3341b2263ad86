package oidc_test

import (
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/oidc"
)

// TestCallbackBoundsSubject: an ID token's sub longer than OIDC Core's 255
// characters (or with a control character) is refused with 502
// subject_invalid before gatehouse stores anything — on PostgreSQL such a
// sub used to fail the identity's index insert and show 503
// store_unavailable — while a 255-character sub still signs in.
func TestCallbackBoundsSubject(t *testing.T) {
	tests := []struct {
		name    string
		subject string
		ok      bool
	}{
		{"3000 characters", random(3000), false},
		{"256 characters", strings.Repeat("s", 256), false},
		{"NUL inside", "a1b2\x00c3", false},
		{"newline inside", "a1b2\nc3", false},
		{"255 characters", strings.Repeat("s", 255), true},
		{"Entra-style", "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", true},
		{"Auth0-style", "google-oauth2|104518236283047561324", true},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					e := newEnvOn(t, be.open(t), nil)
					u := alice
					u.Subject = tc.subject
					e.op.SetUser(u)
					resp := e.login("/")
					if tc.ok {
						if resp.status != http.StatusSeeOther {
							t.Fatalf("status = %d, want 303 (body %q)", resp.status, resp.body)
						}
						return
					}
					e.assertRefused(resp, http.StatusBadGateway, "subject_invalid")
					if got := e.users(); len(got) != 0 {
						t.Errorf("users created = %+v, want none", got)
					}
				})
			}
		})
	}
}

// TestCallbackBoundsSessionID: with back-channel logout the ID token's sid
// is stored and indexed, so one longer than 255 bytes is refused with 502
// session_id_invalid (on PostgreSQL it used to be 503 store_unavailable);
// a provider without back-channel logout never uses sid, and its login
// goes through whatever sid it sends.
func TestCallbackBoundsSessionID(t *testing.T) {
	long := random(3000)
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Run("back-channel logout", func(t *testing.T) {
				e := newEnvOn(t, be.open(t), withBackchannel)
				e.op.SetSessionID(long)
				e.assertRefused(e.login("/"), http.StatusBadGateway, "session_id_invalid")
				e.op.SetSessionID(strings.Repeat("i", 255))
				if resp := e.login("/"); resp.status != http.StatusSeeOther {
					t.Fatalf("sid of 255: status = %d, want 303 (body %q)", resp.status, resp.body)
				}
			})
			t.Run("no back-channel logout", func(t *testing.T) {
				e := newEnvOn(t, be.open(t), func(p *oidc.Provider) { p.BackchannelLogout = false })
				e.op.SetSessionID(long)
				if resp := e.login("/"); resp.status != http.StatusSeeOther {
					t.Fatalf("status = %d, want 303 (body %q)", resp.status, resp.body)
				}
			})
		})
	}
}

// random is n random characters (base32): incompressible, so that
// PostgreSQL cannot shrink an index entry below its size limit.
func random(n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(rand.Text())
	}
	return b.String()[:n]
}

// TestOAuth2BoundsSubject: a plain OAuth 2.0 provider's subject claim gets
// the same bound (it is stored in the same indexed column).
func TestOAuth2BoundsSubject(t *testing.T) {
	e := newEnvOn(t, backends[1].open(t), nil)
	g := e.useGitHub(t, nil)
	g.setUser(map[string]any{"id": random(3000), "login": "octocat"})
	e.assertRefused(e.get(e.begin("github", "/").String()), http.StatusBadGateway, "subject_invalid")
	if got := e.users(); len(got) != 0 {
		t.Errorf("users created = %+v, want none", got)
	}
}
