package oidc_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
)

// Deps.SecondStep runs before the session: a user who must pass a second
// factor gets the hook's answer (its cookie, a 303 to its URL) and no
// session; a hook that cannot tell fails closed (503, no session).
func TestCallbackSecondStep(t *testing.T) {
	tests := []struct {
		name         string
		step         string
		err          error
		wantStatus   int
		wantLocation string
		wantSession  bool
	}{
		{"NoSecondFactor", "", nil, http.StatusSeeOther, "/app/x", true},
		{"SecondFactor", "/login/mfa?next=%2Fapp%2Fx", nil, http.StatusSeeOther, "/login/mfa?next=%2Fapp%2Fx", false},
		{"StoreDown", "", fmt.Errorf("factors: %w", auth.ErrUnavailable), http.StatusServiceUnavailable, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			var gotMethod, gotNext string
			var gotPS oidc.ProviderSession
			e.secondStep = func(w http.ResponseWriter, r *http.Request, u auth.User, method string, ps oidc.ProviderSession, next string) (string, error) {
				gotMethod, gotNext, gotPS = method, next, ps
				if tt.step != "" {
					http.SetCookie(w, &http.Cookie{Name: "gatehouse_mfa", Value: "pending-" + u.ID, Path: "/"})
				}
				return tt.step, tt.err
			}
			e.configure(e.providerConfig(), func(p *oidc.Provider) { p.BackchannelLogout = true })
			resp := e.login("/app/x")
			if resp.status != tt.wantStatus || resp.location != tt.wantLocation {
				t.Fatalf("callback = %d %q, want %d %q (%s)", resp.status, resp.location, tt.wantStatus, tt.wantLocation, resp.body)
			}
			if gotMethod != "oidc:corp" || gotNext != "/app/x" {
				t.Errorf("SecondStep got method %q next %q, want oidc:corp /app/x", gotMethod, gotNext)
			}
			// The provider session travels to the second step, which links it
			// (inbound back-channel logout; a provider without it gets its
			// name only, TestOIDCSecondStepPendingCookieFits in httpapi).
			if want := (oidc.ProviderSession{Provider: "corp", SID: e.op.SessionID(), Subject: alice.Subject}); gotPS != want {
				t.Errorf("SecondStep got provider session %+v, want %+v", gotPS, want)
			}
			if got := len(e.sessionUsers()) == 1; got != tt.wantSession {
				t.Errorf("session started = %v, want %v", got, tt.wantSession)
			}
			if tt.step != "" {
				evs := e.events(audit.LoginOK)
				if len(evs) == 0 || evs[0].Details["second_factor"] != "required" {
					t.Errorf("login.ok events = %v, want one with second_factor=required", evs)
				}
			}
		})
	}
}
