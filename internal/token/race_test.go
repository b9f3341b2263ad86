package token_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// paused is the real refresh store of env with a pause at one point of a
// call, where the test runs what another instance does meanwhile: the
// interleavings of a refresh and a revocation on two instances, in the
// order a lock wait or a stalled process gives them.
type paused struct {
	token.RefreshStore
	beforeRevoke func() // before a family revocation reaches the store
	afterRotate  func() // after a rotation has committed
}

func (p *paused) RevokeFamily(ctx context.Context, family string, now time.Time) error {
	p.beforeRevoke()
	return p.RefreshStore.RevokeFamily(ctx, family, now)
}

func (p *paused) RevokeUserFamilies(ctx context.Context, userID string, now time.Time) ([]token.Family, error) {
	p.beforeRevoke()
	return p.RefreshStore.RevokeUserFamilies(ctx, userID, now)
}

func (p *paused) RevokeClientFamilies(ctx context.Context, clientID string, now time.Time) ([]token.Family, error) {
	p.beforeRevoke()
	return p.RefreshStore.RevokeClientFamilies(ctx, clientID, now)
}

func (p *paused) RotateRefresh(ctx context.Context, hash string, now time.Time, next token.Refresh) (token.Refresh, error) {
	old, err := p.RefreshStore.RotateRefresh(ctx, hash, now, next)
	p.afterRotate()
	return old, err
}

// A refresh on one instance racing a revocation of its family on another
// must not hand out an access token that outlives the revocation: the
// family's sid stays denied for as long as any token the family got is
// unexpired, whichever instance's step lands between the other's. Before,
// the sid denial was timed from a clock read before the revocation reached
// the store, and the refreshed token from one read after the rotation, so
// a refresh committed in between (the revocation waiting for the family's
// row lock, or the refreshing process paused before signing) gave a token
// valid for that long after its sid was forgotten.
func TestRefreshRacingRevocationNeverOutlivesIt(t *testing.T) {
	const stall = 1500 * time.Millisecond // a lock wait, a GC pause: across a second boundary
	revocations := []struct {
		name   string
		revoke func(ctx context.Context, g *token.Grants, p token.Pair) error
	}{
		{"revoke the refresh token", func(ctx context.Context, g *token.Grants, p token.Pair) error {
			return g.Revoke(ctx, p.RefreshToken, "refresh_token")
		}},
		{"revoke the grant", func(ctx context.Context, g *token.Grants, p token.Pair) error {
			return g.RevokeGrant(ctx, "u-alice", p.Claims.SessionID, "session_ended")
		}},
		{"revoke the user", func(ctx context.Context, g *token.Grants, _ token.Pair) error {
			return g.RevokeUser(ctx, "u-alice")
		}},
		{"revoke the client", func(ctx context.Context, g *token.Grants, _ token.Pair) error {
			return g.RevokeClient(ctx, "spa", "")
		}},
	}
	for _, rv := range revocations {
		t.Run(rv.name+", refresh committed while the revocation waits", func(t *testing.T) {
			e := newEnv(t, keys.ES256)
			first := start(t, e, "u-alice")
			var got token.Pair
			st := &paused{RefreshStore: e.refresh, afterRotate: func() {}}
			st.beforeRevoke = func() {
				st.beforeRevoke = func() {}
				e.clock.Advance(stall)
				got = refresh(t, e, first.RefreshToken) // the other instance
			}
			revoker := e.grantsOver(st)
			if err := rv.revoke(t.Context(), revoker, first); err != nil {
				t.Fatal(err)
			}
			e.wantDeadUntilExpiry(t, got)
		})
		t.Run(rv.name+", refresh signed after the revocation", func(t *testing.T) {
			e := newEnv(t, keys.ES256)
			first := start(t, e, "u-alice")
			st := &paused{RefreshStore: e.refresh, beforeRevoke: func() {}}
			st.afterRotate = func() {
				if err := rv.revoke(t.Context(), e.grants, first); err != nil { // the other instance
					t.Error(err)
				}
				e.clock.Advance(stall)
			}
			got, err := e.grantsOver(st).Refresh(t.Context(), first.RefreshToken)
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			e.wantDeadUntilExpiry(t, got)
		})
	}
}

// grantsOver is another instance's Grants: e's settings over store.
func (e *env) grantsOver(store token.RefreshStore) *token.Grants {
	return token.NewGrants(e.issuer, store, e.users.store, e.deny,
		token.WithTTL(accessTTL), token.WithLeeway(leeway), token.WithClock(e.clock.Now))
}

// wantDeadUntilExpiry checks that p's family is revoked and that p's
// access token is refused up to the last moment it would be accepted
// (exp + leeway).
func (e *env) wantDeadUntilExpiry(t *testing.T, p token.Pair) {
	t.Helper()
	_, err := e.grants.Refresh(t.Context(), p.RefreshToken)
	wantGrantErr(t, err, auth.ErrRevoked)
	last := p.Claims.ExpiresAt.Add(leeway - time.Millisecond)
	e.clock.Advance(last.Sub(e.clock.Now()))
	if _, err := e.verifier.Verify(t.Context(), p.AccessToken); !errors.Is(err, auth.ErrRevoked) {
		t.Errorf("access token of the revoked family at exp + leeway - 1ms: err = %v, want ErrRevoked", err)
	}
}
