package token_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// TestTokenSizes reports what each algorithm costs on the wire next to a
// session cookie, and checks that a typical token stays far below the
// verifier's size cap. Run with -v to see the table.
func TestTokenSizes(t *testing.T) {
	cookie := "gatehouse=" + strings.Repeat("x", 43)
	t.Logf("%-8s %6s  %s", "alg", "bytes", "Cookie / Authorization header value")
	t.Logf("%-8s %6d  %s", "session", len(cookie), "gatehouse=<43 chars>")
	for _, alg := range algorithms {
		e := newEnv(t, alg)
		raw, _, err := e.issuer.Issue(token.Subject{UserID: "0190f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d8e", Username: "alice",
			Roles: []string{"user"}, ClientID: "spa", SessionID: "Yk2tq3VwX8mN1pL0aB9cDe"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		bearer := "Bearer " + raw
		t.Logf("%-8s %6d  %s", alg, len(bearer), fmt.Sprintf("token %d bytes, %.0fx the cookie", len(raw), float64(len(bearer))/float64(len(cookie))))
		if len(raw) > token.MaxTokenSize/4 {
			t.Errorf("%s token is %d bytes, want a typical token under %d", alg, len(raw), token.MaxTokenSize/4)
		}
	}
}
