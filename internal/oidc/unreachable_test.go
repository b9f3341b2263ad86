package oidc_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
)

// A token (or userinfo) endpoint that cannot be reached (the connection
// refused, no answer in time) is said to be so on the page, "cannot be
// reached", not "gave an unusable answer", which is for an answer that
// came and could not be used (a 5xx, no JSON). The reason stays
// token_exchange_failed (userinfo_failed).
func TestProviderEndpointUnreachableIsSaidSo(t *testing.T) {
	errorStatus := func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}
	notJSON := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("<html>maintenance</html>"))
	}
	userinfo := oidctestop.Behaviour{ClaimsOnlyInUserinfo: true}
	tests := []struct {
		name     string
		endpoint string
		behave   oidctestop.Behaviour
		handler  http.HandlerFunc
		closed   bool // the endpoint's server is closed: connection refused
		reason   string
		want     string // on the page
	}{
		{"token: connection refused", tokenPath, oidctestop.Behaviour{}, nil, true, "token_exchange_failed", "cannot be reached"},
		{"token: no answer in time", tokenPath, oidctestop.Behaviour{}, hangingResponse, false, "token_exchange_failed", "cannot be reached"},
		{"token: error status", tokenPath, oidctestop.Behaviour{}, errorStatus, false, "token_exchange_failed", "unusable answer"},
		{"token: not JSON", tokenPath, oidctestop.Behaviour{}, notJSON, false, "token_exchange_failed", "unusable answer"},
		{"userinfo: connection refused", userinfoPath, userinfo, nil, true, "userinfo_failed", "cannot be reached"},
		{"userinfo: error status", userinfoPath, userinfo, errorStatus, false, "userinfo_failed", "unusable answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			h := tc.handler
			if h == nil {
				h = func(http.ResponseWriter, *http.Request) {}
			}
			he := startHostileEndpoint(t, tc.endpoint, h)
			if tc.closed {
				he.srv.Close()
			}
			e.useHostileEndpoint(he, 500*time.Millisecond, nil)
			e.op.SetBehaviour(tc.behave)
			resp := e.attemptLogin()
			e.assertRefused(resp, http.StatusBadGateway, tc.reason)
			if !strings.Contains(resp.body, tc.want) {
				t.Errorf("the page does not say %q:\n%s", tc.want, resp.body)
			}
		})
	}
}
