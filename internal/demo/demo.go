package demo

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// Config is the demo's configuration: SQLite in dir, no admin listener,
// and the routes /app/ (session) and /api/ (token) to the echo upstream.
func Config(listen, dir, upstream string) config.Config {
	cfg := config.Default()
	cfg.Listen = listen
	cfg.AdminListen = ""
	cfg.Store = "sqlite://" + filepath.Join(dir, "gatehouse.db")
	cfg.Routes = []config.Route{
		{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: upstream, Auth: "session",
			Forward: "headers", Timeout: config.Duration(30 * time.Second)},
		{Name: "api", Match: config.RouteMatch{PathPrefix: "/api/"}, Upstream: upstream, Auth: "token",
			Forward: "headers", Timeout: config.Duration(30 * time.Second)},
	}
	// A first-party public client: the code flow with PKCE, no consent
	// page; the code lands on the echo route, which shows it.
	cfg.Clients = []config.Client{{
		ID: ClientID, Name: "gatehouse demo app", Type: "public", FirstParty: true,
		RedirectURIs: []string{cfg.EffectivePublicURL() + "/app/callback"},
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		Scopes:       []string{"openid", "profile", "offline_access"},
	}}
	return cfg
}

// ClientID is the demo's registered app.
const ClientID = "demo-app"

// printApps writes how to run the authorization code flow with PKCE
// against the demo client: a fresh verifier and its S256 challenge.
func printApps(w io.Writer, base string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	verifier := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	redirect := base + "/app/callback"
	authURL := base + "/auth/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {ClientID}, "redirect_uri": {redirect}, "scope": {"openid profile offline_access"},
		"state": {"demo"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}.Encode()
	fmt.Fprintf(w, `# 5. Apps: authorization code + PKCE for the first-party public client %[1]q
# Open this in the browser, sign in; you land on the echo route: copy code=… from the URL it shows.
%[2]s
CODE=paste-the-code-here
curl -s -d grant_type=authorization_code -d client_id=%[1]s -d code="$CODE" -d redirect_uri='%[3]s' -d code_verifier=%[4]s %[5]s/auth/token
# More clients: gatehouse client add ID --type public|confidential …  (docs/apps.md)
`, ClientID, authURL, redirect, verifier, base)
}

// Password returns a random password for the demo user (128 bits).
func Password() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// AdminName is the demo's administrator (role admin).
const AdminName = "admin"

// PrintBanner writes the demo's credentials (once) and curl lines that
// work when pasted into a POSIX shell (no jq needed). adminPassword is the
// password of AdminName; jar is the curl cookie jar, a file in the demo's
// private directory (a fixed name in /tmp could be another local user's
// file, and the jar holds the session cookie).
func PrintBanner(w io.Writer, base, username, password, adminPassword, jar string) {
	fmt.Fprintf(w, `
gatehouse demo is running at %[1]s
  user: %[2]s
  password: %[3]s   (printed once; the database is temporary)
  admin: %[5]s
  admin password: %[4]s

Browser: open %[1]s/app/ — you are sent to the login page and back.
Admin console: open %[1]s/admin/ and sign in as %[5]s. admin.require_mfa is on, so you first
set up an authenticator app (TOTP) and enter a code; the admin API needs the same second factor.

# 1. Session: log in (JSON), call the session-protected route, list sessions
curl -si -c '%[6]s' -H 'Content-Type: application/json' -d '{"username":"%[2]s","password":"%[3]s"}' %[1]s/auth/login
curl -s -b '%[6]s' %[1]s/app/hello
curl -s -b '%[6]s' %[1]s/auth/sessions

# 2. Token: password grant, call the token-protected route
TOKENS=$(curl -s -d grant_type=password -d username=%[2]s -d password='%[3]s' %[1]s/auth/token); echo "$TOKENS"
ACCESS=$(printf '%%s' "$TOKENS" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
REFRESH=$(printf '%%s' "$TOKENS" | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')
curl -s -H "Authorization: Bearer $ACCESS" %[1]s/api/hello

# 3. Refresh (rotates the refresh token), then revoke the new one
TOKENS=$(curl -s -d grant_type=refresh_token -d refresh_token="$REFRESH" %[1]s/auth/token); echo "$TOKENS"
REFRESH=$(printf '%%s' "$TOKENS" | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')
curl -si -d token="$REFRESH" %[1]s/auth/revoke

# 4. Log out: the cookie stops working at once
curl -si -b '%[6]s' -X POST %[1]s/auth/logout
curl -si -b '%[6]s' %[1]s/app/hello

`, base, username, password, adminPassword, AdminName, jar)
	printApps(w, base)
	fmt.Fprintf(w, "\nPublic keys: %s/.well-known/jwks.json   Stop with Ctrl-C.\n", base)
}
