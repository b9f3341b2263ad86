package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// The built-in client's ID, sent as client_id (as a Keycloak or Hydra user
// names every client, docs/admin.md calls it the client ID of gatehouse's
// own tokens), is the same as sending none: the password grant subject to
// tokens.password_grant, refresh and revocation of its tokens. It has no
// secret and is no registered client.
func TestBuiltinClientIDIsTheSameAsNone(t *testing.T) {
	g := grantsInstance(t)
	g.CreateUser(t, "alice", strongPassword)
	pw := func(extra url.Values) url.Values {
		f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	for _, tt := range []struct {
		name             string
		form             url.Values
		basicID, basicPw string
		status           int
		code             string
	}{
		{name: "password grant with client_id=gatehouse", form: pw(url.Values{"client_id": {"gatehouse"}}), status: http.StatusOK},
		{name: "password grant with Basic gatehouse and no secret", form: pw(nil), basicID: "gatehouse", status: http.StatusOK},
		{name: "a secret for the built-in client", form: pw(url.Values{"client_id": {"gatehouse"}, "client_secret": {"guess"}}),
			status: http.StatusUnauthorized, code: "invalid_client"},
		{name: "Basic with a secret for the built-in client", form: pw(nil), basicID: "gatehouse", basicPw: "guess",
			status: http.StatusUnauthorized, code: "invalid_client"},
		{name: "client_credentials as the built-in client", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"gatehouse"}},
			status: http.StatusUnauthorized, code: "invalid_client"},
		{name: "gatehouse-cli stays no client", form: pw(url.Values{"client_id": {"gatehouse-cli"}}),
			status: http.StatusUnauthorized, code: "invalid_client"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, m := tokenCall(t, g, tt.form, tt.basicID, tt.basicPw)
			if resp.StatusCode != tt.status || m["error"] != nil && m["error"] != tt.code {
				t.Fatalf("= %d %v, want %d %s", resp.StatusCode, m, tt.status, tt.code)
			}
			if tt.status != http.StatusOK {
				return
			}
			c := jwtPart(t, m["access_token"].(string), 1)
			if c["client_id"] != "gatehouse" || c["scope"] != "" || m["refresh_token"] == nil {
				t.Errorf("token = %v, response %v: want the built-in client's, as without client_id", c, m)
			}
		})
	}

	// Refresh and revocation: a token of the built-in client is the same
	// whichever way the request named it.
	issue := func(t *testing.T, clientID string) string {
		t.Helper()
		f := pw(nil)
		if clientID != "" {
			f.Set("client_id", clientID)
		}
		resp, m := tokenCall(t, g, f, "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("password grant (client_id %q) = %d %v", clientID, resp.StatusCode, m)
		}
		return m["refresh_token"].(string)
	}
	for _, tt := range []struct{ issuedWith, refreshedWith string }{
		{"", "gatehouse"},
		{"gatehouse", ""},
		{"gatehouse", "gatehouse"},
	} {
		t.Run("refresh issued with "+tt.issuedWith+" refreshed with "+tt.refreshedWith, func(t *testing.T) {
			f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {issue(t, tt.issuedWith)}}
			if tt.refreshedWith != "" {
				f.Set("client_id", tt.refreshedWith)
			}
			if resp, m := tokenCall(t, g, f, "", ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("refresh = %d %v, want 200", resp.StatusCode, m)
			}
		})
	}
	t.Run("revoke with client_id=gatehouse", func(t *testing.T) {
		rt := issue(t, "")
		resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/revoke",
			url.Values{"token": {rt}, "client_id": {"gatehouse"}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke = %d %s", resp.StatusCode, body)
		}
		if status, m := refresh(t, g, rt); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("refresh after revoke = %d %v, want 400 invalid_grant", status, m)
		}
	})
	t.Run("a registered client's refresh token is not the built-in client's", func(t *testing.T) {
		resp, m := tokenCall(t, g, pw(nil), "script", scriptSec)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("password grant of script = %d %v", resp.StatusCode, m)
		}
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}, "client_id": {"gatehouse"}}
		if resp, m := tokenCall(t, g, f, "", ""); resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("refresh of script's token as gatehouse = %d %v, want 400 invalid_grant", resp.StatusCode, m)
		}
	})
}

// tokens.password_grant: false switches the built-in client's password
// grant off however it is named.
func TestBuiltinClientIDPasswordGrantCanBeDisabled(t *testing.T) {
	g := grantsInstance(t, func(c *config.Config) { c.Tokens.PasswordGrant = false })
	g.CreateUser(t, "alice", strongPassword)
	for _, id := range []string{"", "gatehouse"} {
		t.Run("client_id="+id, func(t *testing.T) {
			f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}}
			if id != "" {
				f.Set("client_id", id)
			}
			resp, m := tokenCall(t, g, f, "", "")
			if resp.StatusCode != http.StatusBadRequest || m["error"] != "unsupported_grant_type" {
				t.Fatalf("= %d %v, want 400 unsupported_grant_type", resp.StatusCode, m)
			}
		})
	}
}
