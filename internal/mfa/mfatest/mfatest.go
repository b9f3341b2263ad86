package mfatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// at is a fixed time with microsecond precision, the finest every store keeps.
var at = time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)

// RunStoreTests runs the mfa.Store conformance suite. newStore must return
// an empty store of its own and register its cleanup with t.Cleanup.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) mfa.Store) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[mfa.Store]{
		{Name: "PutThenGetReturnsEveryField", Run: testTOTPRoundTrip},
		{Name: "PutReplacesAnUnconfirmedTOTP", Run: testTOTPReplace},
		{Name: "PutNeverReplacesAConfirmedTOTP", Run: testTOTPKeepsConfirmed},
		{Name: "ConcurrentPutsOfUnconfirmedTOTPsAllSucceed", Run: testTOTPPutConcurrent},
		{Name: "MissingTOTPIsNotFound", Run: testTOTPMissing},
		{Name: "ConfirmNeedsTheSameEnrolment", Run: testTOTPConfirm},
		{Name: "DeleteTOTP", Run: testTOTPDelete},
		{Name: "RecoveryCodeWorksOnce", Run: testRecoveryOnce},
		{Name: "RecoveryCodesAreReplacedWhole", Run: testRecoveryReplace},
		{Name: "ConcurrentReplacesLeaveOneSet", Run: testRecoveryReplaceConcurrent},
		{Name: "RecoveryCodeOfAnotherUserIsNotFound", Run: testRecoveryOtherUser},
		{Name: "ConcurrentRecoveryUseExactlyOneWins", Run: testRecoveryConcurrent},
		{Name: "DeleteUserRemovesTheirFactors", Run: testDeleteUserCascade},
		{Name: "CredentialRoundTripAndOrder", Run: testCredentialRoundTrip},
		{Name: "CredentialIDIsUnique", Run: testCredentialUnique},
		{Name: "CredentialOfMissingUserIsNotFound", Run: testCredentialNoUser},
		{Name: "CredentialsAtMostMaxPasskeysEvenAtOnce", Run: testCredentialCap},
		{Name: "CredentialSignCountOnlyMovesForward", Run: testCredentialUse},
		{Name: "ConcurrentCredentialUseExactlyOneWins", Run: testCredentialUseConcurrent},
		{Name: "DeleteCredentialOnlyTheOwners", Run: testCredentialDelete},
		{Name: "DeleteUserRemovesTheirCredentials", Run: testCredentialCascade},
		{Name: "ChallengeIsUsedOnce", Run: testChallengeOnce},
		{Name: "ConcurrentChallengeUseExactlyOneWins", Run: testChallengeConcurrent},
	})
}

// RunStepStoreTests runs the mfa.StepStore conformance suite.
func RunStepStoreTests(t *testing.T, newStore func(t *testing.T) mfa.StepStore) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[mfa.StepStore]{
		{Name: "EachStepIsAcceptedOnce", Run: testStepOnce},
		{Name: "ConcurrentSameStepExactlyOneWins", Run: testStepConcurrent},
		{Name: "ConcurrentStepsNeverMoveBack", Run: testStepsConcurrent},
	})
}

func testTOTPRoundTrip(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	want := mfa.TOTP{UserID: "u1", Secret: []byte{0, 1, 2, 0xff, 'x'}, CreatedAt: at}
	if err := s.PutTOTP(ctx, want); err != nil {
		t.Fatalf("PutTOTP: %v", err)
	}
	got, err := s.TOTP(ctx, "u1")
	if err != nil {
		t.Fatalf("TOTP: %v", err)
	}
	if got.UserID != want.UserID || !bytes.Equal(got.Secret, want.Secret) || !got.CreatedAt.Equal(at) || got.Confirmed() {
		t.Fatalf("TOTP = %+v, want %+v", got, want)
	}
}

func testTOTPReplace(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	if err := s.PutTOTP(ctx, mfa.TOTP{UserID: "u1", Secret: []byte("old"), CreatedAt: at}); err != nil {
		t.Fatalf("PutTOTP: %v", err)
	}
	if err := s.PutTOTP(ctx, mfa.TOTP{UserID: "u1", Secret: []byte("new"), CreatedAt: at.Add(time.Second)}); err != nil {
		t.Fatalf("PutTOTP again: %v", err)
	}
	got, err := s.TOTP(ctx, "u1")
	if err != nil || string(got.Secret) != "new" || got.Confirmed() {
		t.Fatalf("TOTP = %+v, %v; want the new, unconfirmed one", got, err)
	}
}

// A new enrolment that raced a confirmation (EnrolTOTP read the pending
// secret, then another tab confirmed it) must not replace the now active
// factor with an unconfirmed one: the user would be left with a password
// only, believing they had a second factor.
func testTOTPKeepsConfirmed(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	if err := s.PutTOTP(ctx, mfa.TOTP{UserID: "u1", Secret: []byte("old"), CreatedAt: at}); err != nil {
		t.Fatalf("PutTOTP: %v", err)
	}
	if err := s.ConfirmTOTP(ctx, "u1", at, at.Add(time.Second)); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	if err := s.PutTOTP(ctx, mfa.TOTP{UserID: "u1", Secret: []byte("new"), CreatedAt: at.Add(2 * time.Second)}); !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("PutTOTP over a confirmed TOTP = %v, want ErrConflict", err)
	}
	got, err := s.TOTP(ctx, "u1")
	if err != nil || string(got.Secret) != "old" || !got.Confirmed() {
		t.Fatalf("TOTP = %+v, %v; want the confirmed one kept", got, err)
	}
}

// Two enrolments of one user at once (a double-click on "Set up an
// authenticator app", two tabs) both replace an unconfirmed TOTP: neither
// may be refused as if a confirmed one were there (ErrConflict, "TOTP is
// already active"), and one of them is what is left, unconfirmed.
func testTOTPPutConcurrent(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.PutTOTP(ctx, mfa.TOTP{UserID: "u1", Secret: []byte{byte(i)}, CreatedAt: at.Add(time.Duration(i) * time.Second)}); err != nil {
				t.Errorf("concurrent PutTOTP %d of an unconfirmed TOTP: %v", i, err)
			}
		})
	}
	wg.Wait()
	got, err := s.TOTP(ctx, "u1")
	if err != nil || len(got.Secret) != 1 || got.Confirmed() || !got.CreatedAt.Equal(at.Add(time.Duration(got.Secret[0])*time.Second)) {
		t.Fatalf("TOTP after concurrent puts = %+v, %v; want one of them, unconfirmed", got, err)
	}
}

func testTOTPMissing(t *testing.T, s mfa.Store) {
	if _, err := s.TOTP(context.Background(), "nobody"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("TOTP(missing) = %v, want ErrNotFound", err)
	}
}

func testTOTPConfirm(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	if err := s.PutTOTP(ctx, mfa.TOTP{UserID: "u1", Secret: []byte("k"), CreatedAt: at}); err != nil {
		t.Fatalf("PutTOTP: %v", err)
	}
	if err := s.ConfirmTOTP(ctx, "u1", at.Add(time.Microsecond), at); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("ConfirmTOTP(other enrolment) = %v, want ErrNotFound", err)
	}
	if err := s.ConfirmTOTP(ctx, "u1", at, at.Add(time.Minute)); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	got, err := s.TOTP(ctx, "u1")
	if err != nil || !got.ConfirmedAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("TOTP = %+v, %v; want confirmed at %v", got, err, at.Add(time.Minute))
	}
	if err := s.ConfirmTOTP(ctx, "u1", at, at); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("ConfirmTOTP twice = %v, want ErrNotFound", err)
	}
}

func testTOTPDelete(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	if err := s.DeleteTOTP(ctx, "u1"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("DeleteTOTP(missing) = %v, want ErrNotFound", err)
	}
	if err := s.PutTOTP(ctx, mfa.TOTP{UserID: "u1", Secret: []byte("k"), CreatedAt: at}); err != nil {
		t.Fatalf("PutTOTP: %v", err)
	}
	if err := s.DeleteTOTP(ctx, "u1"); err != nil {
		t.Fatalf("DeleteTOTP: %v", err)
	}
	if _, err := s.TOTP(ctx, "u1"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("TOTP after delete = %v, want ErrNotFound", err)
	}
}

func hashes(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

func left(t *testing.T, s mfa.Store, userID string) int {
	t.Helper()
	n, err := s.RecoveryCodesLeft(context.Background(), userID)
	if err != nil {
		t.Fatalf("RecoveryCodesLeft: %v", err)
	}
	return n
}

func testRecoveryOnce(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	if err := s.ReplaceRecoveryCodes(ctx, "u1", hashes("a", 10), at); err != nil {
		t.Fatalf("ReplaceRecoveryCodes: %v", err)
	}
	if n := left(t, s, "u1"); n != 10 {
		t.Fatalf("left = %d, want 10", n)
	}
	if err := s.UseRecoveryCode(ctx, "u1", "a-03", at); err != nil {
		t.Fatalf("UseRecoveryCode: %v", err)
	}
	if err := s.UseRecoveryCode(ctx, "u1", "a-03", at); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("UseRecoveryCode again = %v, want ErrNotFound", err)
	}
	if err := s.UseRecoveryCode(ctx, "u1", "nope", at); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("UseRecoveryCode(unknown) = %v, want ErrNotFound", err)
	}
	if n := left(t, s, "u1"); n != 9 {
		t.Fatalf("left = %d, want 9", n)
	}
}

func testRecoveryReplace(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	if err := s.ReplaceRecoveryCodes(ctx, "u1", hashes("a", 10), at); err != nil {
		t.Fatalf("ReplaceRecoveryCodes: %v", err)
	}
	if err := s.ReplaceRecoveryCodes(ctx, "u1", hashes("b", 10), at); err != nil {
		t.Fatalf("ReplaceRecoveryCodes again: %v", err)
	}
	if err := s.UseRecoveryCode(ctx, "u1", "a-00", at); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("old code after replace = %v, want ErrNotFound", err)
	}
	if err := s.UseRecoveryCode(ctx, "u1", "b-00", at); err != nil {
		t.Fatalf("new code: %v", err)
	}
	if err := s.DeleteRecoveryCodes(ctx, "u1"); err != nil {
		t.Fatalf("DeleteRecoveryCodes: %v", err)
	}
	if n := left(t, s, "u1"); n != 0 {
		t.Fatalf("left after delete = %d, want 0", n)
	}
}

// testRecoveryReplaceConcurrent: regenerating recovery codes twice at once
// (a double submit, two tabs) leaves one of the sets, never both: the user
// keeps the set shown last, and a set they never kept must not work.
func testRecoveryReplaceConcurrent(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	for round := range 5 {
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				set := fmt.Sprintf("r%d-%d", round, i)
				if err := s.ReplaceRecoveryCodes(ctx, "u1", hashes(set, 10), at); err != nil {
					t.Errorf("ReplaceRecoveryCodes(%s): %v", set, err)
				}
			})
		}
		wg.Wait()
		if n := left(t, s, "u1"); n != 10 {
			t.Fatalf("round %d: %d codes left after 4 concurrent replaces of 10, want 10 (one set)", round, n)
		}
	}
}

func testRecoveryOtherUser(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	storetest.EnsureUser(t, s, "u2", at)
	ctx := context.Background()
	if err := s.ReplaceRecoveryCodes(ctx, "u1", hashes("a", 10), at); err != nil {
		t.Fatalf("ReplaceRecoveryCodes: %v", err)
	}
	if err := s.UseRecoveryCode(ctx, "u2", "a-00", at); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("u1's code used as u2 = %v, want ErrNotFound", err)
	}
}

func testRecoveryConcurrent(t *testing.T, s mfa.Store) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	if err := s.ReplaceRecoveryCodes(ctx, "u1", hashes("a", 10), at); err != nil {
		t.Fatalf("ReplaceRecoveryCodes: %v", err)
	}
	exactlyOneWins(t, "use of one recovery code", func() (bool, error) {
		err := s.UseRecoveryCode(ctx, "u1", "a-05", at)
		if errors.Is(err, auth.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	})
}

// exactlyOneWins runs try from storetest.Workers goroutines released at
// once and fails unless exactly one of them wins.
func exactlyOneWins(t *testing.T, what string, try func() (bool, error)) {
	t.Helper()
	var wins atomic.Int32
	storetest.Together(storetest.Workers, func(int) {
		won, err := try()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
		if won {
			wins.Add(1)
		}
	})
	if wins.Load() != 1 {
		t.Fatalf("%d of %d concurrent attempts (%s) succeeded, want exactly 1", wins.Load(), storetest.Workers, what)
	}
}

func testDeleteUserCascade(t *testing.T, s mfa.Store) {
	us, ok := s.(user.Store)
	if !ok {
		return
	}
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	if err := s.PutTOTP(ctx, mfa.TOTP{UserID: "u1", Secret: []byte("k"), CreatedAt: at}); err != nil {
		t.Fatalf("PutTOTP: %v", err)
	}
	if err := s.ReplaceRecoveryCodes(ctx, "u1", hashes("a", 10), at); err != nil {
		t.Fatalf("ReplaceRecoveryCodes: %v", err)
	}
	if err := us.DeleteUser(ctx, "u1"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.TOTP(ctx, "u1"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("TOTP of deleted user = %v, want ErrNotFound", err)
	}
	if n := left(t, s, "u1"); n != 0 {
		t.Fatalf("recovery codes of deleted user = %d, want 0", n)
	}
}

func testStepOnce(t *testing.T, s mfa.StepStore) {
	storetest.EnsureUser(t, s, "u1", at)
	storetest.EnsureUser(t, s, "u2", at)
	ctx := context.Background()
	keep := time.Now().Add(2 * time.Minute)
	steps := []struct {
		user string
		step int64
		want bool
	}{
		{"u1", 1000, true},
		{"u1", 1000, false}, // replay
		{"u1", 999, false},  // older code after a newer one
		{"u1", 1001, true},
		{"u2", 1000, true}, // users are independent
		{"u2", 1000, false},
	}
	for i, st := range steps {
		got, err := s.AcceptTOTPStep(ctx, st.user, st.step, keep)
		if err != nil {
			t.Fatalf("#%d AcceptTOTPStep(%s, %d): %v", i, st.user, st.step, err)
		}
		if got != st.want {
			t.Fatalf("#%d AcceptTOTPStep(%s, %d) = %v, want %v", i, st.user, st.step, got, st.want)
		}
	}
}

func testStepConcurrent(t *testing.T, s mfa.StepStore) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	exactlyOneWins(t, "acceptance of one TOTP step", func() (bool, error) {
		return s.AcceptTOTPStep(ctx, "u1", 5000, time.Now().Add(time.Minute))
	})
}

// testStepsConcurrent: codes of neighbouring steps (the ±1 window) sent at
// once, each several times. However they interleave, no step is accepted
// twice, the latest step is accepted exactly once (nothing at or after it
// came before), and afterwards every one of them is refused: the stored
// step only moves forward, so an earlier step landing last cannot reopen a
// later one.
func testStepsConcurrent(t *testing.T, s mfa.StepStore) {
	storetest.EnsureUser(t, s, "u1", at)
	ctx := context.Background()
	const first, steps = 7000, 4
	keep := time.Now().Add(time.Minute)
	var accepted [steps]atomic.Int32
	storetest.Together(storetest.Workers, func(i int) {
		step := i % steps
		ok, err := s.AcceptTOTPStep(ctx, "u1", first+int64(step), keep)
		if err != nil {
			t.Errorf("AcceptTOTPStep(%d): %v", first+step, err)
		}
		if ok {
			accepted[step].Add(1)
		}
	})
	for step := range steps {
		if n := accepted[step].Load(); n > 1 {
			t.Errorf("step %d accepted %d times, want at most once", first+step, n)
		}
	}
	if n := accepted[steps-1].Load(); n != 1 {
		t.Errorf("latest step %d accepted %d times, want exactly once", first+steps-1, n)
	}
	for step := range steps {
		if ok, err := s.AcceptTOTPStep(ctx, "u1", first+int64(step), keep); ok || err != nil {
			t.Errorf("AcceptTOTPStep(%d) after the race = %v, %v; want refused", first+step, ok, err)
		}
	}
}
