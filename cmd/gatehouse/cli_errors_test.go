package main

import (
	"strings"
	"testing"
)

// `audit --limit` takes a positive number, as its error says: 0 is refused
// rather than read as the store's default of 100 events.
func TestAuditLimitMustBePositive(t *testing.T) {
	c := newCLI(t, "")
	for _, limit := range []string{"0", "-1"} {
		t.Run(limit, func(t *testing.T) {
			code, out, errOut := c.run("", "audit", "--limit", limit)
			if code != 2 || out != "" || !strings.Contains(errOut, "--limit must be positive") {
				t.Errorf("audit --limit %s: exit %d, stdout %q, stderr %q; want exit 2 and the reason", limit, code, out, errOut)
			}
		})
	}
	if out := c.ok("", "audit", "--limit", "1"); !strings.HasPrefix(out, "TIME") {
		t.Errorf("audit --limit 1 printed %q", out)
	}
}

// `audit --type` takes an event type (audit.Types): any other string,
// which would match nothing, is refused with exit 2 and the valid types.
func TestAuditTypeMustBeAnEventType(t *testing.T) {
	c := newCLI(t, "")
	for _, typ := range []string{"login.succeeded", "LOGIN.OK", "user"} {
		t.Run(typ, func(t *testing.T) {
			code, out, errOut := c.run("", "audit", "--type", typ)
			if code != 2 || out != "" || !strings.Contains(errOut, "--type "+typ+": not an event type") ||
				!strings.Contains(errOut, "login.ok, login.throttled") || strings.Count(errOut, "\n") != 1 {
				t.Errorf("audit --type %s: exit %d, stdout %q, stderr %q; want exit 2 and one line listing the types", typ, code, out, errOut)
			}
		})
	}
	if out := c.ok("", "audit", "--type", "webauthn.clone_warning"); !strings.HasPrefix(out, "TIME") {
		t.Errorf("audit --type webauthn.clone_warning printed %q", out)
	}
}

// A command called wrongly — a missing required flag, too few or too many
// arguments — exits 2 with one line on stderr that names the command and
// how it is called, not cobra's bare "accepts 1 arg(s), received 0".
func TestUsageErrorsNameTheCommand(t *testing.T) {
	c := newCLI(t, "")
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"client", "add", "svc"}, []string{`"type"`, "gatehouse client add"}},
		{[]string{"user", "add"}, []string{"gatehouse user add NAME", "received 0"}},
		{[]string{"user", "mfa"}, []string{"gatehouse user mfa NAME", "received 0"}},
		{[]string{"token", "verify", "a", "b"}, []string{"gatehouse token verify [TOKEN | -]", "received 2"}},
		{[]string{"client", "show"}, []string{"gatehouse client show ID"}},
		{[]string{"explain"}, []string{`"url" not set`, "gatehouse explain --method M --url U"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := c.run("", tt.args...)
			if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line", code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not name %q", errOut, w)
				}
			}
		})
	}
}

// A command against a Redis that is down fails with exit 1 and one line,
// not go-redis's own dial warnings as JSON lines before it.
func TestRedisDownIsOneLine(t *testing.T) {
	c := newCLI(t, "")
	c.env["GATEHOUSE_REDIS_URL"] = "redis://:s3cr3t-pw@127.0.0.1:1/0"
	code, out, errOut := c.run("", "user", "list")
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "gatehouse: ") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and one line", code, out, errOut)
	}
	if !strings.Contains(errOut, "redis") || !strings.Contains(errOut, "127.0.0.1:1") || strings.Contains(errOut, "s3cr3t-pw") {
		t.Errorf("stderr %q: want redis and its address named, without its password", errOut)
	}
}

// An error names its subject once: the client an unknown ID names, the
// config path that cannot be read (a directory here).
func TestErrorsNameTheirSubjectOnce(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name    string
		cli     *cli
		args    []string
		code    int
		subject string
		want    string
	}{
		{"unknown client", newCLI(t, ""), []string{"client", "delete", "nope"}, 1, `"nope"`, "not found"},
		{"config is a directory", &cli{t: t, cfg: dir}, []string{"config", "check"}, 2, dir, "is a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := tt.cli.run("", tt.args...)
			if code != tt.code || strings.Count(errOut, tt.subject) != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d, %s named once, and %q", code, errOut, tt.code, tt.subject, tt.want)
			}
		})
	}
}

// `audit --since` must come before `--until` (inclusive, exclusive): an
// empty range is refused with exit 2, as the admin API refuses it with
// 400, rather than printed as "no events".
func TestAuditSinceMustBeBeforeUntil(t *testing.T) {
	c := newCLI(t, "")
	for _, tt := range []struct{ since, until string }{
		{"2026-12-02T10:00:00Z", "2026-12-02T09:00:00Z"},
		{"2026-12-02T10:00:00Z", "2026-12-02T11:00:00+01:00"}, // the same instant
	} {
		t.Run(tt.since+" "+tt.until, func(t *testing.T) {
			code, out, errOut := c.run("", "audit", "--since", tt.since, "--until", tt.until)
			if code != 2 || out != "" || !strings.Contains(errOut, "--since must be before --until") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and the reason", code, out, errOut)
			}
		})
	}
	if out := c.ok("", "audit", "--since", "2026-12-02T09:00:00Z", "--until", "2026-12-02T10:00:00Z"); !strings.HasPrefix(out, "TIME") {
		t.Errorf("a range one hour long printed %q", out)
	}
}
