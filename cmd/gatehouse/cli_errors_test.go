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
