package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// routes[].scopes are RFC 6749 §3.3 scope-tokens, each once, on routes
// whose credential can carry them (auth token or any): a session has no
// scope claim, so a session or none route with scopes would either refuse
// everyone or check nothing. Each refusal names the key and the route.
func TestRouteScopesValidated(t *testing.T) {
	route := func(auth, scopes string) string {
		return "routes:\n- {name: orders, match: {path_prefix: /api/orders/}, upstream: 'http://127.0.0.1:9001', auth: " +
			auth + ", scopes: " + scopes + "}\n"
	}
	tests := []struct {
		name, yaml string
		key        string // "" = accepted
		want       []string
	}{
		{"token route", route("token", "[orders:read]"), "", []string{"orders:read"}},
		{"any route, two scopes", route("any", "[orders:read, 'https://api.example.com/orders.write']"), "",
			[]string{"orders:read", "https://api.example.com/orders.write"}},
		{"empty list", route("token", "[]"), "", []string{}},
		{"session route", route("session", "[orders:read]"), "routes[0].scopes", nil},
		{"none route", route("none", "[orders:read]"), "routes[0].scopes", nil},
		{"space inside", route("token", "['orders read']"), "routes[0].scopes[0]", nil},
		{"empty scope", route("token", "[orders:read, '']"), "routes[0].scopes[1]", nil},
		{"quote", route("token", `['orders"read']`), "routes[0].scopes[0]", nil},
		{"backslash", route("token", `['orders\read']`), "routes[0].scopes[0]", nil},
		{"non-ASCII", route("token", "[commandes:lire, 'écrire']"), "routes[0].scopes[1]", nil},
		{"control character", route("token", `["orders\tread"]`), "routes[0].scopes[0]", nil},
		{"duplicate", route("token", "[orders:read, orders:write, orders:read]"), "routes[0].scopes[2]", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(write(t, tt.yaml), noEnv)
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Load = %v, want the route accepted", err)
				}
				if got := c.Routes[0].Scopes; !slices.Equal(got, tt.want) {
					t.Errorf("scopes = %q, want %q", got, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.key+": ") {
				t.Fatalf("Load error = %v, want one naming %s", err, tt.key)
			}
			if !strings.Contains(err.Error(), `route "orders"`) {
				t.Errorf("Load error = %v, want it to name route \"orders\"", err)
			}
		})
	}
}
