package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// cli runs gatehouse with a config in dir and returns exit code, stdout, stderr.
type cli struct {
	t   *testing.T
	cfg string
	env map[string]string
}

func newCLI(t *testing.T, yaml string) *cli {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatehouse.yaml")
	body := "store: sqlite://" + filepath.Join(dir, "gh.db") + "\npasswords: {memory_kib: 8192, iterations: 1, parallelism: 1}\n" + yaml
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, cfg: cfg, env: map[string]string{}}
}

func (c *cli) run(stdin string, args ...string) (int, string, string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return c.env[k] }
	err := run(context.Background(), append(args, "-c", c.cfg), getenv, strings.NewReader(stdin), &out, &errb)
	code := exitCode(err, &errb)
	return code, out.String(), errb.String()
}

// serve runs `gatehouse serve` on c's config and environment until ctx
// ends: its log lines arrive on logs, its result on done (buffered, so a
// test that takes it can put it back for its cleanup).
func (c *cli) serve(ctx context.Context) (logs logLines, done chan error) {
	logs, done = make(logLines, 256), make(chan error, 1)
	getenv := func(k string) string { return c.env[k] }
	go func() {
		done <- run(ctx, []string{"serve", "-c", c.cfg}, getenv, strings.NewReader(""), io.Discard, logs)
	}()
	return logs, done
}

// serveInTest starts serve in the background until the test ends, when
// it is stopped and must have returned without error.
func (c *cli) serveInTest() logLines {
	ctx, cancel := context.WithCancel(context.Background())
	logs, done := c.serve(ctx)
	c.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			c.t.Errorf("serve: %v", err)
		}
	})
	return logs
}

// openApp opens the instance c's config describes, as a command does,
// for a test to set up or inspect what the commands cannot; the caller
// closes it (before a command that opens the store itself, on SQLite).
func (c *cli) openApp(t *testing.T) *app.App {
	t.Helper()
	e := &env{configPath: c.cfg, getenv: func(string) string { return "" }, stderr: &bytes.Buffer{}}
	a, err := e.openApp(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("gatehouse %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

const pw = "correct horse battery staple\n"

func TestUserLifecycle(t *testing.T) {
	c := newCLI(t, "")
	out := c.ok(pw, "user", "add", "Alice", "--role", "admin", "--role", "user", "--password-stdin")
	if !strings.Contains(out, "created user Alice") || !strings.Contains(out, "admin,user") {
		t.Fatalf("user add printed %q", out)
	}
	// Usernames are unique case-insensitively.
	if code, _, errOut := c.run(pw, "user", "add", "alice", "--password-stdin"); code == 0 || !strings.Contains(errOut, "already exists") {
		t.Errorf("duplicate user add = %d %q", code, errOut)
	}
	// A name in the form of a user ID, which `audit --user` would read as
	// an ID, is refused with the reason, exit 2.
	if code, _, errOut := c.run(pw, "user", "add", "0123456789abcdef0123456789abcdef", "--password-stdin"); code != 2 || !strings.Contains(errOut, "must not look like a user ID") {
		t.Errorf("ID-form username: exit %d, stderr %q", code, errOut)
	}
	// A weak password is refused with the reason, exit 2.
	if code, _, errOut := c.run("password1\n", "user", "add", "bob", "--password-stdin"); code != 2 || !strings.Contains(errOut, "easy to guess") {
		t.Errorf("weak password: exit %d, stderr %q", code, errOut)
	}
	out = c.ok("", "user", "list")
	if !strings.Contains(out, "Alice") || !strings.Contains(out, "active") {
		t.Errorf("user list = %q", out)
	}
	c.ok("", "user", "disable", "alice")
	if out := c.ok("", "user", "list"); !strings.Contains(out, "disabled") {
		t.Errorf("after disable: %q", out)
	}
	c.ok("", "user", "enable", "ALICE")
	c.ok("another strong passphrase here\n", "user", "passwd", "alice", "--password-stdin")
	if out := c.ok("", "user", "sessions", "alice"); !strings.Contains(out, "0 session(s)") {
		t.Errorf("sessions = %q", out)
	}
	if out := c.ok("", "user", "logout", "alice"); !strings.Contains(out, "logged out") {
		t.Errorf("logout = %q", out)
	}
	c.ok("", "user", "delete", "alice")
	if code, _, errOut := c.run("", "user", "delete", "alice"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("deleting a deleted user: exit %d %q", code, errOut)
	}
}

func TestPasswordNeedsTerminalOrStdinFlag(t *testing.T) {
	c := newCLI(t, "")
	code, _, errOut := c.run(pw, "user", "add", "alice")
	if code != 2 || !strings.Contains(errOut, "--password-stdin") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		env      map[string]string
		code     int
		contains string
	}{
		{"defaults", "", nil, 0, "listen: 127.0.0.1:8080"},
		{"unknown key", "sesions: {}\n", nil, 2, "sesions: unknown key"},
		{"nested unknown key", "sessions: {cookie: {nam: x}}\n", nil, 2, "sessions.cookie.nam: unknown key"},
		{"bad duration", "sessions: {idle_timeout: 10 minutes}\n", nil, 2, "sessions.idle_timeout"},
		{"bad URL", "public_url: not a url\n", nil, 2, "public_url"},
		{"short HS256 secret", "tokens: {algorithm: HS256, hmac_secret: short}\n", nil, 2, "tokens.hmac_secret"},
		{"shadowing routes", "routes:\n- {name: a, match: {path_prefix: /api/}, upstream: 'http://127.0.0.1:1', auth: none}\n- {name: b, match: {path_prefix: /api/}, upstream: 'http://127.0.0.1:2', auth: token}\n", nil, 2, "shadow"},
		{"skip_auth_preflight printed", "routes:\n- {name: api, match: {path_prefix: /api/, methods: [GET]}, upstream: 'http://127.0.0.1:1', auth: token, skip_auth_preflight: true}\n", nil, 0, "skip_auth_preflight: true"},
		{"skip_auth_preflight without effect warned", "routes:\n- {name: pub, match: {path_prefix: /pub/}, upstream: 'http://127.0.0.1:1', auth: none, skip_auth_preflight: true}\n", nil, 0, "routes[0].skip_auth_preflight has no effect"},
		{"env override", "", map[string]string{"GATEHOUSE_LISTEN": "127.0.0.1:9999"}, 0, "listen: 127.0.0.1:9999"},
		{"bad env override", "", map[string]string{"GATEHOUSE_TOKENS_ACCESS_TTL": "soon"}, 2, "GATEHOUSE_TOKENS_ACCESS_TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t, tt.yaml)
			for k, v := range tt.env {
				c.env[k] = v
			}
			code, out, errOut := c.run("", "config", "check")
			if code != tt.code || !strings.Contains(out+errOut, tt.contains) {
				t.Errorf("exit %d (want %d)\nstdout %s\nstderr %s\nwant %q", code, tt.code, out, errOut, tt.contains)
			}
			if tt.code == 2 && strings.Count(strings.TrimSpace(errOut), "\n") > 2 {
				t.Errorf("expected one sentence, got %q", errOut)
			}
		})
	}
}

func TestConfigCheckMasksSecrets(t *testing.T) {
	secret := strings.Repeat("s3cr3t-", 6)
	c := newCLI(t, "tokens: {algorithm: HS256}\nredis: {url: 'redis://:hunter2@127.0.0.1:6379/0'}\n")
	c.env["GATEHOUSE_TOKENS_HMAC_SECRET"] = secret
	_, out, errOut := c.run("", "config", "check")
	if strings.Contains(out+errOut, secret) || strings.Contains(out+errOut, "hunter2") {
		t.Fatalf("config check printed a secret:\n%s%s", out, errOut)
	}
	if !strings.Contains(out, "hmac_secret: '********'") && !strings.Contains(out, `hmac_secret: "********"`) {
		t.Errorf("masked secret not shown: %s", out)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	c := newCLI(t, "")
	for _, args := range [][]string{{"nope"}, {"user", "add"}, {"serve", "--bogus"}, {"token", "issue"}} {
		if code, _, _ := c.run("", args...); code != 2 {
			t.Errorf("gatehouse %v: exit %d, want 2", args, code)
		}
	}
}

func TestVersion(t *testing.T) {
	c := newCLI(t, "")
	if out := c.ok("", "version"); !strings.HasPrefix(out, "gatehouse ") {
		t.Errorf("version = %q", out)
	}
}

func TestKeysAndTokenCommands(t *testing.T) {
	c := newCLI(t, "")
	c.ok(pw, "user", "add", "alice", "--role", "user", "--password-stdin")
	list := c.ok("", "keys", "list")
	if !strings.Contains(list, "ES256") || !strings.Contains(list, "active") {
		t.Fatalf("keys list = %q", list)
	}
	jwks := c.ok("", "keys", "jwks")
	if !strings.Contains(jwks, `"kty":"EC"`) || strings.Contains(jwks, `"d":`) {
		t.Fatalf("keys jwks = %q", jwks)
	}
	tok := strings.TrimSpace(c.ok("", "token", "issue", "--user", "alice", "--ttl", "5m"))
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("token issue printed %q", tok)
	}
	out := c.ok("", "token", "verify", tok)
	if !strings.Contains(out, `"valid": true`) || !strings.Contains(out, `"username": "alice"`) {
		t.Errorf("token verify = %s", out)
	}

	rotated := c.ok("", "keys", "rotate")
	if !strings.Contains(rotated, "new signing key") {
		t.Fatalf("keys rotate = %q", rotated)
	}
	list = c.ok("", "keys", "list")
	if !strings.Contains(list, "verifying") {
		t.Errorf("after rotate the old key should still verify: %q", list)
	}
	// A token signed before the rotation still verifies.
	c.ok("", "token", "verify", tok)

	// A tampered token fails, naming the check, exit 1.
	parts := strings.Split(tok, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	code, out, errOut := c.run("", "token", "verify", tampered)
	if code != 1 || !strings.Contains(out+errOut, "failed") {
		t.Errorf("tampered token: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := c.run("", "token", "issue", "--user", "nobody"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("issue for unknown user: exit %d %q", code, errOut)
	}
	if code, _, _ := c.run("", "token", "issue", "--user", "alice", "--ttl", "soon"); code != 2 {
		t.Errorf("bad --ttl: exit %d, want 2", code)
	}
}

// TestMigrate: the first migrate of a fresh store says what it applied,
// the second that there was nothing to do, at the same version.
func TestMigrate(t *testing.T) {
	c := newCLI(t, "")
	var n, from, to int64
	first := c.ok("", "migrate")
	if _, err := fmt.Sscanf(first, "applied %d migrations: schema version %d → %d", &n, &from, &to); err != nil || from != 0 || to < 1 || n != to {
		t.Fatalf("migrate of a fresh store = %q (%v), want \"applied N migrations: schema version 0 → N\"", first, err)
	}
	if out, want := c.ok("", "migrate"), fmt.Sprintf("store is up to date (schema version %d)\n", to); out != want {
		t.Errorf("second migrate = %q, want %q", out, want)
	}
}

func TestAuditCommand(t *testing.T) {
	c := newCLI(t, "")
	c.ok(pw, "user", "add", "alice", "--password-stdin")
	c.ok(pw, "user", "add", "bob", "--password-stdin")
	c.ok("", "user", "disable", "bob")
	out := c.ok("", "audit")
	if !strings.Contains(out, "user.created") || !strings.Contains(out, "user.disabled") {
		t.Fatalf("audit = %q", out)
	}
	if strings.Index(out, "user.disabled") > strings.Index(out, "user.created") {
		t.Errorf("audit is not newest first:\n%s", out)
	}
	out = c.ok("", "audit", "--user", "alice")
	if strings.Contains(out, "bob") || !strings.Contains(out, "alice") {
		t.Errorf("audit --user alice = %q", out)
	}
	out = c.ok("", "audit", "--type", "user.disabled", "--limit", "5")
	if strings.Contains(out, "user.created") || !strings.Contains(out, "user.disabled") {
		t.Errorf("audit --type user.disabled = %q", out)
	}
	if strings.Contains(c.ok("", "audit"), strings.TrimSpace(pw)) {
		t.Error("the audit trail shows a password")
	}
}

// The table of `gatehouse audit` shows values a client chose — the name of
// a refused login — quoted when they hold a line break, a tab, a space or a
// terminal escape: such a name cannot add a forged row or column, nor
// drive the operator's terminal.
// --user takes a name or an ID, as the admin API's audit filter does: a
// deleted user's events are found by its ID, and a name nobody has is an
// error, not an empty table.
func TestAuditCommandUserByNameOrID(t *testing.T) {
	c := newCLI(t, "")
	c.ok(pw, "user", "add", "carol", "--password-stdin")
	a := c.openApp(t)
	u, err := a.Users.Get(context.Background(), "carol")
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	c.ok("", "user", "delete", "carol")
	out := c.ok("", "audit", "--user", strings.ToUpper(u.ID))
	if !strings.Contains(out, "user.created") || !strings.Contains(out, "user.deleted") {
		t.Errorf("audit --user <deleted carol's ID> = %q, want her created and deleted events", out)
	}
	if code, _, errOut := c.run("", "audit", "--user", "carol"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("audit --user <a name nobody has> = exit %d %q, want 1 and not found", code, errOut)
	}
}

func TestAuditCommandQuotesClientValues(t *testing.T) {
	c := newCLI(t, "")
	forged := "eve\n2026-01-01T00:00:00Z  login.ok  admin  10.0.0.1  method=password\x1b[2J"
	a := c.openApp(t)
	if _, err := a.Users.Login(context.Background(), user.Attempt{Username: forged, Password: "wrong password", IP: "192.0.2.1", Via: "json"}); err == nil {
		t.Fatal("login of an unknown user succeeded")
	}
	a.Close()
	out := c.ok("", "audit")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.ContainsRune(out, '\x1b') || !strings.Contains(out, `"eve\n2026`) {
		t.Errorf("audit with a forged username, want the header and one row with the name quoted:\n%s", out)
	}
}

// `user list` and `user sessions` show values an identity provider or a
// browser chose — a linked identity's email or subject, a session's
// User-Agent (HTTP lets it carry a tab and any UTF-8, C1 controls and
// bidirectional overrides included) — quoted when they hold anything not
// graphic: they cannot add a forged row, nor drive the operator's terminal.
func TestUserTablesQuoteClientValues(t *testing.T) {
	c := newCLI(t, "")
	c.ok(pw, "user", "add", "alice", "--password-stdin")
	ctx := context.Background()
	a := c.openApp(t)
	u, err := a.Users.Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	forgedRow := "eve@corp.example\nmallory  0123  admin  active  2026-01-01T00:00:00Z  -\x1b[2J"
	if err := a.Users.Link(ctx, user.Identity{Issuer: "https://idp.example", Subject: "s1", Provider: "corp", Email: forgedRow}, u); err != nil {
		t.Fatal(err)
	}
	const agent = "Mozilla/5.0\t\u009b2J\u202eevil"
	if _, _, err := a.Sessions.Create(ctx, u.ID, session.Meta{IP: "192.0.2.1", UserAgent: agent, Method: "password"}); err != nil {
		t.Fatal(err)
	}
	a.Close()

	for _, tt := range []struct {
		args []string
		rows int // lines, header and footer included
	}{
		{[]string{"user", "list"}, 2},
		{[]string{"user", "sessions", "alice"}, 3},
	} {
		out := c.ok("", tt.args...)
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != tt.rows {
			t.Errorf("gatehouse %s: %d lines, want %d:\n%s", strings.Join(tt.args, " "), len(lines), tt.rows, out)
		}
		if strings.ContainsAny(out, "\x1b\u009b\u202e") {
			t.Errorf("gatehouse %s prints a terminal control or bidirectional override as it is:\n%q", strings.Join(tt.args, " "), out)
		}
	}
}

// TestUserAddRefusesInvalidRole: a role that X-Auth-Roles cannot carry (a
// control character) is a usage error, exit 2, and stderr names the role.
func TestUserAddRefusesInvalidRole(t *testing.T) {
	c := newCLI(t, "")
	for i, role := range []string{"a\x01b", "ad\u200bmin"} {
		code, _, errOut := c.run(pw, "user", "add", "bob"+strconv.Itoa(i), "--role", role, "--password-stdin")
		if code != 2 || !strings.Contains(errOut, "role") {
			t.Errorf("user add --role %q: exit %d, stderr %q; want exit 2 naming the role", role, code, errOut)
		}
	}
}

// `gatehouse audit --since --until` bound the listing as the admin API's
// since (inclusive) and until (exclusive) do, in RFC 3339 (docs/admin.md's
// parity table promised them; the command refused them as unknown flags).
func TestAuditCommandTimeRange(t *testing.T) {
	c := newCLI(t, "")
	c.ok(pw, "user", "add", "alice", "--password-stdin")
	past, future := "2000-01-01T00:00:00Z", "2999-01-01T00:00:00+02:00"
	tests := []struct {
		name string
		args []string
		want bool // user.created listed
	}{
		{"since the past", []string{"--since", past}, true},
		{"since the future", []string{"--since", future}, false},
		{"until the future", []string{"--until", future}, true},
		{"until the past", []string{"--until", past}, false},
		{"both", []string{"--since", past, "--until", future}, true},
	}
	for _, tt := range tests { // c reports to t: no subtests
		out := c.ok("", append([]string{"audit"}, tt.args...)...)
		if got := strings.Contains(out, "user.created"); got != tt.want {
			t.Errorf("%s: audit %v lists user.created: %v, want %v\n%s", tt.name, tt.args, got, tt.want, out)
		}
	}
	for _, bad := range []string{"yesterday", "2026-01-02", "2026-01-02 15:04:05"} {
		if code, _, errOut := c.run("", "audit", "--since", bad); code != 2 || !strings.Contains(errOut, "RFC 3339") {
			t.Errorf("audit --since %q: exit %d %q, want 2 naming RFC 3339", bad, code, errOut)
		}
	}
}

// `gatehouse user logout` writes the event the admin API's "sign out
// everywhere" writes (docs/admin.md, parity table): session.revoked with
// sessions=all, so one `--type session.revoked` query finds both. It wrote
// logout, the type of a user's own sign-out.
func TestUserLogoutAuditsSessionRevoked(t *testing.T) {
	c := newCLI(t, "")
	c.ok(pw, "user", "add", "alice", "--password-stdin")
	c.ok("", "user", "logout", "alice")
	out := c.ok("", "audit", "--type", "session.revoked", "--user", "alice")
	if !strings.Contains(out, "session.revoked") || !strings.Contains(out, "sessions=all") || !strings.Contains(out, "via=cli") {
		t.Errorf("audit --type session.revoked after user logout:\n%s", out)
	}
	if out := c.ok("", "audit", "--type", "logout"); strings.Contains(out, "alice") {
		t.Errorf("user logout recorded as the user's own logout:\n%s", out)
	}
}
