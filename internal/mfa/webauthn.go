package mfa

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
)

// MethodWebAuthn is the method name of passkeys and security keys in
// {"mfa_required":true,"methods":[…]} and in metrics.
const MethodWebAuthn = "webauthn"

// CeremonyCookie holds the state of one WebAuthn ceremony (challenge, user,
// purpose) between begin and finish, sealed, HttpOnly, for CeremonyTTL.
const CeremonyCookie = "gatehouse_webauthn"

// CeremonyTTL is how long a WebAuthn ceremony may take.
const CeremonyTTL = 5 * time.Minute

// MaxCredentialName is the longest name a credential may have (runes).
const MaxCredentialName = 64

// MaxPasskeys is the most WebAuthn credentials a user may have: every
// registration and second-factor login lists them all (in the ceremony's
// options and the login cookie), and so does /account. Registration is
// refused beyond it with ErrTooManyPasskeys (409), when it begins and again
// when the credential is stored (docs/mfa.md).
const MaxPasskeys = 20

// TooManyPasskeysDescription is the error_description of
// ErrTooManyPasskeys.
var TooManyPasskeysDescription = fmt.Sprintf("at most %d passkeys; remove one first", MaxPasskeys)

// Ceremony purposes.
const (
	PurposeRegister = "register"
	PurposeLogin    = "login" // second factor (UserID set) or passwordless
)

var (
	// ErrCeremony: finish without a ceremony of that purpose in progress,
	// or one that expired or already finished (each ceremony works once).
	ErrCeremony = fmt.Errorf("%w: no WebAuthn ceremony in progress, or it expired or was used; begin again", auth.ErrInvalidInput)
	// ErrInvalidAssertion: a WebAuthn assertion did not verify (wrong
	// origin, RP ID, signature, unknown or foreign credential). It wraps
	// auth.ErrInvalidCredentials.
	ErrInvalidAssertion = fmt.Errorf("webauthn: %w", auth.ErrInvalidCredentials)
	// ErrCloneWarning: the authenticator's signature counter did not move
	// forward, so the credential may have been copied. The assertion is
	// refused (it wraps ErrInvalidAssertion) and audited.
	ErrCloneWarning = fmt.Errorf("signature counter did not increase (cloned authenticator?): %w", ErrInvalidAssertion)
	// ErrInvalidAttestation: a registration response did not verify.
	ErrInvalidAttestation = fmt.Errorf("%w: the new credential did not verify", auth.ErrInvalidInput)
	// ErrNoPasskeys: WebAuthn is off because public_url's host cannot be
	// a relying party ID (an IP address).
	ErrNoPasskeys = errors.New("webauthn needs public_url with a domain name (not an IP address)")
)

// RelyingParty describes gatehouse to authenticators.
type RelyingParty struct {
	ID     string // host of public_url
	Origin string // scheme://host[:port] of public_url
	Name   string // shown by some authenticators ("gatehouse")
}

// RelyingPartyFor derives the relying party from public_url;
// ErrNoPasskeys when its host is an IP address.
func RelyingPartyFor(publicURL string) (RelyingParty, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return RelyingParty{}, fmt.Errorf("webauthn: public_url %q: %w", publicURL, ErrNoPasskeys)
	}
	rp := RelyingParty{ID: u.Hostname(), Origin: u.Scheme + "://" + u.Host, Name: "gatehouse"}
	if err := protocol.ValidateRPID(rp.ID); err != nil {
		return RelyingParty{}, fmt.Errorf("webauthn: %w", ErrNoPasskeys)
	}
	return rp, nil
}

// Passkeys registers WebAuthn credentials and verifies assertions with
// go-webauthn. Ceremony state lives in a sealed HttpOnly cookie bound to
// its purpose; each ceremony's challenge is spent in the store when it
// finishes, so it cannot finish twice.
type Passkeys struct {
	wa     *webauthn.WebAuthn
	store  Store // credentials; TOTP and recovery codes for Delete
	sealer *seal.Sealer
	secure bool
	now    func() time.Time
}

// NewPasskeys returns the WebAuthn service for rp over store (the factor
// store: removing the last passkey of a user without TOTP removes the
// recovery codes too). cookieKey (seal.KeySize bytes) seals ceremony
// cookies; instances behind one public_url must share it. now nil means
// time.Now.
func NewPasskeys(store Store, rp RelyingParty, cookieKey []byte, secure bool, now func() time.Time) (*Passkeys, error) {
	wa, err := webauthn.New(&webauthn.Config{
		RPID: rp.ID, RPDisplayName: rp.Name, RPOrigins: []string{rp.Origin},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, RequireResidentKey: protocol.ResidentKeyNotRequired(),
			UserVerification: protocol.VerificationPreferred,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	s, err := seal.New(cookieKey, nil)
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Passkeys{wa: wa, store: store, sealer: s, secure: secure, now: now}, nil
}

// waUser adapts a user and their credentials to go-webauthn. The user
// handle is the user ID (random, no personal data).
type waUser struct {
	id, name string
	creds    []webauthn.Credential
}

func (u waUser) WebAuthnID() []byte                         { return []byte(u.id) }
func (u waUser) WebAuthnName() string                       { return u.name }
func (u waUser) WebAuthnDisplayName() string                { return u.name }
func (u waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (p *Passkeys) loadUser(ctx context.Context, userID, name string) (waUser, []Credential, error) {
	stored, err := p.store.Credentials(ctx, userID)
	if err != nil {
		return waUser{}, nil, fmt.Errorf("load webauthn credentials: %w", err)
	}
	u := waUser{id: userID, name: name}
	for _, c := range stored {
		var wc webauthn.Credential
		if err := json.Unmarshal(c.Data, &wc); err != nil {
			return waUser{}, nil, fmt.Errorf("decode webauthn credential: %w", err)
		}
		wc.Authenticator.SignCount = c.SignCount
		u.creds = append(u.creds, wc)
	}
	return u, stored, nil
}

// ceremony is the sealed content of the ceremony cookie.
type ceremony struct {
	Purpose string               `json:"p"`
	UserID  string               `json:"u,omitempty"`
	Expires time.Time            `json:"e"`
	Session webauthn.SessionData `json:"s"`
}

var ceremonyAD = []byte("gatehouse-webauthn-ceremony\x00" + CeremonyCookie)

func (p *Passkeys) setCeremony(w http.ResponseWriter, c ceremony) error {
	c.Expires = p.now().Add(CeremonyTTL).UTC()
	c.Session.Expires = time.Time{} // our clock decides, not go-webauthn's
	plain, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("webauthn ceremony: %w", err)
	}
	sealed, err := p.sealer.Seal(plain, ceremonyAD)
	if err != nil {
		return fmt.Errorf("webauthn ceremony: %w", err)
	}
	http.SetCookie(w, p.cookie(base64.RawURLEncoding.EncodeToString(sealed), int(CeremonyTTL/time.Second)))
	return nil
}

func (p *Passkeys) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: CeremonyCookie, Value: value, Path: "/auth/webauthn/", MaxAge: maxAge,
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteStrictMode}
}

// takeCeremony opens the request's ceremony cookie for purpose, clears it
// and spends its challenge: a second finish with the same cookie (or a
// copy of it, on any instance) gets ErrCeremony.
func (p *Passkeys) takeCeremony(ctx context.Context, w http.ResponseWriter, r *http.Request, purpose string) (ceremony, error) {
	cookies := r.CookiesNamed(CeremonyCookie)
	if len(cookies) != 1 || len(cookies[0].Value) > 8192 {
		return ceremony{}, ErrCeremony
	}
	http.SetCookie(w, p.cookie("", -1))
	raw, err := base64.RawURLEncoding.DecodeString(cookies[0].Value)
	if err != nil {
		return ceremony{}, ErrCeremony
	}
	plain, err := p.sealer.Open(raw, ceremonyAD)
	if err != nil {
		return ceremony{}, ErrCeremony
	}
	var c ceremony
	now := p.now()
	if err := json.Unmarshal(plain, &c); err != nil || c.Purpose != purpose || !now.Before(c.Expires) {
		return ceremony{}, ErrCeremony
	}
	sum := sha256.Sum256([]byte("gatehouse-webauthn-challenge\x00" + c.Session.Challenge))
	first, err := p.store.UseChallenge(ctx, base64.RawURLEncoding.EncodeToString(sum[:]), c.Expires.Add(SpentSkew), now)
	if err != nil {
		return ceremony{}, fmt.Errorf("webauthn ceremony: %w", err)
	}
	if !first {
		return ceremony{}, ErrCeremony
	}
	return c, nil
}

// BeginRegistration starts registering a new credential for the user:
// the options for navigator.credentials.create, with the user's existing
// credentials excluded. It sets the ceremony cookie. A user with
// MaxPasskeys credentials gets ErrTooManyPasskeys (the store's
// AddCredential checks again when the ceremony finishes).
func (p *Passkeys) BeginRegistration(ctx context.Context, w http.ResponseWriter, u auth.User) (*protocol.CredentialCreation, error) {
	wu, _, err := p.loadUser(ctx, u.ID, u.Username)
	if err != nil {
		return nil, err
	}
	if len(wu.creds) >= MaxPasskeys {
		return nil, fmt.Errorf("webauthn begin registration: %w", ErrTooManyPasskeys)
	}
	opts, sess, err := p.wa.BeginRegistration(wu, webauthn.WithExclusions(webauthn.Credentials(wu.creds).CredentialDescriptors()))
	if err != nil {
		return nil, fmt.Errorf("webauthn begin registration: %w", err)
	}
	if err := p.setCeremony(w, ceremony{Purpose: PurposeRegister, UserID: u.ID, Session: *sess}); err != nil {
		return nil, err
	}
	return opts, nil
}

// FinishRegistration verifies the authenticator's answer (response, the
// JSON of the PublicKeyCredential) to the request's registration ceremony
// and stores the credential under name for u: ErrTooManyPasskeys when u
// has MaxPasskeys already (counted by the store with the add, so two
// finishes at once cannot pass it).
func (p *Passkeys) FinishRegistration(ctx context.Context, w http.ResponseWriter, r *http.Request, u auth.User, name string, response []byte) (Credential, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxCredentialName || !validCredentialName(name) {
		return Credential{}, fmt.Errorf("%w: name must be 1 to %d characters, without control or invisible characters", auth.ErrInvalidInput, MaxCredentialName)
	}
	c, err := p.takeCeremony(ctx, w, r, PurposeRegister)
	if err != nil {
		return Credential{}, err
	}
	if c.UserID != u.ID {
		return Credential{}, ErrCeremony
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Credential{}, fmt.Errorf("%w: %w", ErrInvalidAttestation, err)
	}
	wu, _, err := p.loadUser(ctx, u.ID, u.Username)
	if err != nil {
		return Credential{}, err
	}
	wc, err := p.wa.CreateCredential(wu, c.Session, parsed)
	if err != nil {
		return Credential{}, fmt.Errorf("%w: %w", ErrInvalidAttestation, err)
	}
	data, err := json.Marshal(wc)
	if err != nil {
		return Credential{}, fmt.Errorf("webauthn finish registration: %w", err)
	}
	cred := Credential{ID: wc.ID, UserID: u.ID, Name: name, Kind: KindOf(wc), Data: data,
		SignCount: wc.Authenticator.SignCount, CreatedAt: p.now().UTC().Truncate(time.Microsecond)}
	if err := p.store.AddCredential(ctx, cred); err != nil {
		return Credential{}, fmt.Errorf("webauthn finish registration: %w", err)
	}
	return cred, nil
}

// validCredentialName reports whether name may name a credential: UTF-8
// without control characters (NUL, ESC, line breaks, DEL, C1) or invisible
// ones (auth.Invisible: zero-width spaces, bidi overrides), since the name
// is shown on /account, in the console and by `gatehouse user mfa`, and
// PostgreSQL refuses NUL in text where SQLite stores it. FinishRegistration
// checks it before the ceremony is spent, so the browser can finish the
// same ceremony again with a better name.
func validCredentialName(name string) bool {
	return auth.StorableText(name) && !strings.ContainsFunc(name, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsOneOf(auth.Invisible, r)
	})
}

// KindOf is the amr a credential earns (RFC 8176): "hwk" for a roaming
// authenticator (authenticatorAttachment "cross-platform") whose key
// cannot be backed up (flag BE clear) — a security key; "swk" for
// everything else: synced passkeys (BE set, the key leaves the device),
// platform authenticators and authenticators that do not say. Without
// attestation gatehouse cannot prove a key is hardware-bound, so it
// claims "hwk" only where the authenticator's own flags say so.
func KindOf(c *webauthn.Credential) string {
	if c.Authenticator.Attachment == protocol.CrossPlatform && !c.Flags.BackupEligible {
		return AMRHardware
	}
	return AMRSoftware
}

// BeginLogin starts an assertion: for userID's credentials (a second
// factor; ErrInvalidAssertion when the user has none) or, with userID "",
// for any discoverable credential (passwordless; user verification
// required). It sets the ceremony cookie.
func (p *Passkeys) BeginLogin(ctx context.Context, w http.ResponseWriter, userID string) (*protocol.CredentialAssertion, error) {
	var (
		opts *protocol.CredentialAssertion
		sess *webauthn.SessionData
		err  error
	)
	if userID == "" {
		opts, sess, err = p.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	} else {
		var wu waUser
		if wu, _, err = p.loadUser(ctx, userID, ""); err != nil {
			return nil, err
		}
		if len(wu.creds) == 0 {
			return nil, fmt.Errorf("%w: no passkey registered", ErrInvalidAssertion)
		}
		opts, sess, err = p.wa.BeginLogin(wu)
	}
	if err != nil {
		return nil, fmt.Errorf("webauthn begin login: %w", err)
	}
	// The cookie does not carry the allowed credential IDs: a user with a
	// few dozen passkeys would get a cookie over the 4 KB a browser keeps.
	// Finish loads the ceremony user's credentials again, and go-webauthn
	// accepts only an assertion by one of them.
	sess.AllowedCredentialIDs = nil
	if err := p.setCeremony(w, ceremony{Purpose: PurposeLogin, UserID: userID, Session: *sess}); err != nil {
		return nil, err
	}
	return opts, nil
}

// Assertion is a verified WebAuthn login.
type Assertion struct {
	// UserID is whose credential signed. For a second-factor ceremony it
	// is the user the ceremony began for.
	UserID string
	// Passwordless: the ceremony began without a user (discoverable
	// credential); the user was verified by the authenticator.
	Passwordless bool
	// ForUser is the user a second-factor ceremony began for ("" when
	// passwordless); the caller checks it is still the pending user.
	ForUser    string
	Credential Credential
	// AMR is what the assertion earns: ["hwk"] or ["swk"], plus "user"
	// for a passwordless login (user verification required).
	AMR []string
}

// FinishLogin verifies response (the JSON of the PublicKeyCredential) for
// the request's login ceremony, moves the credential's sign count forward
// and records its use. A refused assertion (ErrInvalidAssertion) still
// returns what is known (ForUser, and UserID once the credential's user
// was found) for the throttle and the audit; a counter that does not
// advance is refused with ErrCloneWarning (UserID and Credential set).
func (p *Passkeys) FinishLogin(ctx context.Context, w http.ResponseWriter, r *http.Request, response []byte) (Assertion, error) {
	c, err := p.takeCeremony(ctx, w, r, PurposeLogin)
	if err != nil {
		return Assertion{}, err
	}
	var (
		stored []Credential
		wc     *webauthn.Credential
		a      = Assertion{ForUser: c.UserID, Passwordless: c.UserID == ""}
	)
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return a, fmt.Errorf("%w: %w", ErrInvalidAssertion, err)
	}
	if a.Passwordless {
		wc, err = p.wa.ValidateDiscoverableLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			wu, s, err := p.loadUser(ctx, string(userHandle), "")
			if err != nil {
				return nil, err
			}
			stored = s
			// The client chooses the user handle: a refused assertion is
			// the handle's user's (audit) only when it names one of their
			// credentials.
			if slices.ContainsFunc(s, func(c Credential) bool { return bytes.Equal(c.ID, rawID) }) {
				a.UserID = string(userHandle)
			}
			return wu, nil
		}, c.Session, parsed)
	} else {
		var wu waUser
		if wu, stored, err = p.loadUser(ctx, c.UserID, ""); err != nil {
			return Assertion{}, err
		}
		a.UserID = c.UserID
		wc, err = p.wa.ValidateLogin(wu, c.Session, parsed)
	}
	if err != nil {
		if httpUnavailable(err) {
			return Assertion{}, fmt.Errorf("webauthn finish login: %w", err)
		}
		return a, fmt.Errorf("%w: %w", ErrInvalidAssertion, err)
	}
	for _, s := range stored {
		if bytes.Equal(s.ID, wc.ID) {
			a.Credential = s
		}
	}
	if a.Credential.ID == nil {
		return a, ErrInvalidAssertion
	}
	a.AMR = []string{a.Credential.Kind}
	if a.Passwordless {
		a.AMR = append(a.AMR, AMRUser)
	}
	if wc.Authenticator.CloneWarning {
		return a, ErrCloneWarning
	}
	err = p.store.UseCredential(ctx, a.UserID, wc.ID, wc.Authenticator.SignCount, p.now().UTC())
	switch {
	case errors.Is(err, auth.ErrNotFound):
		// Another use with this counter won the race (or the credential
		// was just removed): the same signature counted twice.
		return a, ErrCloneWarning
	case err != nil:
		return Assertion{}, fmt.Errorf("webauthn finish login: %w", err)
	}
	return a, nil
}

// httpUnavailable reports whether err (possibly inside a go-webauthn error)
// is a store that does not answer, which must fail closed as 503 rather
// than count as a wrong assertion.
func httpUnavailable(err error) bool { return errors.Is(err, auth.ErrUnavailable) }

// Credentials lists the user's WebAuthn credentials, oldest first.
func (p *Passkeys) Credentials(ctx context.Context, userID string) ([]Credential, error) {
	cs, err := p.store.Credentials(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list webauthn credentials: %w", err)
	}
	return cs, nil
}

// Delete removes the user's credential id (the base64url credential ID),
// and the recovery codes with it when it was the user's last factor (no
// other passkey, no confirmed TOTP); auth.ErrNotFound when the user has
// none with that ID.
func (p *Passkeys) Delete(ctx context.Context, userID, id string) error {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) == 0 {
		return fmt.Errorf("delete webauthn credential: %w", auth.ErrNotFound)
	}
	if err := p.store.DeleteCredential(ctx, userID, raw); err != nil {
		return fmt.Errorf("delete webauthn credential: %w", err)
	}
	if err := dropCodesWithoutFactor(ctx, p.store, userID); err != nil {
		return fmt.Errorf("delete webauthn credential: %w", err)
	}
	return nil
}

// CredentialID is the external form of a credential ID: base64url without
// padding, as in the WebAuthn JSON and DELETE /auth/webauthn/{id}.
func CredentialID(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }
