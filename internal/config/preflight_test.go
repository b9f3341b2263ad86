package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// routes[].skip_auth_preflight: a bool, default false, printed by config
// check; on auth: none it is accepted, with a warning only where it
// changes nothing (match.methods already accepts OPTIONS).
func TestRouteSkipAuthPreflight(t *testing.T) {
	const head = "routes: [{name: api, match: {path_prefix: /api/"
	tests := []struct {
		name    string
		yaml    string
		errKey  string // a *config.Error naming this key; "" loads
		want    bool   // the route's SkipAuthPreflight
		printed string // in Masked (config check)
		warn    bool   // a warning naming routes[0].skip_auth_preflight
	}{
		{"default false", head + "}, upstream: 'http://x', auth: token}]\n", "", false, "skip_auth_preflight: false", false},
		{"set on a token route", head + ", methods: [GET, POST]}, upstream: 'http://x', auth: token, skip_auth_preflight: true}]\n", "", true, "skip_auth_preflight: true", false},
		{"with roles and mfa", head + "}, upstream: 'http://x', auth: any, roles: [admin], mfa: true, skip_auth_preflight: true}]\n", "", true, "skip_auth_preflight: true", false},
		{"auth none with methods without OPTIONS: admits preflights", head + ", methods: [GET]}, upstream: 'http://x', auth: none, skip_auth_preflight: true}]\n", "", true, "skip_auth_preflight: true", false},
		{"auth none with every method: no effect", head + "}, upstream: 'http://x', auth: none, skip_auth_preflight: true}]\n", "", true, "skip_auth_preflight: true", true},
		{"auth none listing OPTIONS: no effect", head + ", methods: [GET, OPTIONS]}, upstream: 'http://x', auth: none, skip_auth_preflight: true}]\n", "", true, "skip_auth_preflight: true", true},
		{"not a bool", head + "}, upstream: 'http://x', auth: token, skip_auth_preflight: sometimes}]\n", "routes[0].skip_auth_preflight", false, "", false},
		{"misspelt", head + "}, upstream: 'http://x', auth: token, skip_auth_preflights: true}]\n", "routes[0].skip_auth_preflights", false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(write(t, tt.yaml), noEnv)
			if tt.errKey != "" {
				var ce *config.Error
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.errKey+":") {
					t.Fatalf("error = %v, want a *config.Error naming %s", err, tt.errKey)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := cfg.Routes[0].SkipAuthPreflight; got != tt.want {
				t.Errorf("SkipAuthPreflight = %v, want %v", got, tt.want)
			}
			if m := cfg.Masked(); !strings.Contains(m, tt.printed) {
				t.Errorf("Masked() lacks %q:\n%s", tt.printed, m)
			}
			warned := strings.Contains(strings.Join(cfg.Warnings(), "\n"), "routes[0].skip_auth_preflight")
			if warned != tt.warn {
				t.Errorf("warned = %v, want %v: %q", warned, tt.warn, cfg.Warnings())
			}
		})
	}
}
