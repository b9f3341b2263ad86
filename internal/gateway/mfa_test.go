package gateway_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

func TestMFARoutes(t *testing.T) {
	up := newUpstream(t)
	admin := route("admin", "/admin/", "any", up.URL)
	admin.MFA = true
	open := route("open", "/open/", "any", up.URL)
	_, srv := serve(t, []config.Route{admin, open}, verifyDeps())
	html := []string{"Accept", "text/html"}
	const challenge = `Bearer realm="gatehouse", error="insufficient_user_authentication", error_description="a second factor is required"`
	tests := []struct {
		name     string
		path     string
		header   []string
		status   int
		location string
		hint     string
		amr      string // X-Auth-AMR the upstream or verify answer carries
	}{
		{"PasswordOnlyToken", "/admin/x", []string{"Authorization", "Bearer tok-alice"}, 401, "", "", ""},
		{"PasswordOnlyTokenFromBrowser", "/admin/x", join([]string{"Authorization", "Bearer tok-alice"}, html), 401, "", "", ""},
		{"PasswordOnlySessionAPI", "/admin/x", []string{"Cookie", cookieName + "=sess-alice"}, 401, "", "", ""},
		{"PasswordOnlySessionBrowserStepsUp", "/admin/x?a=1", join([]string{"Cookie", cookieName + "=sess-alice"}, html), 302, "/login/mfa?next=%2Fadmin%2Fx%3Fa%3D1", "", ""},
		{"SecondFactorToken", "/admin/x", []string{"Authorization", "Bearer tok-second"}, 200, "", "", "pwd,otp,mfa"},
		{"SecondFactorSession", "/admin/x", []string{"Cookie", cookieName + "=sess-second"}, 200, "", "", "pwd,otp,mfa"},
		{"PasswordlessPasskeySession", "/admin/x", []string{"Cookie", cookieName + "=sess-passkey"}, 200, "", "", "hwk,user"},
		{"PasswordlessPasskeyToken", "/admin/x", []string{"Authorization", "Bearer tok-passkey"}, 200, "", "", "hwk,user"},
		{"ForwardAuthStepUp", gateway.VerifyForwardPath, join(traefik("GET", "/admin/x"), []string{"Cookie", cookieName + "=sess-alice"}, html), 302, "https://auth.example/login/mfa?next=%2Fadmin%2Fx", "", ""},
		{"NginxStepUpHint", gateway.VerifyNginxPath, join(nginx("GET", "/admin/x"), []string{"Cookie", cookieName + "=sess-alice"}, html), 401, "", "https://auth.example/login/mfa?next=%2Fadmin%2Fx", ""},
		{"VerifyPasswordOnlyToken", gateway.VerifyForwardPath, join(traefik("GET", "/admin/x"), []string{"Authorization", "Bearer tok-alice"}), 401, "", "", ""},
		{"VerifySecondFactor", gateway.VerifyForwardPath, join(traefik("GET", "/admin/x"), []string{"Authorization", "Bearer tok-second"}), 200, "", "", "pwd,otp,mfa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.count()
			r := do(t, newRequest(t, "GET", srv.URL+tt.path, tt.header...))
			if r.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", r.StatusCode, tt.status, r.Body)
			}
			if got := r.Header.Get("Location"); got != tt.location {
				t.Errorf("Location = %q, want %q", got, tt.location)
			}
			if got := r.Header.Get("X-Auth-Redirect"); got != tt.hint {
				t.Errorf("X-Auth-Redirect = %q, want %q", got, tt.hint)
			}
			if tt.status == 401 {
				if got := r.Header.Get("WWW-Authenticate"); got != challenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, challenge)
				}
				if !strings.Contains(r.Body, `"insufficient_user_authentication"`) {
					t.Errorf("body = %q", r.Body)
				}
			}
			if tt.status != 200 {
				if up.count() != before {
					t.Fatal("a refused request reached the upstream")
				}
				return
			}
			got := r.Header.Get("X-Auth-AMR")
			if !strings.HasPrefix(tt.path, gateway.VerifyPath) {
				got = up.last(t).Header.Get("X-Auth-AMR")
			}
			if got != tt.amr {
				t.Errorf("X-Auth-AMR = %q, want %q", got, tt.amr)
			}
		})
	}
	t.Run("ClientAMRHeaderRemoved", func(t *testing.T) {
		r := do(t, newRequest(t, "GET", srv.URL+"/open/x", "Cookie", cookieName+"=sess-alice", "X-Auth-AMR", "pwd,otp,mfa"))
		if r.StatusCode != 200 {
			t.Fatalf("status = %d", r.StatusCode)
		}
		// Like every identity header it is set, empty here, so a client's
		// value never survives (and proxies overwrite rather than keep it).
		if got := up.last(t).Header.Values("X-Auth-AMR"); len(got) > 1 || strings.Join(got, "") != "" {
			t.Fatalf("upstream got client X-Auth-AMR %q", got)
		}
	})
}

func TestMFARouteNeedsAuth(t *testing.T) {
	r := route("x", "/x/", "none", "http://127.0.0.1:1")
	r.MFA = true
	_, err := gateway.New([]config.Route{r}, deps())
	if err == nil || !strings.Contains(err.Error(), "mfa") {
		t.Fatalf("mfa: true with auth: none = %v, want an error naming mfa", err)
	}
}
