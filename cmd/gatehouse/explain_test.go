package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestExplainCommand: `gatehouse explain` prints the gateway's decision
// (the JSON of POST /admin/api/v1/explain) for each denial class, and that
// a CORS preflight passes a skip_auth_preflight route.
func TestExplainCommand(t *testing.T) {
	c := newCLI(t, `routes:
  - name: ops
    match: { path_prefix: /ops/ }
    upstream: http://127.0.0.1:9
    auth: token
    roles: [ops]
  - name: api
    match: { path_prefix: /api/, methods: [GET] }
    upstream: http://127.0.0.1:9
    auth: token
    skip_auth_preflight: true
`)
	c.ok(pw, "user", "add", "alice", "--role", "user", "--password-stdin")
	tok := strings.TrimSpace(c.ok("", "token", "issue", "--user", "alice"))
	tests := []struct {
		name   string
		args   []string
		status int
		reason string
		check  string // a check the output must list ("" none)
	}{
		{"no credential", []string{"--url", "/ops/x"}, 401, "no_credentials", ""},
		{"garbage token", []string{"--url", "/ops/x", "--token", "a.b.c"}, 401, "invalid_token", ""},
		{"wrong role", []string{"--url", "/ops/x", "--token", tok}, 403, "wrong_role", ""},
		{"no route", []string{"--method", "POST", "--url", "/elsewhere"}, 404, "no_route", ""},
		{"refused path", []string{"--url", "/ops/%2e%2e/x"}, 400, "bad_path", ""},
		{"CORS preflight passes", []string{"--method", "OPTIONS", "--url", "/api/x",
			"--header", "Origin: https://app.example.com", "--header", "Access-Control-Request-Method: GET"}, 200, "", `"name": "preflight"`},
		{"OPTIONS that is not a preflight", []string{"--method", "OPTIONS", "--url", "/api/x",
			"--header", "Origin: https://app.example.com"}, 404, "no_route", ""},
		{"GET with the preflight headers", []string{"--url", "/api/x",
			"--header", "Origin: https://app.example.com", "--header", "Access-Control-Request-Method: GET"}, 401, "no_credentials", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := c.ok("", append([]string{"explain"}, tt.args...)...)
			var e struct {
				Status int    `json:"status"`
				Reason string `json:"reason"`
			}
			if err := json.Unmarshal([]byte(out), &e); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if e.Status != tt.status || e.Reason != tt.reason {
				t.Errorf("explain = %d %q, want %d %q\n%s", e.Status, e.Reason, tt.status, tt.reason, out)
			}
			if tt.check != "" && !strings.Contains(out, tt.check) {
				t.Errorf("explain lacks the check %s\n%s", tt.check, out)
			}
			if strings.Contains(out, tok) {
				t.Error("explain printed the token")
			}
		})
	}
	if code, _, _ := c.run("", "explain", "--url", "/x", "--cookie", "a", "--token", "b"); code != 2 {
		t.Errorf("--cookie with --token exit = %d, want 2", code)
	}
}

// TestExplainHeaderErrorHidesValue: a --header without ':' is refused
// (exit 2) without repeating it: "Authorization Bearer <token>" with the
// colon forgotten holds a credential, and the message lands in a terminal's
// scrollback or a CI log.
func TestExplainHeaderErrorHidesValue(t *testing.T) {
	c := newCLI(t, "")
	const secret = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl"
	for _, h := range []string{"Authorization Bearer " + secret, "Cookie gatehouse_session=" + secret, secret} {
		code, out, errOut := c.run("", "explain", "--url", "/x", "--header", h)
		if code != 2 {
			t.Errorf("--header %.13q…: exit %d, want 2\n%s", h, code, errOut)
		}
		if strings.Contains(out+errOut, secret) {
			t.Errorf("--header %.13q…: the output repeats the header's value:\n%s%s", h, out, errOut)
		}
		if !strings.Contains(errOut, "--header") {
			t.Errorf("--header %.13q…: the error does not name the flag:\n%s", h, errOut)
		}
	}
}
