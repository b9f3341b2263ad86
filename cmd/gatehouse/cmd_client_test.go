package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestClientLifecycle(t *testing.T) {
	c := newCLI(t, "clients: [{client_id: gitops, type: public, redirect_uris: ['https://g.example/cb'], grant_types: [authorization_code]}]\n")
	out := c.ok("", "client", "add", "svc", "--type", "confidential", "--grant", "client_credentials", "--scope", "orders:read", "--role", "orders-reader")
	m := regexp.MustCompile(`client secret \(shown once, store it now\): (\S+)`).FindStringSubmatch(out)
	if m == nil || len(m[1]) < 43 {
		t.Fatalf("client add printed %q: want a secret of >= 256 bits", out)
	}
	secret := m[1]
	out = c.ok("", "client", "add", "spa", "--type", "public", "--redirect-uri", "https://app.example.com/cb",
		"--grant", "authorization_code", "--grant", "refresh_token", "--scope", "openid", "--first-party")
	if strings.Contains(out, "secret") {
		t.Errorf("public client add printed a secret: %q", out)
	}
	out = c.ok("", "client", "list")
	for _, want := range []string{"gitops", "config", "svc", "spa", "store"} {
		if !strings.Contains(out, want) {
			t.Errorf("client list lacks %q:\n%s", want, out)
		}
	}
	out = c.ok("", "client", "show", "svc")
	if strings.Contains(out, secret) || !strings.Contains(out, "has_secret:") || !strings.Contains(out, "orders-reader") {
		t.Errorf("client show = %q", out)
	}
	out = c.ok("", "client", "secret", "svc")
	if strings.Contains(out, secret) || !strings.Contains(out, "new client secret") {
		t.Errorf("client secret = %q", out)
	}
	for _, bad := range [][]string{
		{"client", "add", "x y", "--type", "public", "--grant", "refresh_token"},
		{"client", "add", "web", "--type", "public", "--grant", "client_credentials"},
		{"client", "add", "web", "--type", "public", "--grant", "authorization_code", "--redirect-uri", "/relative"},
	} {
		if code, _, errOut := c.run("", bad...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", bad, code, errOut)
		}
	}
	if code, _, errOut := c.run("", "client", "delete", "gitops"); code == 0 || !strings.Contains(errOut, "config file") {
		t.Errorf("deleting a config client: exit %d %q", code, errOut)
	}
	if code, _, _ := c.run("", "client", "secret", "spa"); code != 2 {
		t.Errorf("rotating a public client's secret: exit %d, want 2", code)
	}
	c.ok("", "client", "delete", "svc")
	for _, verb := range []string{"show", "delete"} {
		if code, _, errOut := c.run("", "client", verb, "svc"); code != 1 || !strings.Contains(errOut, "not found") || !strings.Contains(errOut, `"svc"`) {
			t.Errorf("%s deleted client: exit %d %q, want 1 naming the client", verb, code, errOut)
		}
	}
}

// client add refuses an audience that is a forward: jwt route's name, as
// config check does for config clients (docs/apps.md).
func TestClientAddRefusesAJWTRoutesAudience(t *testing.T) {
	c := newCLI(t, "routes: [{name: orders, match: {path_prefix: /orders/}, upstream: 'http://127.0.0.1:1', auth: token, forward: jwt}]\n")
	code, _, errOut := c.run("", "client", "add", "svc", "--type", "confidential", "--grant", "client_credentials", "--audience", "orders")
	if code != 2 || !strings.Contains(errOut, "audience[0]") {
		t.Errorf("client add --audience orders: exit %d %q, want 2 naming audience[0]", code, errOut)
	}
	c.ok("", "client", "add", "svc", "--type", "confidential", "--grant", "client_credentials", "--audience", "billing")
}

// Nor may a client be named as a forward: jwt route: its ID and logout
// tokens carry aud = client_id with gatehouse's issuer and keys, and would
// pass at the route's upstream for its internal JWTs (docs/gateway.md).
// client add and config check both refuse it, naming client_id.
func TestClientIDCannotBeAJWTRoutesName(t *testing.T) {
	route := "routes: [{name: orders, match: {path_prefix: /orders/}, upstream: 'http://127.0.0.1:1', auth: token, forward: jwt}]\n"
	c := newCLI(t, route)
	code, _, errOut := c.run("", "client", "add", "orders", "--type", "confidential", "--grant", "authorization_code",
		"--redirect-uri", "https://orders.example.com/cb", "--scope", "openid")
	if code != 2 || !strings.Contains(errOut, "client_id") {
		t.Errorf("client add orders: exit %d %q, want 2 naming client_id", code, errOut)
	}
	c = newCLI(t, route+"clients: [{client_id: orders, type: public, redirect_uris: ['https://orders.example.com/cb'], grant_types: [authorization_code], scopes: [openid]}]\n")
	code, _, errOut = c.run("", "config", "check")
	if code != 2 || !strings.Contains(errOut, "clients[0].client_id") {
		t.Errorf("config check: exit %d %q, want 2 naming clients[0].client_id", code, errOut)
	}
}

// The password grant needs a first-party client: client add says so with
// its own flag (--first-party), config check with the key at fault.
func TestPasswordGrantRefusalNamesTheKnob(t *testing.T) {
	c := newCLI(t, "")
	code, _, errOut := c.run("", "client", "add", "script", "--type", "confidential", "--grant", "password")
	if code != 2 || !strings.Contains(errOut, "--first-party") || strings.Contains(errOut, "first_party: true") {
		t.Errorf("client add --grant password: exit %d %q; want 2 naming --first-party", code, errOut)
	}
	c = newCLI(t, "clients: [{client_id: script, type: confidential, secret: '"+strings.Repeat("x", 32)+"', grant_types: [refresh_token, password]}]\n")
	code, _, errOut = c.run("", "config", "check")
	if code != 2 || !strings.Contains(errOut, "clients[0].grant_types") || !strings.Contains(errOut, "clients[0].first_party: true") ||
		strings.Contains(errOut, "--first-party") {
		t.Errorf("config check: exit %d %q; want 2 naming clients[0].first_party", code, errOut)
	}
}

// A client ID that the config file declares is the file's: client add,
// delete and secret of it are refused as configuration errors (exit 2),
// naming the file and the key where it is declared.
func TestConfigClientIsAConfigError(t *testing.T) {
	c := newCLI(t, "clients:\n- {client_id: web, type: public, redirect_uris: ['https://w.example/cb'], grant_types: [authorization_code]}\n"+
		"- {client_id: gitops, type: public, redirect_uris: ['https://g.example/cb'], grant_types: [authorization_code]}\n")
	for _, args := range [][]string{
		{"client", "add", "gitops", "--type", "public", "--grant", "refresh_token"},
		{"client", "delete", "gitops"},
		{"client", "secret", "gitops"},
	} {
		t.Run(args[1], func(t *testing.T) {
			code, out, errOut := c.run("", args...)
			if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 ||
				!strings.Contains(errOut, c.cfg) || !strings.Contains(errOut, "clients[1]") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line naming %s and clients[1]", code, out, errOut, c.cfg)
			}
		})
	}
}

// TestConfigClientDefaults: a config client's absent keys take the values
// contract §8's example shows (every key has a working default, §2):
// type public (confidential when a secret is given), grant_types
// [authorization_code, refresh_token], scopes [openid, profile, email,
// offline_access]. A key given empty is not absent: grant_types: [] is
// still refused, and scopes: [] leaves the client without scopes.
func TestConfigClientDefaults(t *testing.T) {
	c := newCLI(t, "clients:\n"+
		"  - {client_id: spa, redirect_uris: ['https://app.example.com/cb']}\n"+
		"  - {client_id: web, secret: 0123456789abcdef0123456789abcdef, redirect_uris: ['https://web.example.com/cb']}\n"+
		"  - {client_id: svc, secret: 0123456789abcdef0123456789abcdef, grant_types: [client_credentials], scopes: []}\n")
	c.ok("", "config", "check")
	for _, tc := range []struct{ id, typ, grants, scopes string }{
		{"spa", "public", "authorization_code refresh_token", "openid profile email offline_access"},
		{"web", "confidential", "authorization_code refresh_token", "openid profile email offline_access"},
		{"svc", "confidential", "client_credentials", "-"},
	} {
		out := c.ok("", "client", "show", tc.id)
		for key, want := range map[string]string{"type": tc.typ, "grant_types": tc.grants, "scopes": tc.scopes} {
			if !regexp.MustCompile(`(?m)^` + key + `:\s+` + regexp.QuoteMeta(want) + `$`).MatchString(out) {
				t.Errorf("client show %s: %s is not %q:\n%s", tc.id, key, want, out)
			}
		}
	}

	empty := newCLI(t, "clients: [{client_id: spa, redirect_uris: ['https://app.example.com/cb'], grant_types: []}]\n")
	if code, _, errOut := empty.run("", "config", "check"); code != 2 || !strings.Contains(errOut, "clients[0].grant_types: must list at least one grant") {
		t.Errorf("grant_types: [] = exit %d %q, want 2 naming clients[0].grant_types", code, errOut)
	}
	// Without a redirect URI the default authorization_code grant is
	// refused by name, not silently dropped.
	bare := newCLI(t, "clients: [{client_id: spa}]\n")
	if code, _, errOut := bare.run("", "config", "check"); code != 2 || !strings.Contains(errOut, "clients[0].redirect_uris:") {
		t.Errorf("a client without redirect_uris = exit %d %q, want 2 naming clients[0].redirect_uris", code, errOut)
	}
}
