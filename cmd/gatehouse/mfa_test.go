package main

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
)

func TestUserMFAAndReset(t *testing.T) {
	c := newCLI(t, "keys: {encryption_key: 0123456789abcdef0123456789abcdef-cli}\n")
	c.ok(pw, "user", "add", "alice", "--password-stdin")
	if out := c.ok("", "user", "mfa", "alice"); !strings.Contains(out, "totp:           off") || !strings.Contains(out, "0 left") {
		t.Fatalf("user mfa before enrolment = %q", out)
	}
	// Enrol through the same store the CLI reads.
	ctx := context.Background()
	s, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(filepath.Dir(c.cfg), "gh.db"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mfa.NewService(s, s).NewRecoveryCodes(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := session.NewManager(s).StartSession(httptest.NewRecorder(), httptest.NewRequest("POST", "/auth/login", nil), u.ID, "password"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if out := c.ok("", "user", "mfa", "alice"); !strings.Contains(out, "10 left") {
		t.Fatalf("user mfa after recovery codes = %q", out)
	}
	if out := c.ok("", "user", "mfa-reset", "alice"); !strings.Contains(out, "removed every second factor of alice") {
		t.Fatalf("mfa-reset = %q", out)
	}
	if out := c.ok("", "user", "mfa", "alice"); !strings.Contains(out, "0 left") {
		t.Fatalf("user mfa after reset = %q", out)
	}
	if out := c.ok("", "audit", "--limit", "5"); !strings.Contains(out, "mfa.reset") {
		t.Fatalf("audit after reset lacks mfa.reset: %q", out)
	}
	// The reset signed alice out everywhere and names the CLI as actor.
	if out := c.ok("", "user", "sessions", "alice"); !strings.Contains(out, "0 session(s)") {
		t.Errorf("sessions after mfa-reset = %q, want none", out)
	}
	s, err = sqlite.Open(ctx, "sqlite://"+filepath.Join(filepath.Dir(c.cfg), "gh.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.ListAudit(ctx, audit.Filter{Type: audit.MFAReset})
	if err != nil || len(evs) != 1 || evs[0].Details["actor"] != "cli" {
		t.Errorf("mfa.reset events = %+v, %v; want one with actor=cli", evs, err)
	}
}
