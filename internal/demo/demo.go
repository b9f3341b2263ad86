package demo

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
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
	return cfg
}

// Password returns a random password for the demo user (128 bits).
func Password() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// PrintBanner writes the demo's credentials (once) and curl lines that
// work when pasted into a POSIX shell (no jq needed).
func PrintBanner(w io.Writer, base, username, password string) {
	fmt.Fprintf(w, `
gatehouse demo is running at %[1]s
  user: %[2]s
  password: %[3]s   (printed once; the database is temporary)

Browser: open %[1]s/app/ — you are sent to the login page and back.

# 1. Session: log in (JSON), call the session-protected route, list sessions
curl -si -c /tmp/gatehouse-demo.jar -H 'Content-Type: application/json' -d '{"username":"%[2]s","password":"%[3]s"}' %[1]s/auth/login
curl -s -b /tmp/gatehouse-demo.jar %[1]s/app/hello
curl -s -b /tmp/gatehouse-demo.jar %[1]s/auth/sessions

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
curl -si -b /tmp/gatehouse-demo.jar -X POST %[1]s/auth/logout
curl -si -b /tmp/gatehouse-demo.jar %[1]s/app/hello

Public keys: %[1]s/.well-known/jwks.json   Stop with Ctrl-C.
`, base, username, password)
}
