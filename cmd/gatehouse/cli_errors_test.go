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
