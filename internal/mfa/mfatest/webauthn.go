package mfatest

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

func cred(userID string, id byte, created time.Time) mfa.Credential {
	return mfa.Credential{ID: []byte{id, 0, 0xff, id}, UserID: userID, Name: "key " + string(rune('a'+id)),
		Kind: mfa.AMRHardware, Data: []byte(`{"id":"x"}`), SignCount: 7, CreatedAt: created}
}

func creds(t *testing.T, s mfa.Store, userID string) []mfa.Credential {
	t.Helper()
	cs, err := s.Credentials(context.Background(), userID)
	if err != nil {
		t.Fatalf("Credentials(%s): %v", userID, err)
	}
	return cs
}

func testCredentialRoundTrip(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	if got := creds(t, s, "u1"); len(got) != 0 {
		t.Fatalf("Credentials of a new user = %v, want none", got)
	}
	second, first := cred("u1", 2, at.Add(time.Second)), cred("u1", 1, at)
	second.Kind = mfa.AMRSoftware
	for _, c := range []mfa.Credential{second, first} {
		if err := s.AddCredential(ctx, c); err != nil {
			t.Fatalf("AddCredential: %v", err)
		}
	}
	got := creds(t, s, "u1")
	if len(got) != 2 {
		t.Fatalf("Credentials = %d, want 2", len(got))
	}
	for i, want := range []mfa.Credential{first, second} {
		g := got[i]
		if !bytes.Equal(g.ID, want.ID) || g.UserID != want.UserID || g.Name != want.Name || g.Kind != want.Kind ||
			!bytes.Equal(g.Data, want.Data) || g.SignCount != want.SignCount || !g.CreatedAt.Equal(want.CreatedAt) || !g.LastUsedAt.IsZero() {
			t.Fatalf("Credentials[%d] = %+v, want %+v", i, g, want)
		}
	}
}

func testCredentialUnique(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	storetest.EnsureUser(t, s, "u2", at)
	ctx := context.Background()
	if err := s.AddCredential(ctx, cred("u1", 1, at)); err != nil {
		t.Fatalf("AddCredential: %v", err)
	}
	if err := s.AddCredential(ctx, cred("u2", 1, at)); !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("AddCredential(same ID, other user) = %v, want ErrConflict", err)
	}
	if got := creds(t, s, "u2"); len(got) != 0 {
		t.Fatalf("u2 credentials = %d, want 0", len(got))
	}
}

func testCredentialNoUser(t *testing.T, s mfa.Store) {
	if _, ok := s.(user.Store); !ok {
		return
	}
	if err := s.AddCredential(context.Background(), cred("nobody", 1, at)); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("AddCredential(missing user) = %v, want ErrNotFound", err)
	}
}

func testCredentialUse(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	storetest.EnsureUser(t, s, "u2", at)
	ctx := context.Background()
	c := cred("u1", 1, at) // sign count 7
	zero := cred("u1", 2, at)
	zero.SignCount = 0
	for _, c := range []mfa.Credential{c, zero} {
		if err := s.AddCredential(ctx, c); err != nil {
			t.Fatalf("AddCredential: %v", err)
		}
	}
	steps := []struct {
		name  string
		user  string
		id    []byte
		count uint32
		ok    bool
	}{
		{"forward", "u1", c.ID, 8, true},
		{"same count again (clone or replay)", "u1", c.ID, 8, false},
		{"backwards", "u1", c.ID, 3, false},
		{"zero after a counter", "u1", c.ID, 0, false},
		{"another user's credential", "u2", c.ID, 100, false},
		{"unknown credential", "u1", []byte("nope"), 100, false},
		{"far forward", "u1", c.ID, 4_000_000_000, true},
		{"counterless authenticator stays 0", "u1", zero.ID, 0, true},
		{"counterless authenticator again", "u1", zero.ID, 0, true},
	}
	for _, st := range steps {
		err := s.UseCredential(ctx, st.user, st.id, st.count, at.Add(time.Hour))
		if st.ok && err != nil {
			t.Fatalf("%s: UseCredential = %v, want nil", st.name, err)
		}
		if !st.ok && !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("%s: UseCredential = %v, want ErrNotFound", st.name, err)
		}
	}
	got := creds(t, s, "u1")
	if got[0].SignCount != 4_000_000_000 || !got[0].LastUsedAt.Equal(at.Add(time.Hour)) {
		t.Fatalf("after use: %+v, want sign count 4000000000 and last used %v", got[0], at.Add(time.Hour))
	}
}

func testCredentialUseConcurrent(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	c := cred("u1", 1, at)
	if err := s.AddCredential(ctx, c); err != nil {
		t.Fatalf("AddCredential: %v", err)
	}
	exactlyOneWins(t, "use of one signature counter", func() (bool, error) {
		err := s.UseCredential(ctx, "u1", c.ID, 9, at)
		if errors.Is(err, auth.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	})
}

func testCredentialDelete(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	storetest.EnsureUser(t, s, "u2", at)
	ctx := context.Background()
	a, b := cred("u1", 1, at), cred("u1", 2, at)
	for _, c := range []mfa.Credential{a, b} {
		if err := s.AddCredential(ctx, c); err != nil {
			t.Fatalf("AddCredential: %v", err)
		}
	}
	if err := s.DeleteCredential(ctx, "u2", a.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("DeleteCredential(other user's) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteCredential(ctx, "u1", a.ID); err != nil {
		t.Fatalf("DeleteCredential: %v", err)
	}
	if err := s.DeleteCredential(ctx, "u1", a.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("DeleteCredential twice = %v, want ErrNotFound", err)
	}
	if got := creds(t, s, "u1"); len(got) != 1 || !bytes.Equal(got[0].ID, b.ID) {
		t.Fatalf("after delete: %+v, want only the second credential", got)
	}
	if err := s.DeleteCredentials(ctx, "u1"); err != nil {
		t.Fatalf("DeleteCredentials: %v", err)
	}
	if got := creds(t, s, "u1"); len(got) != 0 {
		t.Fatalf("after DeleteCredentials: %d left", len(got))
	}
}

func testCredentialCascade(t *testing.T, s mfa.Store) {
	us, ok := s.(user.Store)
	if !ok {
		return
	}
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	if err := s.AddCredential(ctx, cred("u1", 1, at)); err != nil {
		t.Fatalf("AddCredential: %v", err)
	}
	if err := us.DeleteUser(ctx, "u1"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if got := creds(t, s, "u1"); len(got) != 0 {
		t.Fatalf("credentials of deleted user = %d, want 0", len(got))
	}
}

func testChallengeOnce(t *testing.T, s mfa.Store) {
	ctx := context.Background()
	exp := at.Add(5 * time.Minute)
	steps := []struct {
		digest string
		now    time.Time
		want   bool
	}{
		{"d1", at, true},
		{"d1", at, false}, // replay
		{"d2", at, true},
		{"d1", at.Add(4 * time.Minute), false}, // still remembered before it expires
	}
	for i, st := range steps {
		got, err := s.UseChallenge(ctx, st.digest, exp, st.now)
		if err != nil {
			t.Fatalf("#%d UseChallenge(%s): %v", i, st.digest, err)
		}
		if got != st.want {
			t.Fatalf("#%d UseChallenge(%s) = %v, want %v", i, st.digest, got, st.want)
		}
	}
}

func testChallengeConcurrent(t *testing.T, s mfa.Store) {
	ctx := context.Background()
	exactlyOneWins(t, "finish of one ceremony", func() (bool, error) {
		return s.UseChallenge(ctx, "same", at.Add(time.Minute), at)
	})
}

// testCredentialCap: a user has at most mfa.MaxPasskeys credentials. Adds
// racing for the last places (on any instance) never pass it: the count is
// taken with the add, under the user's lock.
func testCredentialCap(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	storetest.EnsureUser(t, s, "u2", at)
	ctx := context.Background()
	const left = 3 // places left when the race starts
	for i := range mfa.MaxPasskeys - left {
		if err := s.AddCredential(ctx, cred("u1", byte(i), at)); err != nil {
			t.Fatalf("AddCredential %d: %v", i+1, err)
		}
	}
	var added atomic.Int32
	storetest.Together(storetest.Workers, func(i int) {
		err := s.AddCredential(ctx, cred("u1", byte(100+i), at))
		switch {
		case err == nil:
			added.Add(1)
		case !errors.Is(err, mfa.ErrTooManyPasskeys) || !errors.Is(err, auth.ErrConflict):
			t.Errorf("AddCredential past the cap = %v, want ErrTooManyPasskeys (ErrConflict)", err)
		}
	})
	if n := len(creds(t, s, "u1")); n != mfa.MaxPasskeys || added.Load() != left {
		t.Fatalf("%d concurrent adds with %d places left: %d added, %d stored; want %d stored",
			storetest.Workers, left, added.Load(), n, mfa.MaxPasskeys)
	}
	// Another user's count is their own.
	if err := s.AddCredential(ctx, cred("u2", 200, at)); err != nil {
		t.Fatalf("AddCredential of another user: %v", err)
	}
}
