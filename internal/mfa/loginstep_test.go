package mfa_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
)

// LoginStep is the one rule every login (password, OIDC, password grant)
// asks after its first factor.
func TestLoginStep(t *testing.T) {
	tests := []struct {
		name     string
		roles    []string
		require  []string
		totp     bool
		recovery bool
		want     mfa.Step
	}{
		{"NoFactor", []string{"user"}, nil, false, false, mfa.Step{}},
		{"NoFactorRoleNotRequired", []string{"user"}, []string{"admin"}, false, false, mfa.Step{}},
		{"NoFactorRequiredRole", []string{"user", "admin"}, []string{"admin"}, false, false, mfa.Step{Required: true, Enrol: true}},
		{"TOTP", []string{"user"}, nil, true, false, mfa.Step{Required: true, Methods: []string{"totp"}}},
		{"TOTPAndRecovery", []string{"admin"}, []string{"admin"}, true, true, mfa.Step{Required: true, Methods: []string{"totp", "recovery"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			s := f.service(t)
			if tt.totp {
				enrolled(t, f, s)
			}
			if tt.recovery {
				if _, err := s.NewRecoveryCodes(context.Background(), f.user.ID); err != nil {
					t.Fatal(err)
				}
			}
			u := f.user
			u.Roles = tt.roles
			got, err := s.LoginStep(context.Background(), u, tt.require)
			if err != nil {
				t.Fatalf("LoginStep: %v", err)
			}
			if got.Required != tt.want.Required || got.Enrol != tt.want.Enrol || !slices.Equal(got.Methods, tt.want.Methods) {
				t.Fatalf("LoginStep = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The pending cookie of an OIDC login carries the provider's session
// method and the amr so far; the password path's Set leaves the method
// empty (a password login).
func TestPendingCarriesFirstFactor(t *testing.T) {
	f := newFixture(t)
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	codec, err := mfa.NewPendingCodec(key, false, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		set        func(w http.ResponseWriter) error
		wantMethod string
		wantAMR    []string
	}{
		{"OIDC", func(w http.ResponseWriter) error {
			return codec.Start(w, f.user, mfa.Pending{AMR: []string{mfa.AMRExternal}, Next: "/app/", Method: "oidc:corp"})
		}, "oidc:corp", []string{"ext"}},
		{"Password", func(w http.ResponseWriter) error { return codec.Set(w, f.user, []string{"pwd"}, "/app/", false) }, "", []string{"pwd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := tt.set(rec); err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("POST", "/auth/login/mfa", nil)
			for _, c := range rec.Result().Cookies() {
				if strings.HasPrefix(req.URL.Path, c.Path) { // as a browser sends them
					req.AddCookie(c)
				}
			}
			p, err := codec.FromRequest(req)
			if err != nil {
				t.Fatalf("FromRequest: %v", err)
			}
			if p.Method != tt.wantMethod || !slices.Equal(p.AMR, tt.wantAMR) || p.Next != "/app/" || !p.Bound(f.user) {
				t.Fatalf("pending = %+v, want method %q amr %v next /app/ bound to the user", p, tt.wantMethod, tt.wantAMR)
			}
		})
	}
}

// A pending login belongs to its user as the first factor read it: a
// password change, or any revocation counted since (a sign-out everywhere,
// a disable), unbinds it, and it never binds another user.
func TestPendingBound(t *testing.T) {
	u := auth.User{ID: "u1", Username: "alice", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", Revocations: 2}
	p := mfa.Pending{UserID: u.ID, Bind: mfa.BindOf(u)}
	tests := []struct {
		name   string
		change func(u *auth.User)
		want   bool
	}{
		{"Unchanged", func(*auth.User) {}, true},
		{"RolesChanged", func(u *auth.User) { u.Roles = []string{"admin"} }, true},
		{"PasswordChanged", func(u *auth.User) { u.PasswordHash += "x" }, false},
		{"RevocationCounted", func(u *auth.User) { u.Revocations++ }, false},
		{"AnotherUser", func(u *auth.User) { u.ID = "u2" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := u
			tt.change(&now)
			if got := p.Bound(now); got != tt.want {
				t.Fatalf("Bound = %v, want %v", got, tt.want)
			}
		})
	}
}
