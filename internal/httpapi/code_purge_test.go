package httpapi_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// A signed-in user gets a stored authorization code for every authorization
// request, exchanged or not. The purge deletes those that expired
// authserver.CodeKeep ago, and none before: otherwise one browser session
// could grow the code table for ever, and sooner a spent code replayed
// would no longer find the record that makes it revoke its tokens.
func TestUnexchangedCodesArePurgedOnceExpired(t *testing.T) {
	clock := testutil.NewClock()
	g := startApps(t, testutil.WithClock(clock))
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	code := codeFor(t, g, b, "spa", "https://spa.example.com/cb", oauth2.GenerateVerifier(), "openid")
	ctx := context.Background()

	if n, err := g.App.Apps.PurgeExpired(ctx); err != nil || n != 0 {
		t.Fatalf("purge while the code is live = %d, %v; want 0", n, err)
	}
	clock.Advance(authserver.CodeTTL + time.Second)
	if n, err := g.App.Apps.PurgeExpired(ctx); err != nil || n != 0 {
		t.Fatalf("purge just after the code expired = %d, %v; want 0 (kept for replay detection)", n, err)
	}
	clock.Advance(authserver.CodeKeep)
	if n, err := g.App.Apps.PurgeExpired(ctx); err != nil || n != 1 {
		t.Fatalf("purge after the code expired = %d, %v; want the 1 code", n, err)
	}
	if _, err := g.App.Store.RedeemCode(ctx, client.HashSecret(code), clock.Now()); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("expired code after the purge: RedeemCode error = %v, want auth.ErrNotFound (deleted)", err)
	}
}
