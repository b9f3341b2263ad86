package main

import (
	"os/exec"
	"testing"
)

// The systemd unit that docs/deploy.md tells operators to install is
// hardened: systemd-analyze security rates it at most 2.0 (issue 11). The
// check reads the unit from the page itself, so the page cannot drift.
func TestDocumentedSystemdUnitIsHardened(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "../../scripts/check-systemd-unit.sh", "docs/deploy.md").CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/check-systemd-unit.sh: %v\n%s", err, out)
	}
}
