package oidc_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
)

// The log line of a failed login, or of a refused or failed back-channel
// logout, names the request (request_id), as its audit event does: the
// operator finds the one from the other.
func TestFailureLogLinesCarryTheRequestID(t *testing.T) {
	tests := []struct {
		name, method, path, line string
		form                     url.Values
	}{
		{"unknown provider", "GET", "/auth/oidc/nope/start", "oidc login failed", nil},
		{"callback without state", "GET", "/auth/oidc/corp/callback?code=x", "oidc login failed", nil},
		{"garbage logout token", "POST", "/auth/oidc/corp/backchannel-logout", "back-channel logout refused", url.Values{"logout_token": {"not.a.jwt"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withBackchannel)
			var logs strings.Builder
			e.logs = &logs
			e.configure(e.providerConfig(), withBackchannel)
			const id = "req-7f3a9c"
			var body io.Reader
			if tc.form != nil {
				body = strings.NewReader(tc.form.Encode())
			}
			req, err := http.NewRequest(tc.method, e.srv.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.form != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			req.Header.Set(testRequestID, id)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()

			var line string
			for l := range strings.SplitSeq(logs.String(), "\n") {
				if strings.Contains(l, `msg="`+tc.line+`"`) {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("no %q log line in:\n%s", tc.line, logs.String())
			}
			if !strings.Contains(line, " request_id="+id) {
				t.Errorf("log line has no request_id=%s: %s", id, line)
			}
			if evs := e.events(audit.OIDCLoginFailed); len(evs) == 0 || evs[0].RequestID != id {
				t.Errorf("audit events %v, want the newest with request ID %s", evs, id)
			}
		})
	}
}
