package demo

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// Config is the demo's configuration: SQLite in dir, no admin listener,
// and the routes /app/ (session) and /api/ (token) to the echo upstream.
// On a listen address on all interfaces, its public URL (the printed
// URLs, the issuer, the demo client's redirect) is http://localhost:PORT.
func Config(listen, dir, upstream string) config.Config {
	cfg := config.Default()
	cfg.Listen = listen
	if config.OnAllInterfaces(listen) {
		_, port, _ := net.SplitHostPort(listen)
		cfg.PublicURL = "http://" + net.JoinHostPort("localhost", port)
	}
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
// against the demo client: a fresh verifier and its S256 challenge, the
// URL to open in a browser, and curl lines that do the same with a fresh
// session (step 4 logged the first one out) and exchange the code.
func printApps(w io.Writer, base, username, password, jar string) {
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
# In a browser: open this URL and sign in; the echo route's address shows code=…, which you can set as CODE=… for the last line.
#   %[2]s
# With curl: a fresh session approves the request (first-party: no consent page), the redirect carries the code.
curl -s -o /dev/null -c %[6]s -H 'Content-Type: application/json' -d %[7]s %[8]s
CODE=$(curl -s -o /dev/null -b %[6]s -w '%%{redirect_url}' %[9]s | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p'); echo "$CODE"
curl -s -d grant_type=authorization_code -d client_id=%[1]s -d code="$CODE" -d redirect_uri=%[3]s -d code_verifier=%[4]s %[5]s
# More clients: gatehouse client add ID --type public|confidential …  (docs/apps.md)
`, ClientID, authURL, shellQuote(redirect), verifier, shellQuote(base+"/auth/token"),
		shellQuote(jar), shellQuote(loginJSON(username, password)), shellQuote(base+"/auth/login"), shellQuote(authURL))
}

// shellQuote quotes s for a POSIX shell (bash, zsh, dash): in single
// quotes, each single quote closed, escaped and reopened. The printed
// lines quote every URL (a query has & and ?, and an IPv6 listen address
// such as [::1] is a glob pattern, which zsh refuses unquoted when nothing
// matches) and the cookie jar's path (under $TMPDIR, which may hold spaces
// or quotes).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// loginJSON is the JSON body of a password login.
func loginJSON(username, password string) string {
	b, err := json.Marshal(struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}{username, password})
	if err != nil {
		panic(fmt.Sprintf("encode login: %v", err)) // strings always encode
	}
	return string(b)
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
// work when pasted, in order, into a POSIX shell (no jq needed): from
// "# 1." to the end of "# 5.", every line is a command or a comment.
// adminPassword is the password of AdminName; jar is the curl cookie jar, a
// file in the demo's private directory (a fixed name in /tmp could be
// another local user's file, and the jar holds the session cookie).
// listen is the address the demo listens on, named after base when it is
// on all interfaces.
func PrintBanner(w io.Writer, base, listen, username, password, adminPassword, jar string) {
	u := func(path string) string { return shellQuote(base + path) }
	where := base
	if config.OnAllInterfaces(listen) {
		where += " (listening on all interfaces, " + listen + ")"
	}
	fmt.Fprintf(w, `
gatehouse demo is running at %[17]s
  user: %[2]s
  password: %[3]s   (printed once; the database is temporary)
  admin: %[5]s
  admin password: %[4]s

Browser: open %[1]s/app/ — you are sent to the login page and back.
Admin console: open %[1]s/admin/ and sign in as %[5]s. admin.require_mfa is on, so you first
set up an authenticator app (TOTP) and enter a code; the admin API needs the same second factor.

# 1. Session: log in (JSON), call the session-protected route, list sessions
curl -si -c %[6]s -H 'Content-Type: application/json' -d %[7]s %[8]s
curl -s -b %[6]s %[9]s
curl -s -b %[6]s %[10]s

# 2. Token: password grant, call the token-protected route
TOKENS=$(curl -s -d grant_type=password -d username=%[13]s -d password=%[14]s %[11]s); echo "$TOKENS"
ACCESS=$(printf '%%s' "$TOKENS" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
REFRESH=$(printf '%%s' "$TOKENS" | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')
curl -s -H "Authorization: Bearer $ACCESS" %[12]s

# 3. Refresh (rotates the refresh token), then revoke the new one
TOKENS=$(curl -s -d grant_type=refresh_token -d refresh_token="$REFRESH" %[11]s); echo "$TOKENS"
REFRESH=$(printf '%%s' "$TOKENS" | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')
curl -si -d token="$REFRESH" %[15]s

# 4. Log out: the cookie stops working at once
curl -si -b %[6]s -X POST %[16]s
curl -si -b %[6]s %[9]s

`, base, username, password, adminPassword, AdminName, shellQuote(jar), shellQuote(loginJSON(username, password)),
		u("/auth/login"), u("/app/hello"), u("/auth/sessions"), u("/auth/token"), u("/api/hello"),
		shellQuote(username), shellQuote(password), u("/auth/revoke"), u("/auth/logout"), where)
	printApps(w, base, username, password, jar)
	fmt.Fprintf(w, "\nPublic keys: %s/.well-known/jwks.json   Stop with Ctrl-C.\n", base)
}
