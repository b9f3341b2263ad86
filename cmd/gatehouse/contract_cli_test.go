package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// runIn runs gatehouse with args in dir (no -c added) and getenv answering
// from env; it returns exit code, stdout and stderr.
func runIn(t *testing.T, dir string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	return exitCode(err, &errb), out.String(), errb.String()
}

// TestConfigFileResolution: every command reads its config from -c, else
// GATEHOUSE_CONFIG, else ./gatehouse.yaml, else defaults alone (contract
// §1). A file named by -c or GATEHOUSE_CONFIG that does not exist is a
// configuration error (exit 2) naming the file, never a silent fall back
// to the defaults; an absent ./gatehouse.yaml is not an error.
func TestConfigFileResolution(t *testing.T) {
	dir := t.TempDir()
	write := func(name, listen string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("listen: "+listen+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flagFile := write("flag.yaml", "127.0.0.1:21011")
	envFile := write("env.yaml", "127.0.0.1:21012")
	missing := filepath.Join(dir, "missing.yaml")

	empty := t.TempDir() // no ./gatehouse.yaml
	withDefault := t.TempDir()
	if err := os.WriteFile(filepath.Join(withDefault, "gatehouse.yaml"), []byte("listen: 127.0.0.1:21013\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		cwd    string
		env    map[string]string
		args   []string
		code   int
		output string // in stdout (exit 0) or stderr
	}{
		{"no file anywhere: defaults", empty, nil, nil, 0, "listen: 127.0.0.1:8080\n"},
		{"./gatehouse.yaml", withDefault, nil, nil, 0, "listen: 127.0.0.1:21013\n"},
		{"GATEHOUSE_CONFIG over ./gatehouse.yaml", withDefault, map[string]string{"GATEHOUSE_CONFIG": envFile}, nil, 0, "listen: 127.0.0.1:21012\n"},
		{"-c over GATEHOUSE_CONFIG", withDefault, map[string]string{"GATEHOUSE_CONFIG": envFile}, []string{"-c", flagFile}, 0, "listen: 127.0.0.1:21011\n"},
		{"--config long form", empty, nil, []string{"--config", flagFile}, 0, "listen: 127.0.0.1:21011\n"},
		{"-c names a missing file", withDefault, nil, []string{"-c", missing}, 2, missing + ": config file not found"},
		{"GATEHOUSE_CONFIG names a missing file", withDefault, map[string]string{"GATEHOUSE_CONFIG": missing}, nil, 2, missing + ": config file not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runIn(t, tt.cwd, tt.env, append([]string{"config", "check"}, tt.args...)...)
			got := out
			if tt.code != 0 {
				got = errOut
			}
			if code != tt.code || !strings.Contains(got, tt.output) {
				t.Errorf("exit %d (want %d)\nstdout %s\nstderr %s\nwant %q", code, tt.code, out, errOut, tt.output)
			}
		})
	}
	// The store-reading commands resolve the file the same way: migrate
	// with GATEHOUSE_CONFIG creates the database that file names.
	db := filepath.Join(dir, "from-env.db")
	storeFile := filepath.Join(dir, "store.yaml")
	if err := os.WriteFile(storeFile, []byte("store: sqlite://"+db+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runIn(t, empty, map[string]string{"GATEHOUSE_CONFIG": storeFile}, "migrate"); code != 0 {
		t.Fatalf("migrate with GATEHOUSE_CONFIG: exit %d %s %s", code, out, errOut)
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("migrate did not use the store of GATEHOUSE_CONFIG's file: %v", err)
	}
}

// TestConfigDefaultsAreTheContracts: with no file and no environment,
// `config check` prints (and serve uses) exactly the defaults of the
// contract's §2 block: every key has a working default.
func TestConfigDefaultsAreTheContracts(t *testing.T) {
	code, out, errOut := runIn(t, t.TempDir(), nil, "config", "check")
	if code != 0 {
		t.Fatalf("config check: exit %d %s", code, errOut)
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("config check output is not YAML: %v\n%s", err, out)
	}
	get := func(path string) any {
		var v any = m
		for _, k := range strings.Split(path, ".") {
			mm, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = mm[k]
		}
		return v
	}
	// Durations print in Go's form (30m0s for the contract's 30m).
	want := map[string]string{
		"listen":                    "127.0.0.1:8080",
		"public_url":                "http://127.0.0.1:8080",
		"admin_listen":              "127.0.0.1:9090",
		"tls.cert":                  "",
		"tls.key":                   "",
		"store":                     "sqlite://gatehouse.db",
		"sessions.store":            "",
		"sessions.cookie.name":      "",
		"sessions.cookie.secure":    "auto",
		"sessions.cookie.same_site": "lax",
		"sessions.cookie.domain":    "",
		"sessions.idle_timeout":     "30m0s",
		"sessions.absolute_timeout": "24h0m0s",
		"tokens.algorithm":          "ES256",
		"tokens.hmac_secret":        "",
		"tokens.audience":           "[gatehouse]",
		"tokens.access_ttl":         "10m0s",
		"tokens.refresh_ttl":        "720h0m0s",
		"tokens.refresh_idle_ttl":   "336h0m0s",
		"tokens.leeway":             "30s",
		"tokens.password_grant":     "true",
		"login.max_failures":        "5",
		"login.window":              "15m0s",
		"trusted_proxies":           "[127.0.0.0/8 ::1/128]",
		"redis.url":                 "",
		"routes":                    "[]",
		"oidc.providers":            "[]",
	}
	for path, w := range want {
		v := get(path)
		got := fmt.Sprint(v)
		if v == nil {
			got = "<absent>"
		}
		if got != w {
			t.Errorf("default %s = %s, want %s (contract §2)", path, got, w)
		}
	}
}

// TestTokenIssueTTL: `token issue` signs for --ttl, 10m when it is not
// given (contract §1), as exp − iat of the printed token shows.
func TestTokenIssueTTL(t *testing.T) {
	c := newCLI(t, "")
	c.ok(pw, "user", "add", "alice", "--password-stdin")
	tests := []struct {
		args []string
		want float64
	}{
		{nil, 600},
		{[]string{"--ttl", "90m"}, 5400},
		{[]string{"--ttl", "1s"}, 1},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{"ttl"}, tt.args...), " "), func(t *testing.T) {
			tok := strings.TrimSpace(c.ok("", append([]string{"token", "issue", "--user", "alice"}, tt.args...)...))
			parts := strings.Split(tok, ".")
			if len(parts) != 3 {
				t.Fatalf("token issue printed %q", tok)
			}
			b, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				t.Fatal(err)
			}
			var claims struct{ Iat, Exp float64 }
			if err := json.Unmarshal(b, &claims); err != nil {
				t.Fatal(err)
			}
			if got := claims.Exp - claims.Iat; got != tt.want {
				t.Errorf("exp - iat = %v s, want %v s", got, tt.want)
			}
		})
	}
}

// TestPasswordCommandsWithoutATerminalLeaveNoStore: `user add` and `user
// passwd` without --password-stdin need a terminal to prompt at; without
// one they are a usage error (exit 2) before the store is opened, so a
// mistyped first command creates no gatehouse.db.
func TestPasswordCommandsWithoutATerminalLeaveNoStore(t *testing.T) {
	for _, args := range [][]string{{"user", "add", "alice"}, {"user", "passwd", "alice"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			code, _, errOut := runIn(t, dir, nil, args...)
			if code != 2 || !strings.Contains(errOut, "--password-stdin") {
				t.Errorf("exit %d (want 2), stderr %q (want a pointer to --password-stdin)", code, errOut)
			}
			if _, err := os.Stat(filepath.Join(dir, "gatehouse.db")); !os.IsNotExist(err) {
				t.Errorf("gatehouse.db after the refused command: %v, want none", err)
			}
		})
	}
}
