package token_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
)

// IssueAccess is `gatehouse token issue`: a lone access token, audited by
// the grants service itself (cmd writes no audit event).
func TestIssueAccessIssuesALoneAuditedToken(t *testing.T) {
	e := newEnv(t, keys.ES256)
	u := e.users.get(t, "u-alice")
	raw, err := e.grants.IssueAccess(t.Context(), u, "gatehouse-cli", 5*time.Minute, "cli")
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.verifier.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Subject != u.ID || p.SessionID == "" {
		t.Errorf("principal = %+v, want subject %s and a sid of its own", p, u.ID)
	}
	if got := e.audit.count(audit.TokenIssued); got != 1 {
		t.Errorf("token.issued events = %d, want 1", got)
	}
	u.Disabled = true
	if _, err := e.grants.IssueAccess(t.Context(), u, "gatehouse-cli", time.Minute, "cli"); !errors.Is(err, auth.ErrDisabled) {
		t.Errorf("IssueAccess for a disabled user = %v, want ErrDisabled", err)
	}
}
