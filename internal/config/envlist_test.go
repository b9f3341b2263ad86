package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// A list key set from the environment takes either a comma-separated list
// or a YAML flow sequence, what people paste from the YAML file
// (GATEHOUSE_TOKENS_AUDIENCE='[api, web]'): the sequence's items, never
// "[api" and "web]". A value wrapped in [ ] that is not a sequence of
// strings is a configuration error naming the variable.
func TestEnvListFlowSequence(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		want   []string
		errMsg string // "" = loads
	}{
		{"comma-separated", "api,web", []string{"api", "web"}, ""},
		{"comma-separated with spaces", " api , web ", []string{"api", "web"}, ""},
		{"flow sequence", "[api, web]", []string{"api", "web"}, ""},
		{"flow sequence no spaces", "[api,web]", []string{"api", "web"}, ""},
		{"flow sequence quoted", `["api", 'web']`, []string{"api", "web"}, ""},
		{"flow sequence around spaces", "  [api]  ", []string{"api"}, ""},
		{"empty flow sequence", "[]", nil, ""},
		{"unclosed flow sequence", "[api, web", nil, "environment: GATEHOUSE_TOKENS_AUDIENCE: expected a YAML list such as [a, b]"},
		{"nested flow sequence", "[api, [web]]", nil, "environment: GATEHOUSE_TOKENS_AUDIENCE: expected a YAML list such as [a, b]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.LoadLookup("", func(k string) (string, bool) {
				return tt.raw, k == "GATEHOUSE_TOKENS_AUDIENCE"
			})
			if tt.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errMsg) {
					t.Fatalf("%q: err = %v, want one containing %q", tt.raw, err, tt.errMsg)
				}
				var ce *config.Error
				if !errors.As(err, &ce) {
					t.Errorf("%q: err %T is not a *config.Error (exit 2)", tt.raw, err)
				}
				return
			}
			if tt.want == nil {
				// An empty audience is refused by Validate; only the parse is checked here.
				if err != nil && !strings.Contains(err.Error(), "tokens.audience") {
					t.Fatalf("%q: %v", tt.raw, err)
				}
				if got := cfg.Tokens.Audience; len(got) != 0 {
					t.Errorf("%q: audience = %q, want none", tt.raw, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("%q: %v", tt.raw, err)
			}
			if got := cfg.Tokens.Audience; !slices.Equal(got, tt.want) {
				t.Errorf("%q: audience = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}
