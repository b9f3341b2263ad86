package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// An unknown GATEHOUSE_* variable stops every config-reading command with
// exit 2 and a sentence naming the variable; known ones still work.
func TestUnknownEnvIsConfigError(t *testing.T) {
	c := newCLI(t, "")
	tests := []struct {
		name    string
		environ []string
		code    int
		stderr  string
	}{
		{"misspelt key", []string{"GATEHOUSE_TOKENS_ACESS_TTL=5m", "PATH=/usr/bin"}, 2, "environment: GATEHOUSE_TOKENS_ACESS_TTL: unknown variable"},
		{"known key and GATEHOUSE_CONFIG", []string{"GATEHOUSE_LOG_LEVEL=warn", "GATEHOUSE_CONFIG=" + c.cfg}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr := configCheckWith(t, c, tt.code, tt.environ...)
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.stderr)
			}
		})
	}
}

// A variable set to "" in the environment sets its key to "": the admin
// listener can be turned off from the environment, and a key that takes
// no empty value (a duration) is a configuration error naming the
// variable. A variable getenv answers (non-empty) wins, as in main, where
// both come from the same environment.
func TestEmptyEnvValueSetsTheKey(t *testing.T) {
	c := newCLI(t, "")
	tests := []struct {
		name    string
		environ []string
		code    int
		want    string
	}{
		{"admin listener off", []string{"GATEHOUSE_ADMIN_LISTEN="}, 0, "admin_listen: \"\"\n"},
		{"unset keeps the default", nil, 0, "admin_listen: 127.0.0.1:9090\n"},
		{"empty duration", []string{"GATEHOUSE_SESSIONS_IDLE_TIMEOUT="}, 2, "environment: GATEHOUSE_SESSIONS_IDLE_TIMEOUT: set but empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr := configCheckWith(t, c, tt.code, tt.environ...)
			if !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("output = %q, want it to contain %q", stdout+stderr, tt.want)
			}
		})
	}
}

// configCheckWith runs `config check` on c's file with environ as the
// environment (getenv answers nothing) and fails unless it exits with code.
func configCheckWith(t *testing.T, c *cli, code int, environ ...string) (stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"config", "check", "-c", c.cfg}, func(string) string { return "" },
		strings.NewReader(""), &out, &errb, environ...)
	if got := exitCode(err, &errb); got != code {
		t.Fatalf("exit = %d, want %d; stderr %s", got, code, errb.String())
	}
	return out.String(), errb.String()
}

// A list key from the environment written as a YAML flow sequence, as the
// file writes it, is the sequence's items in the effective config; a
// malformed one stops config check with exit 2 naming the variable.
func TestEnvFlowListInConfigCheck(t *testing.T) {
	c := newCLI(t, "")
	tests := []struct {
		name string
		raw  string
		code int
		want string
	}{
		{"flow sequence", "[api, web]", 0, "audience:\n        - api\n        - web\n"},
		{"comma-separated", "api,web", 0, "audience:\n        - api\n        - web\n"},
		{"malformed flow sequence", "[api, web", 2, "environment: GATEHOUSE_TOKENS_AUDIENCE: expected a YAML list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "GATEHOUSE_TOKENS_AUDIENCE" {
					return tt.raw
				}
				return ""
			}
			var out, errb bytes.Buffer
			err := run(context.Background(), []string{"config", "check", "-c", c.cfg}, getenv,
				strings.NewReader(""), &out, &errb, "GATEHOUSE_TOKENS_AUDIENCE="+tt.raw)
			if got := exitCode(err, &errb); got != tt.code {
				t.Fatalf("exit = %d, want %d; stderr %s", got, tt.code, errb.String())
			}
			if got := out.String() + errb.String(); !strings.Contains(got, tt.want) {
				t.Errorf("output = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}
