package main

import (
	"strings"
	"testing"
)

// config check refuses (exit 2) a session cookie domain that no browser
// accepts on any host, and warns (exit 0), naming the key, about cookie
// settings browsers drop at public_url's host.
func TestConfigCheckCookieBrowsersDrop(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		code int
		want string
	}{
		{"public suffix domain", "public_url: https://auth.example.co.uk\nsessions: {cookie: {name: gh, domain: co.uk}}\n", 2, "sessions.cookie.domain: co.uk is a public suffix"},
		{"domain of another site", "public_url: https://auth.example.com\nsessions: {cookie: {name: gh, domain: example.org}}\n", 0, "warning: sessions.cookie.domain example.org does not match public_url's host auth.example.com"},
		{"secure over plain http", "public_url: http://auth.example.com\nsessions: {cookie: {secure: 'true'}}\n", 0, "warning: sessions.cookie.secure is true but public_url http://auth.example.com is plain http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr := configCheckWith(t, newCLI(t, tt.yaml), tt.code)
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.want)
			}
		})
	}
}
