package admin_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestRepeatedMembersAreRefused: every admin endpoint that takes a JSON
// body refuses one that names a member twice, in any object of it,
// exactly or in names encoding/json matches without regard to case
// ({"roles":["user"],"Roles":["admin"]}, which encoding/json reads as the
// last, where a proxy or WAF in front may have read the first): 400
// invalid_request naming the member, and nothing changes. Unknown members
// are refused as before. The requests are an attacker's, so they go
// through a client that does not validate them against openapi.json.
func TestRepeatedMembersAreRefused(t *testing.T) {
	e := start(t)
	admin := bearer(e.rootToken)
	get := func(t *testing.T, path string) (int, string) {
		t.Helper()
		resp, body := e.do(t, "GET", path, "", admin...)
		return resp.StatusCode, body
	}
	noUser := func(names ...string) func(t *testing.T) {
		return func(t *testing.T) {
			t.Helper()
			for _, n := range names {
				if status, body := get(t, "/admin/api/v1/users/"+n); status != 404 {
					t.Errorf("user %s = %d %s, want 404: the refused request created it", n, status, body)
				}
			}
		}
	}
	aliceRolesKept := func(t *testing.T) {
		t.Helper()
		_, body := get(t, "/admin/api/v1/users/alice")
		var u struct{ Roles []string }
		if err := json.Unmarshal([]byte(body), &u); err != nil || !slices.Equal(u.Roles, []string{"user"}) {
			t.Errorf("alice = %s, want her roles still [user]", body)
		}
	}
	alicePasswordKept := func(t *testing.T) {
		t.Helper()
		e.token(t, "alice") // fails the test unless the old password still signs in
	}
	noClient := func(id string) func(t *testing.T) {
		return func(t *testing.T) {
			t.Helper()
			if status, body := get(t, "/admin/api/v1/clients/"+id); status != 404 {
				t.Errorf("client %s = %d %s, want 404: the refused request created it", id, status, body)
			}
		}
	}
	const client = `"type":"public","redirect_uris":["https://dup.example/cb"],"grant_types":["authorization_code"]`
	newUser := `"username":"eve","password":"` + pw + `"`
	tests := []struct {
		name, method, path, body string
		status                   int
		description              []string // substrings of error_description
		unchanged                func(t *testing.T)
	}{
		{"create user, roles twice", "POST", "/admin/api/v1/users", `{` + newUser + `,"roles":["user"],"roles":["admin"]}`,
			400, []string{`member "roles" is repeated`}, noUser("eve")},
		{"create user, Roles after roles", "POST", "/admin/api/v1/users", `{` + newUser + `,"roles":["user"],"Roles":["admin"]}`,
			400, []string{`member "Roles" is repeated`}, noUser("eve")},
		{"create user, long s folds to s", "POST", "/admin/api/v1/users", `{` + newUser + `,"roles":["user"],"role\u017f":["admin"]}`,
			400, []string{"member \"role\u017f\" is repeated"}, noUser("eve")},
		{"create user, USERNAME after username", "POST", "/admin/api/v1/users", `{` + newUser + `,"USERNAME":"mallory"}`,
			400, []string{`member "USERNAME" is repeated`}, noUser("eve", "mallory")},
		{"create user, unknown member", "POST", "/admin/api/v1/users", `{` + newUser + `,"admin":true}`,
			400, []string{`unknown member "admin"`}, noUser("eve")},
		{"set roles, Roles after roles", "PUT", "/admin/api/v1/users/alice/roles", `{"roles":["user"],"Roles":["admin"]}`,
			400, []string{`member "Roles" is repeated`}, aliceRolesKept},
		{"set roles, roles twice", "PUT", "/admin/api/v1/users/alice/roles", `{"roles":["user"],"roles":["admin"]}`,
			400, []string{`member "roles" is repeated`}, aliceRolesKept},
		{"set roles, unknown member", "PUT", "/admin/api/v1/users/alice/roles", `{"roles":["admin"],"role":["user"]}`,
			400, []string{`unknown member "role"`}, aliceRolesKept},
		{"set password, PASSWORD after password", "PUT", "/admin/api/v1/users/alice/password",
			`{"password":"another horse battery staple","PASSWORD":"a third horse battery staple"}`,
			400, []string{`member "PASSWORD" is repeated`}, alicePasswordKept},
		{"set password, password twice", "PUT", "/admin/api/v1/users/alice/password",
			`{"password":"another horse battery staple","password":"a third horse battery staple"}`,
			400, []string{`member "password" is repeated`}, alicePasswordKept},
		{"set password, unknown member", "PUT", "/admin/api/v1/users/alice/password", `{"password":"another horse battery staple","old":""}`,
			400, []string{`unknown member "old"`}, alicePasswordKept},
		{"create client, FIRST_PARTY after first_party", "POST", "/admin/api/v1/clients",
			`{"client_id":"dup",` + client + `,"first_party":false,"FIRST_PARTY":true}`,
			400, []string{`member "FIRST_PARTY" is repeated`}, noClient("dup")},
		{"create client, client_id twice", "POST", "/admin/api/v1/clients", `{"client_id":"dup","client_id":"dup2",` + client + `}`,
			400, []string{`member "client_id" is repeated`}, func(t *testing.T) { noClient("dup")(t); noClient("dup2")(t) }},
		{"create client, unknown member", "POST", "/admin/api/v1/clients", `{"client_id":"dup",` + client + `,"secret":"x"}`,
			400, []string{`unknown member "secret"`}, noClient("dup")},
		{"explain, URL after url", "POST", "/admin/api/v1/explain", `{"url":"/x","URL":"/y"}`,
			400, []string{`member "URL" is repeated`}, nil},
		{"explain, a header twice", "POST", "/admin/api/v1/explain",
			`{"url":"/x","headers":{"Authorization":"Bearer a","Authorization":"Bearer b"}}`,
			400, []string{`member "Authorization" of "/headers" is repeated`}, nil},
		{"explain, a header twice in other case", "POST", "/admin/api/v1/explain", `{"url":"/x","headers":{"Cookie":"a=1","cookie":"a=2"}}`,
			400, []string{`member "cookie" of "/headers" is repeated`}, nil},
		{"explain, distinct headers", "POST", "/admin/api/v1/explain", `{"url":"/x","headers":{"Cookie":"a=1","Origin":"https://x.example"}}`,
			200, nil, nil},
		{"explain, unknown member", "POST", "/admin/api/v1/explain", `{"url":"/x","header":{}}`,
			400, []string{`unknown member "header"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.doWith(t, testutil.Client(t), tt.method, tt.path, tt.body,
				append([]string{"Content-Type", "application/json"}, admin...)...)
			if resp.StatusCode != tt.status {
				t.Fatalf("= %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if tt.status == 400 {
				var got struct {
					Error       string `json:"error"`
					Description string `json:"error_description"`
				}
				if err := json.Unmarshal([]byte(body), &got); err != nil || got.Error != "invalid_request" {
					t.Errorf("body = %s, want {\"error\":\"invalid_request\",…}", body)
				}
				for _, d := range tt.description {
					if !strings.Contains(got.Description, d) {
						t.Errorf("error_description = %q, want it to contain %q", got.Description, d)
					}
				}
			}
			if tt.unchanged != nil {
				tt.unchanged(t)
			}
		})
	}
}
