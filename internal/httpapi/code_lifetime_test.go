package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestAuthorizationCodeLivesSixtySeconds: contract §8's codes are ≥ 128
// random bits and live 60 s. At the token endpoint a code is exchanged a
// second before its end and refused at its end with the one invalid_grant
// description of every refused code, and the refused code stays spent.
func TestAuthorizationCodeLivesSixtySeconds(t *testing.T) {
	clock := testutil.NewClock()
	g := startApps(t, testutil.WithClock(clock))
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()

	live := codeFor(t, g, b, "other", webCB, v, "openid")
	if raw, err := base64.RawURLEncoding.DecodeString(live); err != nil || len(raw) < 16 {
		t.Fatalf("code %q: %d bytes (%v), want base64url of at least 128 bits", live, len(raw), err)
	}
	clock.Advance(59 * time.Second)
	if resp, m := tokenCall(t, g, exchangeForm(live, v, webCB), "other", otherSec); resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange at 59 s = %d %v, want 200", resp.StatusCode, m)
	}

	stale := codeFor(t, g, b, "other", webCB, v, "openid")
	clock.Advance(60 * time.Second)
	for _, when := range []string{"at 60 s", "again"} {
		resp, m := tokenCall(t, g, exchangeForm(stale, v, webCB), "other", otherSec)
		if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_grant" ||
			m["error_description"] != "the authorization code is invalid, expired, used or revoked" {
			t.Errorf("exchange %s = %d %v, want 400 invalid_grant", when, resp.StatusCode, m)
		}
	}
}
