package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// Cookie settings that serve would run with but that make browsers drop
// the session cookie, so that a login answers without a session: one that
// no browser accepts on any host (a domain that is a public suffix) is a
// configuration error naming sessions.cookie.domain; one that fails only
// at public_url's host (gatehouse may be reached under other host names
// too, through routes matching on host, or behind a TLS proxy public_url
// does not name) is a warning naming the key.
func TestCookieSettingsBrowsersDrop(t *testing.T) {
	tests := []struct {
		name      string
		publicURL string
		tls       bool
		cookie    config.Cookie
		errKey    string // "" = valid
		warn      string // "" = no such warning
	}{
		{"domain is the host", "https://auth.example.com", false, config.Cookie{Name: "gh", Domain: "auth.example.com"}, "", ""},
		{"domain is a parent", "https://auth.example.com", false, config.Cookie{Name: "gh", Domain: "example.com"}, "", ""},
		{"domain with a leading dot", "https://auth.example.com", false, config.Cookie{Name: "gh", Domain: ".Example.COM"}, "", ""},
		{"domain of another site", "https://auth.example.com", false, config.Cookie{Name: "gh", Domain: "example.org"}, "", "sessions.cookie.domain example.org does not match public_url's host auth.example.com"},
		{"domain is a sub-domain of the host", "https://example.com", false, config.Cookie{Name: "gh", Domain: "auth.example.com"}, "", "sessions.cookie.domain auth.example.com does not match public_url's host example.com"},
		{"domain with a name suffix only", "https://myexample.com", false, config.Cookie{Name: "gh", Domain: "example.com"}, "", "sessions.cookie.domain example.com does not match public_url's host myexample.com"},
		{"domain over an IP host", "https://192.0.2.10", false, config.Cookie{Name: "gh", Domain: "example.com"}, "", "sessions.cookie.domain example.com does not match public_url's host 192.0.2.10"},
		{"domain without public_url", "", false, config.Cookie{Name: "gh", Domain: "example.com"}, "", ""},
		{"domain a top-level domain", "https://auth.example.com", false, config.Cookie{Name: "gh", Domain: "com"}, "sessions.cookie.domain", ""},
		{"domain a public suffix", "https://auth.example.co.uk", false, config.Cookie{Name: "gh", Domain: "co.uk"}, "sessions.cookie.domain", ""},
		{"domain a private public suffix", "https://me.github.io", false, config.Cookie{Name: "gh", Domain: "github.io"}, "sessions.cookie.domain", ""},
		{"domain a registrable domain", "https://me.github.io", false, config.Cookie{Name: "gh", Domain: "me.github.io"}, "", ""},
		{"secure over plain http", "http://auth.example.com", false, config.Cookie{Secure: "true"}, "", "sessions.cookie.secure is true but public_url http://auth.example.com is plain http"},
		{"secure over plain http, named", "http://auth.example.com", false, config.Cookie{Secure: "true", Name: "gh"}, "", "sessions.cookie.secure is true but public_url http://auth.example.com is plain http"},
		{"secure over https", "https://auth.example.com", false, config.Cookie{Secure: "true"}, "", ""},
		{"secure over loopback http", "http://localhost:8080", false, config.Cookie{Secure: "true"}, "", ""},
		{"secure with tls", "", true, config.Cookie{Secure: "true"}, "", ""},
		{"secure without public_url", "", false, config.Cookie{Secure: "true"}, "", ""},
		{"auto over plain http", "http://auth.example.com", false, config.Cookie{Secure: "auto"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.PublicURL = tt.publicURL
			if tt.tls {
				cfg.TLS = config.TLS{Cert: "cert.pem", Key: "key.pem"}
			}
			if tt.cookie.Secure == "" {
				tt.cookie.Secure = "auto"
			}
			tt.cookie.SameSite = "lax"
			cfg.Sessions.Cookie = tt.cookie
			var keys []string
			for _, err := range cfg.Validate() {
				var ce *config.Error
				if errors.As(err, &ce) && strings.HasPrefix(ce.Key, "sessions.cookie") {
					keys = append(keys, ce.Key)
				}
			}
			if got := strings.Join(keys, ","); got != tt.errKey {
				t.Errorf("Validate: errors on %q, want %q (%v)", got, tt.errKey, cfg.Validate())
			}
			var cookieWarnings []string
			for _, w := range cfg.Warnings() {
				if strings.HasPrefix(w, "sessions.cookie") {
					cookieWarnings = append(cookieWarnings, w)
				}
			}
			got := strings.Join(cookieWarnings, "\n")
			if tt.warn == "" && got != "" || !strings.Contains(got, tt.warn) {
				t.Errorf("Warnings: %q, want one containing %q", got, tt.warn)
			}
		})
	}
}
