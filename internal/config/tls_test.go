package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/certtest"
)

// A TLS certificate or key that cannot be loaded is a configuration error
// naming its key, so that config check finds it and serve stops before it
// starts, instead of failing at its first connection without naming the key.
func TestTLSKeyPairIsLoadedWithTheConfig(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := certtest.SelfSigned(t, dir)
	missing := filepath.Join(dir, "missing.pem")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cert, key, wantKey string
	}{
		{"valid pair", cert, key, ""},
		{"missing certificate", missing, key, "tls.cert"},
		{"missing key", cert, missing, "tls.key"},
		{"certificate is not PEM", garbage, key, "tls"},
		{"key and certificate swapped", key, cert, "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(write(t, "tls: {cert: '"+tt.cert+"', key: '"+tt.key+"'}\n"), noEnv)
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load error = %v, want a *config.Error naming %s", err, tt.wantKey)
			}
			if ce.Key != tt.wantKey {
				t.Errorf("Load error %q names key %q, want %q", err, ce.Key, tt.wantKey)
			}
		})
	}
}
