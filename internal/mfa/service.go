package mfa

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
)

// Method names, as listed in {"mfa_required":true,"methods":[…]} and sent
// as "method" to POST /auth/login/mfa.
const (
	MethodTOTP     = "totp"
	MethodRecovery = "recovery"
)

// RFC 8176 authentication method references.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	AMRMFA      = auth.AMRMFA
	AMRHardware = auth.AMRHardware
	AMRSoftware = auth.AMRSoftware
	AMRUser     = auth.AMRUser
	// AMRExternal marks a login vouched for by an external OpenID
	// provider. RFC 8176 registers no value for a federated login; "ext"
	// is what gatehouse's OIDC sessions already report to apps.
	AMRExternal = "ext"
)

// TOTP parameters of contract section 9: RFC 6238 with SHA-1, 6 digits,
// 30 s steps, one step of skew either way.
const (
	period = 30
	skew   = 1
	digits = otp.DigitsSix
)

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// ReauthWindow is how recent a login must be to change factors without a
// second factor in the session.
const ReauthWindow = 5 * time.Minute

// SpentSkew is how long past its expiry a finished WebAuthn ceremony or an
// ended pending login is remembered as spent (Store.UseChallenge). Each
// instance judges the expiry on its own clock: one whose clock is behind
// still accepts the cookie for that difference, and must still find it
// spent after an instance whose clock is ahead purged what it took for
// expired. Instances' clocks may differ by up to this much.
const SpentSkew = time.Minute

// Service enrols and verifies second factors.
type Service struct {
	store  Store
	steps  StepStore
	sealer *seal.Sealer
	issuer string
	now    func() time.Time
	random io.Reader
}

// Option configures a Service.
type Option func(*Service)

// WithSealer sets the sealer of TOTP secrets. Without one, enrolment is
// refused with ErrNoEncryptionKey (existing factors cannot be opened
// either).
func WithSealer(s *seal.Sealer) Option { return func(svc *Service) { svc.sealer = s } }

// WithIssuer sets the issuer shown by authenticator apps, the otpauth
// URI's issuer parameter and label prefix (mfa.totp_issuer; default
// "gatehouse", which "" keeps). The name must not contain ':', which ends
// the label's issuer; config validates it.
func WithIssuer(name string) Option {
	return func(s *Service) {
		if name != "" {
			s.issuer = name
		}
	}
}

// WithClock sets the clock (tests move time instead of sleeping).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// NewService returns a Service over store, remembering accepted TOTP steps
// in steps (the same SQL store, or Redis when configured).
func NewService(store Store, steps StepStore, opts ...Option) *Service {
	s := &Service{store: store, steps: steps, issuer: "gatehouse", now: time.Now, random: rand.Reader}
	for _, o := range opts {
		o(s)
	}
	return s
}

// SealKey derives the TOTP sealing key from keys.encryption_key, so that
// instances sharing the configuration share it and it differs from every
// other key derived from the same secret.
func SealKey(encryptionKey string) []byte {
	sum := sha256.Sum256([]byte("gatehouse-mfa-totp\x00" + encryptionKey))
	return sum[:]
}

// Enrolment is what a user needs to add the TOTP to an authenticator app.
type Enrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
	QRSVG      string `json:"qr_svg"`
	// Proof names this enrolment to the page that shows it: PendingTOTP
	// shows the enrolment again only to a request that sends Proof back.
	// A digest of the user and the secret, it tells nothing the page does
	// not show.
	Proof string `json:"-"`
}

// enrolmentProof is the Proof of userID's enrolment of secret (base32).
func enrolmentProof(userID, secret string) string {
	sum := sha256.Sum256([]byte("gatehouse-totp-enrolment\x00" + userID + "\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// secretAD binds a sealed secret to its user: a row copied to another user
// does not open.
func secretAD(userID string) []byte { return []byte("gatehouse-totp\x00" + userID) }

// EnrolTOTP creates a new, unconfirmed TOTP secret for u (replacing an
// unconfirmed one). A confirmed TOTP must be deleted first (ErrTOTPActive,
// an auth.ErrConflict).
func (s *Service) EnrolTOTP(ctx context.Context, u auth.User) (Enrolment, error) {
	if s.sealer == nil {
		return Enrolment{}, ErrNoEncryptionKey
	}
	cur, err := s.store.TOTP(ctx, u.ID)
	switch {
	case err == nil && cur.Confirmed():
		return Enrolment{}, fmt.Errorf("enrol totp: %w", ErrTOTPActive)
	case err != nil && !errors.Is(err, auth.ErrNotFound):
		return Enrolment{}, fmt.Errorf("enrol totp: %w", err)
	}
	key, err := s.totpKey(u, nil)
	if err != nil {
		return Enrolment{}, fmt.Errorf("enrol totp: %w", err)
	}
	sealed, err := s.sealer.Seal([]byte(key.Secret()), secretAD(u.ID))
	if err != nil {
		return Enrolment{}, fmt.Errorf("enrol totp: %w", err)
	}
	if err := s.store.PutTOTP(ctx, TOTP{UserID: u.ID, Secret: sealed, CreatedAt: s.now().UTC().Truncate(time.Microsecond)}); err != nil {
		return Enrolment{}, fmt.Errorf("enrol totp: %w", err)
	}
	e, err := enrolmentOf(u, key)
	if err != nil {
		return Enrolment{}, fmt.Errorf("enrol totp: %w", err)
	}
	return e, nil
}

// PendingTOTP returns u's enrolment that is not confirmed yet, as
// EnrolTOTP returned it, so that the enrolment page can be shown again
// after a mistyped confirmation code: the app has scanned that key, and a
// new one would not match it. proof is the Proof the page was given: the
// key is shown again only to the page that showed it, not to another login
// of the user (someone else who holds the password would read the key the
// user is about to turn on), nor to a page whose enrolment another login
// replaced (its user would scan a key someone else knows). ErrNotEnrolled
// when there is no such enrolment; a confirmed secret is never shown again.
func (s *Service) PendingTOTP(ctx context.Context, u auth.User, proof string) (Enrolment, error) {
	if s.sealer == nil {
		return Enrolment{}, ErrNoEncryptionKey
	}
	t, err := s.store.TOTP(ctx, u.ID)
	switch {
	case errors.Is(err, auth.ErrNotFound) || (err == nil && t.Confirmed()):
		return Enrolment{}, ErrNotEnrolled
	case err != nil:
		return Enrolment{}, fmt.Errorf("pending totp: %w", err)
	}
	secret, err := s.openSecret(t)
	if err != nil {
		return Enrolment{}, fmt.Errorf("pending totp: %w", err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return Enrolment{}, fmt.Errorf("pending totp: %w", err)
	}
	key, err := s.totpKey(u, raw)
	if err != nil {
		return Enrolment{}, fmt.Errorf("pending totp: %w", err)
	}
	e, err := enrolmentOf(u, key)
	if err != nil {
		return Enrolment{}, fmt.Errorf("pending totp: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(proof), []byte(e.Proof)) != 1 {
		return Enrolment{}, fmt.Errorf("%w: this enrolment page is not the current one", ErrNotEnrolled)
	}
	return e, nil
}

// totpKey is u's key with the contract's parameters: secret (raw bytes),
// or a new random one when secret is nil.
func (s *Service) totpKey(u auth.User, secret []byte) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{
		Issuer: s.issuer, AccountName: u.Username, Period: period, SecretSize: 20, Secret: secret,
		Digits: digits, Algorithm: otp.AlgorithmSHA1, Rand: s.random,
	})
}

// enrolmentOf is what an app needs to add u's key: its secret, URI and QR
// code; and the Proof of the enrolment.
func enrolmentOf(u auth.User, key *otp.Key) (Enrolment, error) {
	svg, err := QRSVG(key.URL())
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: key.Secret(), OTPAuthURI: key.URL(), QRSVG: svg, Proof: enrolmentProof(u.ID, key.Secret())}, nil
}

// ConfirmTOTP activates the user's pending TOTP with a correct code (which
// is then used up, like any accepted code).
func (s *Service) ConfirmTOTP(ctx context.Context, userID, code string) error {
	t, err := s.store.TOTP(ctx, userID)
	switch {
	case errors.Is(err, auth.ErrNotFound) || (err == nil && t.Confirmed()):
		return ErrNotEnrolled
	case err != nil:
		return fmt.Errorf("confirm totp: %w", err)
	}
	if err := s.checkCode(ctx, t, code); err != nil {
		return err
	}
	if err := s.store.ConfirmTOTP(ctx, userID, t.CreatedAt, s.now().UTC()); err != nil {
		if errors.Is(err, auth.ErrNotFound) {
			return ErrNotEnrolled
		}
		return fmt.Errorf("confirm totp: %w", err)
	}
	return nil
}

// DeleteTOTP removes the user's TOTP (confirmed or pending), and the
// recovery codes with it when no passkey is left (dropCodesWithoutFactor).
func (s *Service) DeleteTOTP(ctx context.Context, userID string) error {
	if err := s.store.DeleteTOTP(ctx, userID); err != nil {
		return fmt.Errorf("delete totp: %w", err)
	}
	if err := dropCodesWithoutFactor(ctx, s.store, userID); err != nil {
		return fmt.Errorf("delete totp: %w", err)
	}
	return nil
}

// hasFactor reports whether the user has a real factor: a confirmed TOTP
// or a passkey (Factors.Enrolled). Recovery codes back up a factor and are
// none themselves.
func hasFactor(ctx context.Context, store Store, userID string) (bool, error) {
	f, err := loadFactors(ctx, store, userID)
	return f.Enrolled(), err
}

// dropCodesWithoutFactor deletes the user's recovery codes once the last
// real factor is gone: left behind, they would back up nothing, and a
// user under login.require_mfa_roles must enrol again rather than log in
// with one (Verify refuses them without a factor anyway).
func dropCodesWithoutFactor(ctx context.Context, store Store, userID string) error {
	has, err := hasFactor(ctx, store, userID)
	if err != nil || has {
		return err
	}
	return store.DeleteRecoveryCodes(ctx, userID)
}

// VerifyTOTP checks code against the user's confirmed TOTP: ±1 step, and
// never a step at or before one already accepted (replay).
func (s *Service) VerifyTOTP(ctx context.Context, userID, code string) error {
	t, err := s.store.TOTP(ctx, userID)
	switch {
	case errors.Is(err, auth.ErrNotFound) || (err == nil && !t.Confirmed()):
		return ErrInvalidCode
	case err != nil:
		return fmt.Errorf("verify totp: %w", err)
	}
	return s.checkCode(ctx, t, code)
}

// openSecret unseals t's secret (base32, as the app was given it).
func (s *Service) openSecret(t TOTP) (string, error) {
	secret, err := s.sealer.Open(t.Secret, secretAD(t.UserID))
	if err != nil {
		return "", fmt.Errorf("open secret (wrong keys.encryption_key?): %w", err)
	}
	return string(secret), nil
}

func (s *Service) checkCode(ctx context.Context, t TOTP, code string) error {
	if s.sealer == nil {
		return fmt.Errorf("verify totp: %w", ErrNoEncryptionKey)
	}
	secret, err := s.openSecret(t)
	if err != nil {
		return fmt.Errorf("verify totp: %w", err)
	}
	code = normaliseCode(code)
	if len(code) != digits.Length() {
		return ErrInvalidCode
	}
	now := s.now()
	step := now.Unix() / period
	// Every candidate is computed and compared, so timing does not say
	// which step matched.
	matched := int64(-1)
	for off := int64(-skew); off <= skew; off++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix((step+off)*period, 0), totp.ValidateOpts{
			Period: period, Digits: digits, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return fmt.Errorf("verify totp: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched = step + off
		}
	}
	if matched < 0 {
		return ErrInvalidCode
	}
	keep := time.Unix((matched+skew+2)*period, 0)
	ok, err := s.steps.AcceptTOTPStep(ctx, t.UserID, matched, keep)
	if err != nil {
		return fmt.Errorf("verify totp: %w", err)
	}
	if !ok {
		return ErrInvalidCode
	}
	return nil
}

// NewRecoveryCodes replaces the user's recovery codes with
// RecoveryCodeCount new ones and returns them; only their hashes are kept.
func (s *Service) NewRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	hashes := make([]string, RecoveryCodeCount)
	for i := range codes {
		b := make([]byte, 10) // 80 bits: a leaked hash cannot be brute-forced
		if _, err := io.ReadFull(s.random, b); err != nil {
			return nil, fmt.Errorf("recovery codes: %w", err)
		}
		raw := strings.ToLower(base32.StdEncoding.EncodeToString(b))
		codes[i] = raw[0:4] + "-" + raw[4:8] + "-" + raw[8:12] + "-" + raw[12:16]
		hashes[i] = recoveryHash(userID, raw)
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, userID, hashes, s.now().UTC()); err != nil {
		return nil, fmt.Errorf("recovery codes: %w", err)
	}
	return codes, nil
}

// UseRecoveryCode spends one of the user's recovery codes, entered in any
// case and spelling normaliseRecoveryCode accepts.
func (s *Service) UseRecoveryCode(ctx context.Context, userID, code string) error {
	entered := normaliseCode(code)
	if len(entered) != 16 {
		return ErrInvalidCode
	}
	err := s.store.UseRecoveryCode(ctx, userID, recoveryHash(userID, entered), s.now().UTC())
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return ErrInvalidCode
	case err != nil:
		return fmt.Errorf("use recovery code: %w", err)
	}
	return nil
}

// normaliseCode is the one reading of an entered code, TOTP or recovery:
// NFKC (fullwidth letters and digits become ASCII), lower case, and without
// any space, dash or invisible format character, which a code typed as an
// app groups it ("123 456") or pasted from a document or a password manager
// may carry: U+00A0 and U+202F no-break spaces, en and em dashes, the minus
// sign, a zero-width space. The codes are digits or base32 letters and
// digits, so nothing removed can be part of one.
func normaliseCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r), unicode.Is(unicode.Pd, r), unicode.Is(unicode.Cf, r), r == '\u2212':
			return -1
		}
		return unicode.ToLower(r)
	}, norm.NFKC.String(code))
}

// recoveryHash is SHA-256 over the user ID and the normalised code; the
// codes carry 80 random bits, so no slow hash is needed.
func recoveryHash(userID, norm string) string {
	sum := sha256.Sum256([]byte("gatehouse-recovery\x00" + userID + "\x00" + norm))
	return hex.EncodeToString(sum[:])
}

// Factors describes what a user has enrolled.
type Factors struct {
	TOTP          bool
	TOTPPending   bool
	TOTPCreatedAt time.Time
	RecoveryLeft  int
	// Passkeys lists the user's WebAuthn credentials, oldest first.
	Passkeys []Credential
}

// Methods lists the second-factor methods the user can log in with, in the
// order shown to them. Recovery codes count only beside a real factor
// (TOTP or a passkey).
func (f Factors) Methods() []string {
	var m []string
	if f.TOTP {
		m = append(m, MethodTOTP)
	}
	if len(f.Passkeys) > 0 {
		m = append(m, MethodWebAuthn)
	}
	if len(m) > 0 && f.RecoveryLeft > 0 {
		m = append(m, MethodRecovery)
	}
	return m
}

// Enrolled reports whether the user has a second factor.
func (f Factors) Enrolled() bool { return len(f.Methods()) > 0 }

// Step is what a login needs after its first factor (a password, an
// external provider): nothing, a second factor, or an enrolment first.
type Step struct {
	// Required: no session yet; the pending cookie and the second step.
	Required bool
	// Enrol: the user has no factor but a role in
	// login.require_mfa_roles, so must enrol one before the session.
	Enrol bool
	// Methods are the second-factor methods the user can use now.
	Methods []string
}

// LoginStep decides what u's login needs after its first factor: users
// with a factor pass it, users without one but with a role in
// requireRoles (login.require_mfa_roles) enrol first, the rest get their
// session at once.
func (s *Service) LoginStep(ctx context.Context, u auth.User, requireRoles []string) (Step, error) {
	f, err := s.Factors(ctx, u.ID)
	if err != nil {
		return Step{}, err
	}
	if f.Enrolled() {
		return Step{Required: true, Methods: f.Methods()}, nil
	}
	if len(requireRoles) > 0 && (auth.Principal{Roles: u.Roles}).HasAnyRole(requireRoles) {
		return Step{Required: true, Enrol: true}, nil
	}
	return Step{}, nil
}

// Factors returns the user's factors.
func (s *Service) Factors(ctx context.Context, userID string) (Factors, error) {
	return loadFactors(ctx, s.store, userID)
}

func loadFactors(ctx context.Context, store Store, userID string) (Factors, error) {
	var f Factors
	t, err := store.TOTP(ctx, userID)
	switch {
	case err == nil:
		f.TOTP, f.TOTPPending, f.TOTPCreatedAt = t.Confirmed(), !t.Confirmed(), t.CreatedAt
	case !errors.Is(err, auth.ErrNotFound):
		return Factors{}, fmt.Errorf("load factors: %w", err)
	}
	if f.RecoveryLeft, err = store.RecoveryCodesLeft(ctx, userID); err != nil {
		return Factors{}, fmt.Errorf("load factors: %w", err)
	}
	if f.Passkeys, err = store.Credentials(ctx, userID); err != nil {
		return Factors{}, fmt.Errorf("load factors: %w", err)
	}
	return f, nil
}

// Verify checks a second-factor code by method and returns the amr values
// it earns. A recovery code counts only while the user has a real factor
// (a confirmed TOTP or a passkey), so it never stands in for the factor it
// backs up: without one it is ErrInvalidCode, and is not spent.
func (s *Service) Verify(ctx context.Context, userID, method, code string) ([]string, error) {
	switch method {
	case MethodTOTP:
		return []string{AMROTP}, s.VerifyTOTP(ctx, userID, code)
	case MethodRecovery:
		has, err := hasFactor(ctx, s.store, userID)
		switch {
		case err != nil:
			return nil, fmt.Errorf("use recovery code: %w", err)
		case !has:
			return nil, ErrInvalidCode
		}
		return []string{AMROTP}, s.UseRecoveryCode(ctx, userID, code)
	}
	return nil, fmt.Errorf("%w: method must be %q or %q", auth.ErrInvalidInput, MethodTOTP, MethodRecovery)
}

// Reset removes every factor of the user — TOTP, recovery codes and
// WebAuthn credentials (operator recovery for a locked-out user: gatehouse
// user mfa-reset, the admin API).
func (s *Service) Reset(ctx context.Context, userID string) error {
	if err := s.store.DeleteTOTP(ctx, userID); err != nil && !errors.Is(err, auth.ErrNotFound) {
		return fmt.Errorf("reset factors: %w", err)
	}
	if err := s.store.DeleteCredentials(ctx, userID); err != nil {
		return fmt.Errorf("reset factors: %w", err)
	}
	if err := s.store.DeleteRecoveryCodes(ctx, userID); err != nil {
		return fmt.Errorf("reset factors: %w", err)
	}
	return nil
}

// EndPending ends the pending login p (read by PendingCodec.FromRequest)
// once its second step has been passed, before that step's session is
// written: the first call for a pending cookie succeeds, every later one,
// on any instance, gets ErrPendingEnded. A pending cookie stands for one
// first factor and so earns one session; a copy kept after the second
// step, or second steps sent at once with different codes, earn no more.
// Each ended cookie is remembered, in the store that spends WebAuthn
// challenges, until it would have expired anyway on every instance
// (SpentSkew past its expiry).
func (s *Service) EndPending(ctx context.Context, p Pending) error {
	if p.digest == "" {
		return ErrPendingEnded // not read from a request: nothing to end
	}
	first, err := s.store.UseChallenge(ctx, p.digest, p.Expires.Add(SpentSkew), s.now())
	switch {
	case err != nil:
		return fmt.Errorf("end pending login: %w", err)
	case !first:
		return ErrPendingEnded
	}
	return nil
}

// MayChangeFactors reports whether a session created at loginAt with amr
// may change factors at now: it used a second factor, or its login is at
// most ReauthWindow old.
func MayChangeFactors(amr []string, loginAt, now time.Time) bool {
	return auth.MultiFactor(amr) || now.Sub(loginAt) <= ReauthWindow
}

// Combine returns the amr of a login that passed first (e.g. ["pwd"]) and
// then a second factor (e.g. ["otp"]): both, plus "mfa".
func Combine(first, second []string) []string {
	out := make([]string, 0, len(first)+len(second)+1)
	seen := map[string]bool{}
	for _, a := range append(append(append([]string{}, first...), second...), AMRMFA) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}
