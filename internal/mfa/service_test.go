package mfa_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

type fixture struct {
	store *sqlite.Store
	clock *clocktest.Clock
	user  auth.User
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	u := auth.User{ID: "u1", Username: "alice", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return fixture{store: s, clock: clocktest.New(time.Date(2030, 1, 1, 12, 0, 10, 0, time.UTC)), user: u}
}

// service is one gatehouse instance over the fixture's shared store.
func (f fixture) service(t *testing.T) *mfa.Service {
	t.Helper()
	sl, err := seal.New(mfa.SealKey("an encryption key of at least 32 bytes!"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return mfa.NewService(f.store, f.store, mfa.WithSealer(sl), mfa.WithClock(f.clock.Now))
}

// enrolledAndPast is a user with a confirmed TOTP, the clock past the step
// of the confirmation code, so that the next code the test sends is fresh.
func enrolledAndPast(t *testing.T) (fixture, *mfa.Service, string) {
	t.Helper()
	f := newFixture(t)
	s := f.service(t)
	secret := enrolled(t, f, s)
	f.clock.Advance(2 * time.Minute)
	return f, s, secret
}

func enrolled(t *testing.T, f fixture, s *mfa.Service) string {
	t.Helper()
	ctx := context.Background()
	e, err := s.EnrolTOTP(ctx, f.user)
	if err != nil {
		t.Fatalf("EnrolTOTP: %v", err)
	}
	if !strings.HasPrefix(e.OTPAuthURI, "otpauth://totp/") || !strings.HasPrefix(e.QRSVG, "<svg") {
		t.Fatalf("enrolment = %q, %.20q", e.OTPAuthURI, e.QRSVG)
	}
	if err := s.VerifyTOTP(ctx, f.user.ID, mfatest.TOTPCode(t, e.Secret, f.clock.Now())); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("VerifyTOTP before confirmation = %v, want ErrInvalidCode", err)
	}
	if err := s.ConfirmTOTP(ctx, f.user.ID, "000000"); !errors.Is(err, mfa.ErrInvalidCode) && mfatest.TOTPCode(t, e.Secret, f.clock.Now()) != "000000" {
		t.Fatalf("ConfirmTOTP(wrong) = %v, want ErrInvalidCode", err)
	}
	if err := s.ConfirmTOTP(ctx, f.user.ID, mfatest.TOTPCode(t, e.Secret, f.clock.Now())); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	return e.Secret
}

func TestTOTPCodes(t *testing.T) {
	tests := []struct {
		name   string
		offset time.Duration // of the code's time from the server's
		want   error
	}{
		{"CurrentStep", 0, nil},
		{"PreviousStep", -30 * time.Second, nil},
		{"NextStep", 30 * time.Second, nil},
		{"TwoStepsOld", -60 * time.Second, mfa.ErrInvalidCode},
		{"TwoStepsAhead", 60 * time.Second, mfa.ErrInvalidCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, s, secret := enrolledAndPast(t)
			err := s.VerifyTOTP(context.Background(), f.user.ID, mfatest.TOTPCode(t, secret, f.clock.Now().Add(tt.offset)))
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("VerifyTOTP = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestTOTPReplayRefusedOnAnotherInstance(t *testing.T) {
	f := newFixture(t)
	a, b := f.service(t), f.service(t)
	secret := enrolled(t, f, a)
	ctx := context.Background()
	if err := a.VerifyTOTP(ctx, f.user.ID, mfatest.TOTPCode(t, secret, f.clock.Now())); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("the confirmation code again = %v, want ErrInvalidCode (used up)", err)
	}
	f.clock.Advance(30 * time.Second)
	c := mfatest.TOTPCode(t, secret, f.clock.Now())
	if err := a.VerifyTOTP(ctx, f.user.ID, c); err != nil {
		t.Fatalf("VerifyTOTP on A: %v", err)
	}
	if err := b.VerifyTOTP(ctx, f.user.ID, c); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("same code on B = %v, want ErrInvalidCode", err)
	}
	if err := b.VerifyTOTP(ctx, f.user.ID, mfatest.TOTPCode(t, secret, f.clock.Now().Add(-30*time.Second))); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("older code after a newer one = %v, want ErrInvalidCode", err)
	}
}

// totpUse is one code sent in a test: the server's clock moves by advance
// first, the code is the one for the server's time plus offset, and ok says
// whether it is accepted.
type totpUse struct {
	advance, offset time.Duration
	ok              bool
}

// The edges of the ±1 step window: a code accepted at step N is refused
// at N+1 although it is still inside the window there, and a code of the
// next step (an app whose clock runs ahead) used at N makes the current
// step's code, and its own again at N+1, replays too; the step after it
// is accepted.
func TestTOTPWindowEdgesEachCodeOnce(t *testing.T) {
	tests := []struct {
		name  string
		steps []totpUse
	}{
		{"SameCodeAtTheNextStep", []totpUse{{0, 0, true}, {30 * time.Second, -30 * time.Second, false}, {0, 0, true}}},
		{"NextStepsCodeFirst", []totpUse{{0, 30 * time.Second, true}, {0, 0, false}, {30 * time.Second, 0, false}, {0, 30 * time.Second, true}}},
		{"PreviousStepAfterCurrent", []totpUse{{0, 0, true}, {0, -30 * time.Second, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, s, secret := enrolledAndPast(t)
			for i, st := range tt.steps {
				f.clock.Advance(st.advance)
				err := s.VerifyTOTP(context.Background(), f.user.ID, mfatest.TOTPCode(t, secret, f.clock.Now().Add(st.offset)))
				if st.ok && err != nil || !st.ok && !errors.Is(err, mfa.ErrInvalidCode) {
					t.Fatalf("code %d (clock +%v, code at %+v) = %v, want accepted %v", i, st.advance, st.offset, err, st.ok)
				}
			}
		})
	}
}

func TestRecoveryCodes(t *testing.T) {
	f := newFixture(t)
	s := f.service(t)
	ctx := context.Background()
	codes, err := s.NewRecoveryCodes(ctx, f.user.ID)
	if err != nil || len(codes) != mfa.RecoveryCodeCount {
		t.Fatalf("NewRecoveryCodes = %d codes, %v", len(codes), err)
	}
	if fs, _ := s.Factors(ctx, f.user.ID); fs.Enrolled() {
		t.Fatalf("recovery codes alone count as a factor: %+v", fs)
	}
	// Without a real factor a code is refused, and not spent.
	if _, err := s.Verify(ctx, f.user.ID, mfa.MethodRecovery, codes[0]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("recovery code without a factor = %v, want ErrInvalidCode", err)
	}
	enrolled(t, f, s)
	if _, err := s.Verify(ctx, f.user.ID, mfa.MethodRecovery, strings.ToUpper(codes[0])); err != nil {
		t.Fatalf("first use (any case): %v", err)
	}
	if _, err := s.Verify(ctx, f.user.ID, mfa.MethodRecovery, codes[0]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("second use = %v, want ErrInvalidCode", err)
	}
	fresh, err := s.NewRecoveryCodes(ctx, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, f.user.ID, mfa.MethodRecovery, codes[1]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("code of the replaced set = %v, want ErrInvalidCode", err)
	}
	if _, err := s.Verify(ctx, f.user.ID, mfa.MethodRecovery, fresh[9]); err != nil {
		t.Fatalf("code of the new set: %v", err)
	}
}

// A recovery code pasted from a document or a password manager, with
// no-break spaces, typographic dashes or fullwidth characters, is the
// same code.
// TestTOTPCodeSpellings: authenticator apps show a code as "123 456", and a
// phone keyboard may type fullwidth digits; the code is read as its six
// digits (as a recovery code is), while a wrong code stays wrong.
func TestTOTPCodeSpellings(t *testing.T) {
	fullwidth := func(c string) string {
		return strings.Map(func(r rune) rune { return r - '0' + '\uff10' }, c)
	}
	tests := []struct {
		name  string
		spell func(string) string
	}{
		{"grouped with a space", func(c string) string { return c[:3] + " " + c[3:] }},
		{"grouped with a no-break space", func(c string) string { return c[:3] + "\u00a0" + c[3:] }},
		{"grouped with a dash", func(c string) string { return c[:3] + "-" + c[3:] }},
		{"spaces around", func(c string) string { return " " + c + "\t" }},
		{"fullwidth digits", fullwidth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, s, secret := enrolledAndPast(t)
			c := mfatest.TOTPCode(t, secret, f.clock.Now())
			if err := s.VerifyTOTP(context.Background(), f.user.ID, tt.spell(c)); err != nil {
				t.Fatalf("VerifyTOTP(%q) = %v, want the code accepted", tt.spell(c), err)
			}
			f.clock.Advance(30 * time.Second)
			wrong := mfatest.TOTPCode(t, secret, f.clock.Now().Add(5*time.Minute))
			if err := s.VerifyTOTP(context.Background(), f.user.ID, tt.spell(wrong)); !errors.Is(err, mfa.ErrInvalidCode) {
				t.Fatalf("a wrong code spelt %q = %v, want ErrInvalidCode", tt.spell(wrong), err)
			}
		})
	}
}

func TestRecoveryCodePastedSpellings(t *testing.T) {
	f := newFixture(t)
	s := f.service(t)
	ctx := context.Background()
	enrolled(t, f, s)
	codes, err := s.NewRecoveryCodes(ctx, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	fullwidth := func(c string) string {
		return strings.Map(func(r rune) rune { return r - '!' + '\uff01' }, c) // '-' becomes U+FF0D
	}
	dashes := func(sep string) func(string) string {
		return func(c string) string { return strings.ReplaceAll(c, "-", sep) }
	}
	tests := []struct {
		name  string
		spell func(string) string
	}{
		{"no-break spaces", dashes("\u00a0")},
		{"narrow no-break spaces", dashes("\u202f")},
		{"en dashes", dashes("\u2013")},
		{"em dashes", dashes("\u2014")},
		{"minus signs", dashes("\u2212")},
		{"ideographic spaces around", func(c string) string { return "\u3000" + c + "\u00a0" }},
		{"zero-width spaces", dashes("\u200b")},
		{"fullwidth", fullwidth},
		{"fullwidth upper case", func(c string) string { return fullwidth(strings.ToUpper(c)) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Verify(ctx, f.user.ID, mfa.MethodRecovery, tt.spell(codes[i])); err != nil {
				t.Fatalf("Verify(%q) = %v, want the code accepted", tt.spell(codes[i]), err)
			}
			if _, err := s.Verify(ctx, f.user.ID, mfa.MethodRecovery, codes[i]); !errors.Is(err, mfa.ErrInvalidCode) {
				t.Fatalf("the same code again = %v, want ErrInvalidCode (spent)", err)
			}
		})
	}
	// Normalising does not make a wrong code right.
	c := codes[len(tests)]
	other := "a"
	if strings.HasSuffix(c, other) {
		other = "b"
	}
	wrong := "\u00a0" + strings.ReplaceAll(c[:len(c)-1], "-", "\u2013") + other
	if _, err := s.Verify(ctx, f.user.ID, mfa.MethodRecovery, wrong); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("Verify(%q) = %v, want ErrInvalidCode", wrong, err)
	}
}

// Recovery codes back up a real factor: removing the last one (TOTP or
// passkey, whichever goes last) removes them; one that remains keeps them.
func TestRemovingLastFactorDeletesRecoveryCodes(t *testing.T) {
	ctx := context.Background()
	key := mfa.Credential{ID: []byte("key-1"), Name: "YubiKey", Kind: mfa.AMRHardware, Data: []byte("{}"), CreatedAt: time.Now()}
	left := func(t *testing.T, f fixture, s *mfa.Service) int {
		t.Helper()
		fs, err := s.Factors(ctx, f.user.ID)
		if err != nil {
			t.Fatalf("Factors: %v", err)
		}
		return fs.RecoveryLeft
	}
	tests := []struct {
		name    string
		passkey bool
		steps   []removal // each removes one factor
		want    []int     // codes left after each step
	}{
		{"TOTPOnly", false, []removal{deleteTOTP}, []int{0}},
		{"TOTPThenPasskey", true, []removal{deleteTOTP, deletePasskey(key.ID)}, []int{10, 0}},
		{"PasskeyThenTOTP", true, []removal{deletePasskey(key.ID), deleteTOTP}, []int{10, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			s := f.service(t)
			p, err := mfa.NewPasskeys(f.store, mfa.RelyingParty{ID: "localhost", Origin: "http://localhost:8080", Name: "gatehouse"}, make([]byte, 32), false, f.clock.Now)
			if err != nil {
				t.Fatalf("NewPasskeys: %v", err)
			}
			enrolled(t, f, s)
			if tt.passkey {
				k := key
				k.UserID = f.user.ID
				if err := f.store.AddCredential(ctx, k); err != nil {
					t.Fatalf("AddCredential: %v", err)
				}
			}
			if _, err := s.NewRecoveryCodes(ctx, f.user.ID); err != nil {
				t.Fatalf("NewRecoveryCodes: %v", err)
			}
			for i, step := range tt.steps {
				if err := step(s, p, f.user.ID); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got, want := left(t, f, s), tt.want[i]; got != want {
					t.Fatalf("after step %d: %d recovery codes left, want %d", i, got, want)
				}
			}
		})
	}
}

// removal removes one factor of userID.
type removal func(s *mfa.Service, p *mfa.Passkeys, userID string) error

func deleteTOTP(s *mfa.Service, _ *mfa.Passkeys, userID string) error {
	return s.DeleteTOTP(context.Background(), userID)
}

func deletePasskey(id []byte) removal {
	return func(_ *mfa.Service, p *mfa.Passkeys, userID string) error {
		return p.Delete(context.Background(), userID, mfa.CredentialID(id))
	}
}

func TestEnrolmentRefusedWithoutEncryptionKey(t *testing.T) {
	f := newFixture(t)
	s := mfa.NewService(f.store, f.store)
	_, err := s.EnrolTOTP(context.Background(), f.user)
	if !errors.Is(err, mfa.ErrNoEncryptionKey) || !strings.Contains(err.Error(), "keys.encryption_key") {
		t.Fatalf("EnrolTOTP without key = %v, want ErrNoEncryptionKey naming keys.encryption_key", err)
	}
}

func TestSecretSealedAtRest(t *testing.T) {
	f := newFixture(t)
	s := f.service(t)
	e, err := s.EnrolTOTP(context.Background(), f.user)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := f.store.TOTP(context.Background(), f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored.Secret), e.Secret) {
		t.Fatal("the stored TOTP secret contains the plain secret")
	}
}

func TestMayChangeFactors(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		amr     []string
		loginAt time.Time
		want    bool
	}{
		{"FreshPasswordLogin", []string{"pwd"}, now.Add(-4 * time.Minute), true},
		{"OldPasswordLogin", []string{"pwd"}, now.Add(-6 * time.Minute), false},
		{"OldLoginWithSecondFactor", []string{"pwd", "otp", "mfa"}, now.Add(-time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mfa.MayChangeFactors(tt.amr, tt.loginAt, now); got != tt.want {
				t.Fatalf("MayChangeFactors = %v, want %v", got, tt.want)
			}
		})
	}
}

// PendingTOTP shows an enrolment again exactly as EnrolTOTP returned it
// (the app has scanned that key), to the page that has its proof, until it
// is confirmed, and never after.
func TestPendingTOTPUntilConfirmed(t *testing.T) {
	f := newFixture(t)
	s := f.service(t)
	ctx := context.Background()
	if _, err := s.PendingTOTP(ctx, f.user, ""); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Fatalf("PendingTOTP before enrolment = %v, want ErrNotEnrolled", err)
	}
	e, err := s.EnrolTOTP(ctx, f.user)
	if err != nil {
		t.Fatalf("EnrolTOTP: %v", err)
	}
	again, err := s.PendingTOTP(ctx, f.user, e.Proof)
	if err != nil {
		t.Fatalf("PendingTOTP: %v", err)
	}
	if again != e {
		t.Fatalf("PendingTOTP = %+v, want what EnrolTOTP returned %+v", again, e)
	}
	// Only to the page that showed it: without its proof, or with the
	// proof of an enrolment that a newer one replaced, no key.
	for _, proof := range []string{"", e.Proof[1:]} {
		if got, err := s.PendingTOTP(ctx, f.user, proof); !errors.Is(err, mfa.ErrNotEnrolled) || got.Secret != "" {
			t.Fatalf("PendingTOTP with proof %q = %q, %v; want no secret and ErrNotEnrolled", proof, got.Secret, err)
		}
	}
	newer, err := s.EnrolTOTP(ctx, f.user)
	if err != nil {
		t.Fatalf("EnrolTOTP again: %v", err)
	}
	if got, err := s.PendingTOTP(ctx, f.user, e.Proof); !errors.Is(err, mfa.ErrNotEnrolled) || got.Secret != "" {
		t.Fatalf("PendingTOTP with the replaced enrolment's proof = %q, %v; want no secret and ErrNotEnrolled", got.Secret, err)
	}
	e = newer
	if err := s.ConfirmTOTP(ctx, f.user.ID, mfatest.TOTPCode(t, e.Secret, f.clock.Now())); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	if got, err := s.PendingTOTP(ctx, f.user, e.Proof); !errors.Is(err, mfa.ErrNotEnrolled) || got.Secret != "" {
		t.Fatalf("PendingTOTP after confirmation = %q, %v; want no secret and ErrNotEnrolled", got.Secret, err)
	}
}
