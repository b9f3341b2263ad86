package main

import (
	"os"
	"strings"
	"testing"
)

// Configuration errors of the keys exit 2 (contract section 1) with one
// line naming the key at fault, and change nothing: a keys.encryption_key
// that does not open the stored keys, or none at all, and `keys rotate`
// with HS256, whose secret is tokens.hmac_secret.
func TestKeysConfigErrorsExitTwo(t *testing.T) {
	const sealed = "keys: {encryption_key: 0123456789abcdef0123456789abcdef-right}\n"
	tests := []struct {
		name        string
		yaml, wrong string // the config the keys are made with, and the one refused ("-": the same)
		args        []string
		want        string
	}{
		{"wrong encryption key", sealed, "keys: {encryption_key: 0123456789abcdef0123456789abcdef-WRONG}\n",
			[]string{"keys", "list"}, "keys.encryption_key"},
		{"wrong encryption key and another algorithm", sealed,
			"keys: {encryption_key: 0123456789abcdef0123456789abcdef-WRONG}\ntokens: {algorithm: EdDSA}\n",
			[]string{"keys", "jwks"}, "keys.encryption_key"},
		{"no encryption key", sealed, "", []string{"keys", "rotate"}, "keys.encryption_key"},
		{"rotate HS256", "tokens: {algorithm: HS256, hmac_secret: 0123456789abcdef0123456789abcdef-hs}\n", "-",
			[]string{"keys", "rotate"}, "tokens.hmac_secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t, tt.yaml)
			body, err := os.ReadFile(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := c.ok("", "keys", "list")
			if tt.wrong != "-" {
				base := strings.TrimSuffix(string(body), tt.yaml)
				if err := os.WriteFile(c.cfg, []byte(base+tt.wrong), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errOut := c.run("", tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr %q", code, errOut)
			}
			if lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n"); len(lines) != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q, want one line naming %s", errOut, tt.want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if err := os.WriteFile(c.cfg, body, 0o600); err != nil {
				t.Fatal(err)
			}
			if after := c.ok("", "keys", "list"); after != before {
				t.Errorf("keys changed by a refused command:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}
