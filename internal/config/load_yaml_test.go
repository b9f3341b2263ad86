package config_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// YAML that the decoder reads one way must not be checked another way:
// anchors, aliases and merge keys (<<) are checked as the values they stand
// for, a key set twice, a fraction in a whole-number key and a second
// document are errors naming the line (each once passed config check, was
// refused with a misleading message, or was reported as yaml's two-line
// "unmarshal errors").
func TestLoadYAMLStructure(t *testing.T) {
	tests := []struct {
		name, yaml string
		// key and line of the expected error; "" for a valid file
		key  string
		line int
	}{
		{"alias of a duration", "tokens:\n  access_ttl: &ttl 5m\n  leeway: *ttl\nsessions:\n  idle_timeout: *ttl\n", "", 0},
		{"alias of a mapping", "x: &c {name: gh}\n", "x", 1},
		{"alias of a section", "sessions: &s\n  idle_timeout: 5m\nlogin: *s\n", "login.idle_timeout", 2},
		{"merge key in a route", "routes:\n  - &r {name: a, match: {path_prefix: /a/}, upstream: 'http://127.0.0.1:1', auth: none}\n" +
			"  - <<: *r\n    name: b\n    match: {path_prefix: /b/}\n", "", 0},
		{"merged key of the wrong type", "routes:\n  - &r {name: a, match: {path_prefix: /a/}, upstream: 'http://127.0.0.1:1', auth: none}\n" +
			"  - <<: [*r, {timeout: soon}]\n    name: b\n    match: {path_prefix: /b/}\n", "routes[1].timeout", 3},
		{"merged unknown key", "defaults: &d {auth: none}\nroutes: []\n", "defaults", 1},
		{"merge of a scalar", "tokens:\n  <<: 5m\n", "tokens.<<", 2},
		{"key set twice", "listen: 127.0.0.1:1\nadmin_listen: ''\nlisten: 127.0.0.1:2\n", "listen", 3},
		{"section set twice", "tokens:\n  access_ttl: 5m\ntokens:\n  leeway: 1s\n", "tokens", 3},
		{"nested key set twice", "tokens: {leeway: 1s, leeway: 2s}\n", "tokens.leeway", 1},
		{"fraction in a whole number", "login:\n  max_failures: 5.5\n", "login.max_failures", 2},
		{"fraction in an unsigned number", "passwords:\n  memory_kib: 8192.9\n", "passwords.memory_kib", 2},
		{"second document", "listen: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n", "", 3},
		{"empty second document", "listen: 127.0.0.1:1\n---\n", "", 0},
		{"second document after an empty first", "---\n---\nlisten: 127.0.0.1:2\n", "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, tt.yaml)
			_, err := config.Load(path, noEnv)
			if tt.key == "" && tt.line == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			if got, want := ce.Key, tt.key; got != want {
				t.Errorf("Key = %q, want %q (%v)", got, want, err)
			}
			if got, want := ce.Line, tt.line; got != want {
				t.Errorf("Line = %d, want %d (%v)", got, want, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// Values given through aliases and merge keys are the values in effect.
func TestLoadFollowsAnchors(t *testing.T) {
	cfg, err := config.Load(write(t, "tokens:\n  access_ttl: &ttl 5m\n  leeway: *ttl\n"+
		"routes:\n  - &r {name: a, match: {path_prefix: /a/}, upstream: 'http://127.0.0.1:1', auth: none, timeout: 7s}\n"+
		"  - <<: *r\n    name: b\n    match: {path_prefix: /b/}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Tokens.Leeway.D(), 5*time.Minute; got != want {
		t.Errorf("leeway = %v, want %v", got, want)
	}
	if len(cfg.Routes) != 2 || cfg.Routes[1].Name != "b" || cfg.Routes[1].Timeout.D() != 7*time.Second || cfg.Routes[1].Match.PathPrefix != "/b/" {
		t.Errorf("routes = %+v, want b merged from a with its own name and prefix", cfg.Routes)
	}
}

// Following aliases cannot make the check walk a number of nodes that
// grows with the square of the file: a thousand aliases of a route holding
// a list of thousands of roles stop with an error naming the file.
func TestLoadRefusesAliasExpansion(t *testing.T) {
	var b strings.Builder
	b.WriteString("routes:\n  - &m {name: a, roles: [")
	for i := 0; i < 3000; i++ {
		b.WriteString("r,")
	}
	b.WriteString("r]}\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("  - *m\n")
	}
	path := write(t, b.String())
	_, err := config.Load(path, noEnv)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.File != path {
		t.Fatalf("Load = %v, want a *config.Error naming %s", err, path)
	}
}

// Values that serve would refuse only when it starts are refused by config
// check: a SQLite store whose directory does not exist or whose path the
// store refuses, and a listen address whose port is not a port.
func TestLoadRefusesWhatServeWouldRefuse(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "dir")
	tests := []struct{ name, yaml, key string }{
		{"sqlite in a missing directory", "store: 'sqlite://" + filepath.Join(missing, "gh.db") + "'\n", "store"},
		{"sqlite without a path", "store: 'sqlite://'\n", "store"},
		{"sqlite with a query", "store: 'sqlite://gh.db?mode=ro'\n", "store"},
		{"listen port out of range", "listen: 127.0.0.1:99999\n", "listen"},
		{"admin_listen port not a number", "admin_listen: ':abc'\n", "admin_listen"},
		{"ext_authz_listen negative port", "ext_authz_listen: '127.0.0.1:-1'\n", "ext_authz_listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, tt.yaml)
			_, err := config.Load(path, noEnv)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want a *config.Error", err)
			}
			if got, want := ce.Key, tt.key; got != want {
				t.Errorf("Key = %q, want %q (%v)", got, want, err)
			}
			if got, want := ce.File, path; got != want {
				t.Errorf("File = %q, want %q", got, want)
			}
		})
	}
	for _, ok := range []string{"store: 'sqlite://" + filepath.Join(t.TempDir(), "gh.db") + "'\n", "store: 'sqlite://:memory:'\n",
		"listen: '127.0.0.1:http'\nadmin_listen: '127.0.0.1:0'\n"} {
		if _, err := config.Load(write(t, ok), noEnv); err != nil {
			t.Errorf("Load(%q): %v", ok, err)
		}
	}
}
