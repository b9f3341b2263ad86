package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// Bad values name the file and the line they are on (issue 11 finding 9),
// whether the parser or Validate finds them.
func TestLoadErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name, yaml, key string
		line            int
	}{
		{"bad algorithm", "listen: 127.0.0.1:8080\ntokens:\n  audience: [gatehouse]\n  algorithm: none\n", "tokens.algorithm", 4},
		{"bad store", "\n\nstore: mysql://x\n", "store", 3},
		{"number of the wrong type", "login:\n  max_failures: many\n", "login.max_failures", 2},
		{"boolean of the wrong type", "tokens:\n  password_grant: perhaps\n", "tokens.password_grant", 2},
		{"negative duration", "passwords:\n  max_wait: -1s\n", "passwords.max_wait", 2},
		{"route value", "routes:\n  - name: a\n    match: {path_prefix: /a/}\n    upstream: 'ftp://x'\n    auth: none\n", "routes[0].upstream", 4},
		{"trusted proxy item", "trusted_proxies:\n  - 127.0.0.0/8\n  - nonsense\n", "trusted_proxies[1]", 3},
		// A secret file that cannot be read, or a secret set twice, is a
		// problem of the key that names it, on its line like any other.
		{"unreadable secret file", "tokens:\n  algorithm: HS256\n  hmac_secret_file: /nonexistent/gatehouse-secret\n", "tokens.hmac_secret_file", 3},
		{"secret and its file", "keys:\n  encryption_key: 0123456789abcdef0123456789abcdef\n  encryption_key_file: /nonexistent/k\n", "keys.encryption_key", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, tt.yaml)
			_, err := config.Load(path, noEnv)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			if got, want := ce.File, path; got != want {
				t.Errorf("File = %q, want %q", got, want)
			}
			if got, want := ce.Line, tt.line; got != want {
				t.Errorf("Line = %d, want %d (%v)", got, want, err)
			}
			if got, want := ce.Key, tt.key; got != want {
				t.Errorf("Key = %q, want %q", got, want)
			}
		})
	}
}

// A bad value set by the environment is blamed on its variable, not on the
// file line it overrode.
func TestLoadEnvValueErrorNamesTheVariable(t *testing.T) {
	path := write(t, "store: sqlite://x.db\n")
	_, err := config.Load(path, func(k string) string {
		return map[string]string{"GATEHOUSE_STORE": "mysql://x"}[k]
	})
	if err == nil || !strings.Contains(err.Error(), "environment: GATEHOUSE_STORE") {
		t.Errorf("error %v does not name GATEHOUSE_STORE in the environment", err)
	}
}

// A secret file named by the environment is blamed on its variable.
func TestLoadEnvSecretFileErrorNamesTheVariable(t *testing.T) {
	path := write(t, "tokens: {algorithm: HS256}\n")
	_, err := config.Load(path, func(k string) string {
		return map[string]string{"GATEHOUSE_TOKENS_HMAC_SECRET_FILE": "/nonexistent/gatehouse-secret"}[k]
	})
	if err == nil || !strings.Contains(err.Error(), "environment: GATEHOUSE_TOKENS_HMAC_SECRET_FILE") {
		t.Errorf("error %v does not name GATEHOUSE_TOKENS_HMAC_SECRET_FILE in the environment", err)
	}
}

// Unknown GATEHOUSE_* variables are config errors naming the variable, like
// unknown YAML keys; key variables, GATEHOUSE_CONFIG, the documented
// non-key variables and other programs' variables are fine.
func TestCheckEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		bad     []string
	}{
		{"none", nil, nil},
		{"keys and documented extras", []string{"GATEHOUSE_STORE=x", "GATEHOUSE_TOKENS_HMAC_SECRET=y", "GATEHOUSE_PASSWORDS_MAX_WAIT=1s",
			"GATEHOUSE_CONFIG=/etc/g.yaml", "GATEHOUSE_TEST_POSTGRES=postgres://", "GATEHOUSE_SERVICES_DIR=/tmp/s", "PATH=/bin", "HOME=/root"}, nil},
		{"misspelt key", []string{"GATEHOUSE_TOKENS_HMAC_SECRETS=y"}, []string{"GATEHOUSE_TOKENS_HMAC_SECRETS"}},
		{"empty value still counts", []string{"GATEHOUSE_LISTENN="}, []string{"GATEHOUSE_LISTENN"}},
		{"list of structs", []string{"GATEHOUSE_ROUTES=[]", "GATEHOUSE_STORE=x", "GATEHOUSE_X=1"}, []string{"GATEHOUSE_ROUTES", "GATEHOUSE_X"}},
		{"prefix only", []string{"GATEHOUSE_=1"}, []string{"GATEHOUSE_"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := config.CheckEnv(tt.environ)
			if len(tt.bad) == 0 {
				if err != nil {
					t.Fatalf("CheckEnv = %v, want nil", err)
				}
				return
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("CheckEnv = %v, want a *config.Error", err)
			}
			for _, name := range tt.bad {
				if !strings.Contains(err.Error(), "environment: "+name+": unknown variable") {
					t.Errorf("CheckEnv = %q, want it to name %s", err, name)
				}
			}
			if got, want := strings.Count(err.Error(), "unknown variable"), len(tt.bad); got != want {
				t.Errorf("CheckEnv reported %d variables, want %d: %v", got, want, err)
			}
		})
	}
}

// An HS256 secret that is too short is blamed on where it came from: the
// secret file (named in the file or by the environment) or the variable,
// and the message does not tell a user who set one to go and set one.
func TestLoadShortHMACSecretNamesItsSource(t *testing.T) {
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       string // in the error
	}{
		{"file in the config", "tokens:\n  algorithm: HS256\n  hmac_secret_file: " + short + "\n", nil,
			":3: tokens.hmac_secret_file: "},
		{"file from the environment", "tokens:\n  algorithm: HS256\n", map[string]string{"GATEHOUSE_TOKENS_HMAC_SECRET_FILE": short},
			"environment: GATEHOUSE_TOKENS_HMAC_SECRET_FILE"},
		{"secret from the environment", "tokens:\n  algorithm: HS256\n", map[string]string{"GATEHOUSE_TOKENS_HMAC_SECRET": "short"},
			"environment: GATEHOUSE_TOKENS_HMAC_SECRET (tokens.hmac_secret)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(write(t, tt.yaml), func(k string) string { return tt.env[k] })
			if err == nil {
				t.Fatal("a 5-byte HS256 secret was accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "32 bytes") {
				t.Errorf("error %q, want it to name %q and the 32 bytes", msg, tt.want)
			}
			if strings.Contains(msg, "set GATEHOUSE_TOKENS_HMAC_SECRET or") {
				t.Errorf("error %q tells a user who set a secret to set one", msg)
			}
		})
	}
}
