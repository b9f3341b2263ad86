package token_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

func start(t *testing.T, e *env, userID string) token.Pair {
	t.Helper()
	p, err := e.grants.Start(t.Context(), e.users.get(t, userID), "spa", "openid")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return p
}

func refresh(t *testing.T, e *env, rt string) token.Pair {
	t.Helper()
	p, err := e.grants.Refresh(t.Context(), rt)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return p
}

func wantGrantErr(t *testing.T, err, cause error) {
	t.Helper()
	if !errors.Is(err, token.ErrInvalidGrant) || !errors.Is(err, cause) {
		t.Fatalf("err = %v, want ErrInvalidGrant and %v", err, cause)
	}
}

func TestStartIssuesPair(t *testing.T) {
	e := newEnv(t, keys.ES256)
	p := start(t, e, "u-alice")
	raw, err := base64.RawURLEncoding.Strict().DecodeString(p.RefreshToken)
	if err != nil || len(raw) != 32 {
		t.Errorf("refresh token decodes to %d bytes (err %v), want 32", len(raw), err)
	}
	if got, want := p.ExpiresIn, int(accessTTL/time.Second); got != want {
		t.Errorf("ExpiresIn = %d, want %d", got, want)
	}
	pr, err := e.verifier.Verify(t.Context(), p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if pr.SessionID == "" || pr.SessionID != p.Claims.SessionID || p.Scope != "openid" || p.Claims.ClientID != "spa" {
		t.Errorf("pair = %+v / principal %+v: want sid = family, scope and client_id carried", p.Claims, pr)
	}
	if got := e.audit.count(audit.TokenIssued); got != 1 {
		t.Errorf("token.issued events = %d, want 1", got)
	}
}

func TestRefreshTokenStoredOnlyHashed(t *testing.T) {
	e := newEnv(t, keys.ES256)
	p := start(t, e, "u-alice")
	if _, err := e.refresh.Refresh(t.Context(), p.RefreshToken); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("store lookup by the raw token err = %v, want ErrNotFound (only the hash is stored)", err)
	}
	sum := sha256.Sum256([]byte(p.RefreshToken))
	r, err := e.refresh.Refresh(t.Context(), base64.RawURLEncoding.EncodeToString(sum[:]))
	if err != nil {
		t.Fatalf("store lookup by SHA-256: %v", err)
	}
	if r.FamilyID != p.Claims.SessionID || r.UserID != "u-alice" {
		t.Errorf("stored record = %+v", r)
	}
}

func TestStartRefusesDisabledUser(t *testing.T) {
	e := newEnv(t, keys.ES256)
	u := e.users.get(t, "u-alice")
	u.Disabled = true
	_, err := e.grants.Start(t.Context(), u, "spa", "")
	wantGrantErr(t, err, auth.ErrDisabled)
}

func TestRefreshRotates(t *testing.T) {
	e := newEnv(t, keys.ES256)
	first := start(t, e, "u-alice")
	e.clock.Advance(time.Minute)
	second := refresh(t, e, first.RefreshToken)
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("refresh returned the same tokens")
	}
	if got, want := second.Claims.SessionID, first.Claims.SessionID; got != want {
		t.Errorf("sid after refresh = %q, want the family %q", got, want)
	}
	if _, err := e.verifier.Verify(t.Context(), second.AccessToken); err != nil {
		t.Errorf("new access token: %v", err)
	}
	_, err := e.grants.Refresh(t.Context(), first.RefreshToken)
	wantGrantErr(t, err, auth.ErrReused)
	if got := e.audit.count(audit.TokenRefreshed); got != 1 {
		t.Errorf("token.refreshed events = %d, want 1", got)
	}
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	e := newEnv(t, keys.RS256)
	first := start(t, e, "u-alice")
	second := refresh(t, e, first.RefreshToken)
	third := refresh(t, e, second.RefreshToken)
	other := start(t, e, "u-alice") // another family of the same user

	_, err := e.grants.Refresh(t.Context(), first.RefreshToken) // replay: attacker or victim
	wantGrantErr(t, err, auth.ErrReused)

	_, err = e.grants.Refresh(t.Context(), third.RefreshToken)
	wantGrantErr(t, err, auth.ErrRevoked)
	for name, at := range map[string]string{"first": first.AccessToken, "third": third.AccessToken} {
		if _, err := e.verifier.Verify(t.Context(), at); !errors.Is(err, auth.ErrRevoked) {
			t.Errorf("%s access token of the reused family: err = %v, want ErrRevoked", name, err)
		}
	}
	if _, err := e.verifier.Verify(t.Context(), other.AccessToken); err != nil {
		t.Errorf("access token of another family: %v", err)
	}
	refresh(t, e, other.RefreshToken)
	if got := e.audit.count(audit.RefreshReuse); got != 1 {
		t.Errorf("token.refresh_reuse events = %d, want 1", got)
	}
}

func TestRefreshConcurrentExactlyOne(t *testing.T) {
	e := newEnv(t, keys.EdDSA)
	p := start(t, e, "u-alice")
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	pairs := make([]token.Pair, n)
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-gate
			pairs[i], errs[i] = e.grants.Refresh(context.Background(), p.RefreshToken)
		})
	}
	close(gate)
	wg.Wait()
	ok := 0
	var won token.Pair
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			won = pairs[i]
		case !errors.Is(err, token.ErrInvalidGrant):
			t.Errorf("loser err = %v, want ErrInvalidGrant", err)
		}
	}
	if ok != 1 {
		t.Fatalf("successful concurrent refreshes = %d, want exactly 1", ok)
	}
	// A loser presented a used token: reuse, so the family dies, the
	// winner's tokens with it (docs/tokens.md: no grace window).
	if got := e.audit.count(audit.RefreshReuse); got == 0 {
		t.Error("token.refresh_reuse events = 0, want the losers' reuse recorded")
	}
	_, err := e.grants.Refresh(t.Context(), won.RefreshToken)
	wantGrantErr(t, err, auth.ErrRevoked)
	if _, err := e.verifier.Verify(t.Context(), won.AccessToken); !errors.Is(err, auth.ErrRevoked) {
		t.Errorf("the winner's access token: err = %v, want ErrRevoked", err)
	}
}

func TestRefreshIdleExpiry(t *testing.T) {
	e := newEnv(t, keys.ES256, token.WithRefreshIdleTTL(time.Hour), token.WithRefreshTTL(24*time.Hour))
	p := start(t, e, "u-alice")
	e.clock.Advance(time.Hour - time.Second)
	p = refresh(t, e, p.RefreshToken)
	e.clock.Advance(time.Hour)
	_, err := e.grants.Refresh(t.Context(), p.RefreshToken)
	wantGrantErr(t, err, auth.ErrExpired)
}

func TestRefreshAbsoluteExpiry(t *testing.T) {
	e := newEnv(t, keys.ES256, token.WithRefreshIdleTTL(time.Hour), token.WithRefreshTTL(3*time.Hour))
	p := start(t, e, "u-alice")
	for range 3 { // 50m, 1h40m, 2h30m: each within idle, all before the absolute end
		e.clock.Advance(50 * time.Minute)
		p = refresh(t, e, p.RefreshToken)
	}
	// The newest token was issued at 2h30m; its idle end (3h30m) is capped
	// at the family's absolute end (3h).
	e.clock.Advance(30 * time.Minute)
	_, err := e.grants.Refresh(t.Context(), p.RefreshToken)
	wantGrantErr(t, err, auth.ErrExpired)
}

func TestRefreshUsesCurrentUser(t *testing.T) {
	e := newEnv(t, keys.ES256)
	p := start(t, e, "u-alice")
	e.users.update(t, "u-alice", func(u *auth.User) { u.Username, u.Roles = "alice2", []string{"user", "admin"} })
	p = refresh(t, e, p.RefreshToken)
	pr, err := e.verifier.Verify(t.Context(), p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Username != "alice2" || !slices.Equal(pr.Roles, []string{"user", "admin"}) {
		t.Errorf("principal after refresh = %+v, want the current username and roles", pr)
	}
}

func TestRefreshRefusesDisabledOrDeletedUser(t *testing.T) {
	t.Run("disabled", func(t *testing.T) {
		e := newEnv(t, keys.ES256)
		p := start(t, e, "u-alice")
		e.users.update(t, "u-alice", func(u *auth.User) { u.Disabled = true })
		_, err := e.grants.Refresh(t.Context(), p.RefreshToken)
		wantGrantErr(t, err, auth.ErrRevoked)
		if _, err := e.verifier.Verify(t.Context(), p.AccessToken); !errors.Is(err, auth.ErrRevoked) {
			t.Errorf("access token after a disabled user's refresh: err = %v, want ErrRevoked", err)
		}
	})
	t.Run("deleted", func(t *testing.T) {
		e := newEnv(t, keys.ES256)
		p := start(t, e, "u-alice")
		if err := e.users.store.DeleteUser(t.Context(), "u-alice"); err != nil {
			t.Fatal(err)
		}
		// SQL stores cascade the user's families away: the token is unknown.
		_, err := e.grants.Refresh(t.Context(), p.RefreshToken)
		if !errors.Is(err, token.ErrInvalidGrant) {
			t.Fatalf("err = %v, want ErrInvalidGrant", err)
		}
	})
}

// A disabled user's access token is stateless and lives until RevokeUser
// (called by `user disable` / `user logout`) denies its sid.
func TestRevokeUser(t *testing.T) {
	e := newEnv(t, keys.ES256)
	e.users.add(t, "u-bob", "bob")
	a1, a2, b := start(t, e, "u-alice"), start(t, e, "u-alice"), start(t, e, "u-bob")
	e.users.update(t, "u-alice", func(u *auth.User) { u.Disabled = true })
	if _, err := e.verifier.Verify(t.Context(), a1.AccessToken); err != nil {
		t.Fatalf("before RevokeUser the access token still verifies: %v", err)
	}
	if err := e.grants.RevokeUser(t.Context(), "u-alice"); err != nil {
		t.Fatal(err)
	}
	for i, p := range []token.Pair{a1, a2} {
		if _, err := e.verifier.Verify(t.Context(), p.AccessToken); !errors.Is(err, auth.ErrRevoked) {
			t.Errorf("alice access token %d: err = %v, want ErrRevoked", i, err)
		}
		_, err := e.grants.Refresh(t.Context(), p.RefreshToken)
		wantGrantErr(t, err, auth.ErrRevoked)
	}
	if _, err := e.verifier.Verify(t.Context(), b.AccessToken); err != nil {
		t.Errorf("bob's access token: %v", err)
	}
	refresh(t, e, b.RefreshToken)
}

func TestRevoke(t *testing.T) {
	for _, hint := range []string{"", "refresh_token", "access_token"} {
		t.Run("refresh token hint="+hint, func(t *testing.T) {
			e := newEnv(t, keys.ES256)
			p := start(t, e, "u-alice")
			if err := e.grants.Revoke(t.Context(), p.RefreshToken, hint); err != nil {
				t.Fatal(err)
			}
			_, err := e.grants.Refresh(t.Context(), p.RefreshToken)
			wantGrantErr(t, err, auth.ErrRevoked)
			if _, err := e.verifier.Verify(t.Context(), p.AccessToken); !errors.Is(err, auth.ErrRevoked) {
				t.Errorf("access token of a revoked family: err = %v, want ErrRevoked", err)
			}
		})
		t.Run("access token hint="+hint, func(t *testing.T) {
			e := newEnv(t, keys.ES256)
			p := start(t, e, "u-alice")
			if err := e.grants.Revoke(t.Context(), p.AccessToken, hint); err != nil {
				t.Fatal(err)
			}
			if _, err := e.verifier.Verify(t.Context(), p.AccessToken); !errors.Is(err, auth.ErrRevoked) {
				t.Errorf("revoked access token: err = %v, want ErrRevoked", err)
			}
			next := refresh(t, e, p.RefreshToken) // the family lives on
			if _, err := e.verifier.Verify(t.Context(), next.AccessToken); err != nil {
				t.Errorf("fresh access token after revoking another jti: %v", err)
			}
		})
	}
	e := newEnv(t, keys.ES256)
	p := start(t, e, "u-alice")
	foreign := newEnv(t, keys.ES256)
	foreignAT, _ := foreign.issue(t)
	for name, tok := range map[string]string{
		"garbage": "not-a-token", "empty": "", "unknown refresh": strings.Repeat("A", 43),
		"foreign access token": foreignAT, "huge": strings.Repeat("a", 20000),
	} {
		t.Run(name, func(t *testing.T) {
			if err := e.grants.Revoke(t.Context(), tok, ""); err != nil {
				t.Fatalf("Revoke(%s) = %v, want nil (RFC 7009 2.2)", name, err)
			}
		})
	}
	if _, err := e.verifier.Verify(t.Context(), p.AccessToken); err != nil {
		t.Errorf("unrelated revocations hit alice's token: %v", err)
	}
	t.Run("expired access token", func(t *testing.T) {
		e.clock.Advance(accessTTL + leeway)
		if err := e.grants.Revoke(t.Context(), p.AccessToken, "access_token"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRefreshGarbage(t *testing.T) {
	e := newEnv(t, keys.ES256)
	for _, rt := range []string{"", "abc", strings.Repeat("A", 43), strings.Repeat("A", 44), strings.Repeat("*", 43)} {
		_, err := e.grants.Refresh(t.Context(), rt)
		wantGrantErr(t, err, auth.ErrNotFound)
	}
}

// failingStore simulates a refresh store that stopped answering.
type failingStore struct{ token.RefreshStore }

func (failingStore) Refresh(context.Context, string) (token.Refresh, error) {
	return token.Refresh{}, fmt.Errorf("refresh: dial tcp: %w", auth.ErrUnavailable)
}

func TestRefreshStoreDownIsUnavailable(t *testing.T) {
	e := newEnv(t, keys.ES256)
	p := start(t, e, "u-alice")
	g := token.NewGrants(e.issuer, failingStore{e.refresh}, e.users.store, e.deny)
	_, err := g.Refresh(t.Context(), p.RefreshToken)
	if !errors.Is(err, auth.ErrUnavailable) || errors.Is(err, token.ErrInvalidGrant) {
		t.Fatalf("err = %v, want ErrUnavailable and not invalid_grant", err)
	}
}

// When the deny-list cannot be told about a reuse, the request fails
// closed (503) instead of reporting a plain invalid_grant.
func TestRefreshReuseWithDenyListDown(t *testing.T) {
	e := newEnv(t, keys.ES256)
	p := start(t, e, "u-alice")
	refresh(t, e, p.RefreshToken)
	e.deny.setFail(auth.ErrUnavailable)
	_, err := e.grants.Refresh(t.Context(), p.RefreshToken)
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

// No access token outlives its refresh family: once the family reaches its
// absolute end, RevokeUser (`user disable`, `user logout`) and the
// sessions views no longer find it, so a token of it that still verified
// would survive the user being disabled. The family's last tokens are
// therefore cut to end with it (exp + leeway at the family's end), and a
// refresh too close to the end to give a usable token is refused unused.
func TestAccessTokenEndsWithItsFamily(t *testing.T) {
	const familyTTL = time.Hour
	e := newEnv(t, keys.ES256, token.WithRefreshTTL(familyTTL))
	first := start(t, e, "u-alice")
	end := first.Claims.IssuedAt.Add(familyTTL)

	e.clock.Advance(familyTTL - 2*time.Minute)
	last := refresh(t, e, first.RefreshToken) // the family's last refresh, 2m before its end
	if got, want := last.ExpiresIn, int((2*time.Minute-leeway)/time.Second); got != want {
		t.Errorf("expires_in of the family's last access token = %d, want %d (cut to the family's end)", got, want)
	}
	if exp := last.Claims.ExpiresAt.Time; exp.Add(leeway).After(end) {
		t.Errorf("exp %v + leeway is after the family's end %v", exp, end)
	}

	e.clock.Advance(3 * time.Minute) // the family has ended
	e.users.update(t, "u-alice", func(u *auth.User) { u.Disabled = true })
	if err := e.grants.RevokeUser(t.Context(), "u-alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verifier.Verify(t.Context(), last.AccessToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("access token of an ended family after the user was disabled: err = %v, want refused", err)
	}

	t.Run("refresh within the leeway of the family's end", func(t *testing.T) {
		e := newEnv(t, keys.ES256, token.WithRefreshTTL(familyTTL))
		p := start(t, e, "u-alice")
		e.clock.Advance(familyTTL - leeway/2)
		_, err := e.grants.Refresh(t.Context(), p.RefreshToken)
		wantGrantErr(t, err, auth.ErrExpired)
		if got := e.audit.count(audit.TokenRefreshed); got != 0 {
			t.Errorf("token.refreshed events = %d, want 0", got)
		}
	})
	t.Run("replay within the leeway of the family's end is still reuse", func(t *testing.T) {
		e := newEnv(t, keys.ES256, token.WithRefreshTTL(familyTTL))
		p := start(t, e, "u-alice")
		refresh(t, e, p.RefreshToken)
		e.clock.Advance(familyTTL - leeway/2)
		_, err := e.grants.Refresh(t.Context(), p.RefreshToken)
		wantGrantErr(t, err, auth.ErrReused)
		if got := e.audit.count(audit.RefreshReuse); got != 1 {
			t.Errorf("token.refresh_reuse events = %d, want 1", got)
		}
	})
}

// A scope outside the grant is invalid_scope and leaves the refresh token
// usable; a replayed token is reuse whatever scope it asks for, so that
// an attacker cannot probe a stolen, used token without killing its family.
func TestRefreshScopeRefusalKeepsTokenButNotReplay(t *testing.T) {
	e := newEnv(t, keys.ES256)
	p, err := e.grants.Start(t.Context(), e.users.get(t, "u-alice"), "spa", "openid orders:read")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.grants.RefreshFor(t.Context(), token.RefreshRequest{Token: p.RefreshToken, Scope: "openid orders:write"})
	if !errors.Is(err, auth.ErrInvalidScope) || errors.Is(err, token.ErrInvalidGrant) {
		t.Fatalf("refresh asking for more = %v, want ErrInvalidScope only", err)
	}
	next, err := e.grants.RefreshFor(t.Context(), token.RefreshRequest{Token: p.RefreshToken, Scope: "orders:read"})
	if err != nil || next.Scope != "orders:read" || next.Claims.Scope != "orders:read" {
		t.Fatalf("narrower refresh = %+v, %v; want scope orders:read", next.Claims, err)
	}
	_, err = e.grants.RefreshFor(t.Context(), token.RefreshRequest{Token: p.RefreshToken, Scope: "admin"})
	wantGrantErr(t, err, auth.ErrReused)
	_, err = e.grants.Refresh(t.Context(), next.RefreshToken)
	wantGrantErr(t, err, auth.ErrRevoked)
}

// A refresh token belongs to the registration of its client_id it was
// granted to: another registration of the same client_id (registered again
// after a deletion, or a stored client where a config one was) is refused
// as another client is, without using the token up, so that the
// registration it was granted to can still refresh it.
func TestRefreshOfAnotherClientRegistrationIsRefusedWithoutUsingItUp(t *testing.T) {
	e := newEnv(t, keys.ES256)
	p, err := e.grants.Issue(t.Context(), token.Grant{User: e.users.get(t, "u-alice"), ClientID: "spa", Refresh: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.grants.RefreshFor(t.Context(), token.RefreshRequest{Token: p.RefreshToken, ClientID: "spa", ClientRegistration: "r2"})
	wantGrantErr(t, err, auth.ErrNotFound)
	if _, err := e.grants.RefreshFor(t.Context(), token.RefreshRequest{Token: p.RefreshToken, ClientID: "spa"}); err != nil {
		t.Fatalf("refresh by the registration it was granted to: %v", err)
	}
}

// A family written without a registration by an instance of the previous
// release (a rolling upgrade: old instances serve on the migrated schema)
// keeps refreshing for the stored client registered before it began, and
// for no registration stored after it began (the ID had another owner).
func TestRefreshOfAFamilyWithoutRegistrationDuringARollingUpgrade(t *testing.T) {
	e := newEnv(t, keys.ES256)
	registered := e.clock.Now().Add(-time.Hour)
	p, err := e.grants.Issue(t.Context(), token.Grant{User: e.users.get(t, "u-alice"), ClientID: "spa", Refresh: true})
	if err != nil {
		t.Fatal(err)
	}
	later := token.RefreshRequest{Token: p.RefreshToken, ClientID: "spa", ClientRegistration: "r2", ClientRegisteredAt: e.clock.Now().Add(time.Second)}
	_, err = e.grants.RefreshFor(t.Context(), later)
	wantGrantErr(t, err, auth.ErrNotFound)
	before := token.RefreshRequest{Token: p.RefreshToken, ClientID: "spa", ClientRegistration: "r1", ClientRegisteredAt: registered}
	if _, err := e.grants.RefreshFor(t.Context(), before); err != nil {
		t.Fatalf("refresh by the registration stored before the family began: %v", err)
	}
}
