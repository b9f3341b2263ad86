package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// A config file that every user can read and that holds secrets gets a
// warning naming the file and the secret keys (not their values); a file
// only its owner and group can read, or one without secrets (they come
// from the environment or *_file keys), gets none.
func TestWorldReadableFileWithSecretsIsWarnedAbout(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-s3cr3t"
	tests := []struct {
		name string
		mode os.FileMode
		yaml string
		want []string // keys named in the warning; nil: no warning
	}{
		{"hmac secret, 0644", 0o644, "tokens: {algorithm: HS256, hmac_secret: '" + secret + "'}\n", []string{"tokens.hmac_secret"}},
		{"store password, 0644", 0o644, "store: 'postgres://u:" + secret + "@127.0.0.1/db'\n", []string{"store"}},
		{"client secret, 0604", 0o604, "clients: [{client_id: web, type: confidential, secret: '" + secret + "', grant_types: [client_credentials]}]\n", []string{"clients[0].secret"}},
		{"hmac secret, 0600", 0o600, "tokens: {algorithm: HS256, hmac_secret: '" + secret + "'}\n", nil},
		{"hmac secret, 0640", 0o640, "tokens: {algorithm: HS256, hmac_secret: '" + secret + "'}\n", nil},
		{"no secrets, 0644", 0o644, "listen: 127.0.0.1:8081\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "gatehouse.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tt.mode); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(p, noEnv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var found string
			for _, w := range cfg.Warnings() {
				if strings.Contains(w, "readable by every user") {
					found = w
				}
			}
			if strings.Contains(found, secret) {
				t.Fatalf("the warning prints the secret: %s", found)
			}
			if tt.want == nil {
				if found != "" {
					t.Errorf("unexpected warning %q", found)
				}
				return
			}
			if !strings.Contains(found, p) {
				t.Errorf("warning %q does not name the file", found)
			}
			for _, k := range tt.want {
				if !strings.Contains(found, k) {
					t.Errorf("warning %q does not name %s", found, k)
				}
			}
		})
	}
}
