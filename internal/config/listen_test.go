package config_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// A listen address may name its port by service (127.0.0.1:http, :https),
// as net.Listen accepts: it is judged as its number (net.LookupPort, the
// port net.Listen binds). Without a public_url the issuer and redirect
// base carry the number, since url.Parse refuses "http://127.0.0.1:http";
// that refusal made a loopback listener look like a public one and gave
// it the "not Secure" warning a numbered port does not get.
func TestNamedListenPortIsJudgedAsItsNumber(t *testing.T) {
	tests := []struct {
		listen    string
		tls       bool
		wantURL   string
		notSecure bool   // the "session cookies are not Secure" warning
		advice    string // the all-interfaces warning's suggested public_url ("" = no such warning)
	}{
		{"127.0.0.1:80", false, "http://127.0.0.1:80", false, ""},
		{"127.0.0.1:http", false, "http://127.0.0.1:80", false, ""},
		{"localhost:http", false, "http://localhost:80", false, ""},
		{"localhost:https", false, "http://localhost:443", false, ""},
		{"[::1]:http", false, "http://[::1]:80", false, ""},
		{"127.0.0.1:https", true, "https://127.0.0.1:443", false, ""},
		{":443", false, "http://:443", true, "http://localhost:443"},
		{":https", false, "http://:443", true, "http://localhost:443"},
		{"0.0.0.0:http", false, "http://0.0.0.0:80", true, "http://localhost:80"},
		{":https", true, "https://:443", false, "https://localhost:443"},
	}
	for _, tt := range tests {
		t.Run(tt.listen+map[bool]string{true: " tls"}[tt.tls], func(t *testing.T) {
			cfg := config.Default()
			cfg.Listen = tt.listen
			if tt.tls {
				cfg.TLS = config.TLS{Cert: "cert.pem", Key: "key.pem"}
			}
			if errs := cfg.Validate(); len(errs) > 0 {
				t.Fatalf("Validate: %v", errs)
			}
			if got := cfg.EffectivePublicURL(); got != tt.wantURL {
				t.Errorf("EffectivePublicURL() = %q, want %q", got, tt.wantURL)
			}
			if _, err := url.Parse(cfg.EffectivePublicURL()); err != nil {
				t.Errorf("the effective public URL does not parse: %v", err)
			}
			var notSecure bool
			var advice string
			for _, w := range cfg.Warnings() {
				notSecure = notSecure || strings.Contains(w, "not Secure")
				if strings.Contains(w, "is on all interfaces") {
					_, advice, _ = strings.Cut(w, "e.g. ")
				}
			}
			if notSecure != tt.notSecure {
				t.Errorf("warns that cookies are not Secure = %v, want %v: %q", notSecure, tt.notSecure, cfg.Warnings())
			}
			if advice != tt.advice {
				t.Errorf("all-interfaces warning suggests %q, want %q", advice, tt.advice)
			}
			if got, want := cfg.Listen, tt.listen; got != want {
				t.Errorf("listen = %q, changed from %q (net.Listen takes the name)", got, want)
			}
		})
	}
}
