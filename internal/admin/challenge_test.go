package admin_test

import (
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestUnauthorizedChallengeNamesARefusedToken: the admin API's 401 carries
// the RFC 6750 §3 challenge as the gateway's does (contract §5): the plain
// `Bearer realm="gatehouse"` without a credential (or with another scheme,
// or a cookie), and error="invalid_token" added when a bearer token was
// sent and refused, so that an OAuth client library knows to get a new
// one rather than to ask the user to sign in.
func TestUnauthorizedChallengeNamesARefusedToken(t *testing.T) {
	e := start(t)
	expired := e.mfaToken(t, "root")
	e.clock.Advance(e.Config.Tokens.AccessTTL.D() + e.Config.Tokens.Leeway.D() + time.Minute)
	const plain, invalid = `Bearer realm="gatehouse"`, `Bearer realm="gatehouse", error="invalid_token"`
	for _, tc := range []struct {
		name   string
		header []string
		want   string
	}{
		{"no credential", nil, plain},
		{"unknown session", e.cookie("AAAA"), plain},
		{"Basic scheme", []string{"Authorization", "Basic cm9vdDpwdw=="}, plain},
		{"garbage token", bearer("x.y.z"), invalid},
		{"malformed bearer", bearer("not a token"), invalid},
		{"expired admin token", bearer(expired), invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.doWith(t, testutil.Client(t), "GET", "/admin/api/v1/users", "", tc.header...)
			if resp.StatusCode != 401 {
				t.Fatalf("status = %d %s, want 401", resp.StatusCode, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tc.want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.want)
			}
		})
	}
}
