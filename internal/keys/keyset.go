package keys

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Key states reported by List.
const (
	StateActive    = "active"    // signs new tokens
	StatePending   = "pending"   // published next key of a scheduled rotation; signs from ActivatedAt
	StateVerifying = "verifying" // rotated out; verifies until RetiresAt
	StateRetired   = "retired"   // past RetiresAt; verifies nothing
)

// JWKSMaxAge is how long a verifier may cache /.well-known/jwks.json: the
// max-age of the Cache-Control header httpapi sends with it.
const JWKSMaxAge = 60 * time.Second

// PublishAhead is how long before a scheduled rotation (keys.rotate_every)
// the next key is published in the JWKS without signing: ten times
// JWKSMaxAge, and at least ten minutes, so that a verifier that caches the
// JWKS and refetches it on its own schedule (not on an unknown kid) has the
// new key before the first token it signs. PublishLead shortens it for short
// rotation periods.
const PublishAhead = 10 * time.Minute

// ReloadEvery is how often a running instance reloads the key set from the
// store; the steps of a scheduled rotation are taken from that reload.
const ReloadEvery = 30 * time.Second

// MinSafeRotateEvery is the shortest keys.rotate_every whose lead
// (PublishLead, half the period here) still covers a verifier's cached
// JWKS (JWKSMaxAge) plus the reload that takes the step: with a shorter
// period a token can be signed by a key some verifiers have not fetched.
const MinSafeRotateEvery = 2 * (JWKSMaxAge + ReloadEvery)

// PublishLead is how long before a scheduled rotation the next key is
// published: PublishAhead, but at most half of rotateEvery, so that the
// lead is always shorter than the period. Zero when rotateEvery is not
// positive (no scheduled rotation).
func PublishLead(rotateEvery time.Duration) time.Duration {
	if rotateEvery <= 0 {
		return 0
	}
	return min(PublishAhead, rotateEvery/2)
}

// Info describes a key for `gatehouse keys list`. It holds no key material.
type Info struct {
	KID         string
	Algorithm   string
	CreatedAt   time.Time
	ActivatedAt time.Time
	RetiresAt   time.Time // zero for the active key
	State       string
}

// Option configures a Set.
type Option func(*Set)

// WithHMACSecret sets the HS256 secret (tokens.hmac_secret). It is required
// for HS256 and ignored otherwise; it is never written to the store.
func WithHMACSecret(secret []byte) Option {
	return func(s *Set) { s.hmac = append([]byte(nil), secret...) }
}

// WithEncryptionKey seals private keys at rest with AES-256-GCM under a key
// derived (HKDF-SHA256) from secret (keys.encryption_key). Without it new
// keys are stored unencrypted.
func WithEncryptionKey(secret []byte) Option {
	return func(s *Set) { s.encKey = append([]byte(nil), secret...) }
}

// WithClock sets the time source (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Set) { s.now = now } }

// WithVerifyGrace sets how long a rotated-out key keeps verifying; it should
// be access_ttl + leeway so that no token signed before a rotation dies
// early. Default 10m30s (the default access_ttl and leeway).
func WithVerifyGrace(d time.Duration) Option { return func(s *Set) { s.grace = d } }

// WithLogger sets the logger for rotations and reload failures (default:
// discard). Key material is never logged, only kids.
func WithLogger(l *slog.Logger) Option { return func(s *Set) { s.log = l } }

// WithOnRotate registers fn, called after this Set rotated the store's
// active key, so that serve can publish a "keys" revocation event and the
// other instances reload at once instead of at their next periodic reload.
func WithOnRotate(fn func(ctx context.Context, newKID string)) Option {
	return func(s *Set) { s.onRotate = fn }
}

// WithOnPublish registers fn, called after this Set stored the next key of
// a scheduled rotation (pending), so that serve can publish a "keys"
// revocation event and the other instances put it in their JWKS at once
// instead of at their next periodic reload. It is not a rotation: nothing
// signs with that key yet.
func WithOnPublish(fn func(ctx context.Context, nextKID string)) Option {
	return func(s *Set) { s.onPublish = fn }
}

// WithAlgorithmChange lets NewSet make a new key of the configured
// algorithm the store's active key when the active key is of another
// algorithm: changing tokens.algorithm, which only `gatehouse serve` may
// do. Without it NewSet refuses such a store with ErrAlgorithmMismatch, so
// that a command run with another algorithm (a default ES256 config against
// an RS256 deployment) cannot take the signing key from the running
// instances. A store without an active key gets its first key either way.
func WithAlgorithmChange() Option { return func(s *Set) { s.changeAlg = true } }

// Set is the signing keys of this instance: one active key that signs and
// the rotated-out keys that still verify. It is safe for concurrent use;
// lookups are lock-free reads of an immutable snapshot.
type Set struct {
	alg      string
	store    Store
	hmac     []byte
	encKey   []byte
	sealer   *sealer
	now      func() time.Time
	grace    time.Duration
	random   io.Reader
	log      *slog.Logger
	rsaBits  int
	onRotate func(context.Context, string)
	// onPublish is WithOnPublish's callback.
	onPublish func(context.Context, string)
	// changeAlg allows NewSet to replace an active key of another
	// algorithm (WithAlgorithmChange).
	changeAlg bool

	mu  sync.Mutex // serialises Reload and Rotate
	cur atomic.Pointer[snapshot]

	learnMu   sync.Mutex
	learnedAt time.Time     // start of LearnKey's last reload
	learning  chan struct{} // closed when LearnKey's running reload ends; nil when none runs
}

// entry is a loaded key of the configured algorithm.
type entry struct {
	info Info
	pub  any
	jwk  JWK
}

// snapshot is one immutable view of the store.
type snapshot struct {
	activeKID   string // the active key of the configured algorithm ("" if none)
	storeActive string // the store's active key, whatever its algorithm
	// The store's pending key, whatever its algorithm ("" if none), and
	// when it is due to become active.
	pendingKID, pendingAlg string
	pendingAt              time.Time
	signer                 any
	byKID                  map[string]*entry
	order                  []*entry // active first, then newest activation first
	infos                  []Info   // every stored key, for List
}

// NewSet loads the keys of alg from store. For RS256, ES256 and EdDSA it
// creates the first key when the store has no active key of alg (an
// instance that loses that race to another simply loads the winner's key).
// For HS256 store may be nil and WithHMACSecret is required.
//
// Errors name the configuration key at fault (tokens.hmac_secret,
// keys.encryption_key); a keys.encryption_key that does not open every
// sealed key not yet retired (or none, with sealed keys stored) is
// ErrDecrypt and auth.ErrInvalidInput, returned before anything is
// written. Store failures wrap auth.ErrUnavailable as the store returned
// them.
func NewSet(ctx context.Context, store Store, alg string, opts ...Option) (*Set, error) {
	s := &Set{alg: alg, store: store, now: time.Now, grace: 10*time.Minute + 30*time.Second,
		random: rand.Reader, log: slog.New(slog.DiscardHandler), rsaBits: 2048}
	for _, o := range opts {
		o(s)
	}
	switch alg {
	case HS256:
		return s, s.initHMAC()
	case RS256, ES256, EdDSA:
	default:
		return nil, fmt.Errorf("tokens.algorithm %q: %w", alg, ErrUnsupported)
	}
	if store == nil {
		return nil, fmt.Errorf("keys: %s needs a key store", alg)
	}
	if len(s.encKey) > 0 {
		if len(s.encKey) < MinSecretLen {
			return nil, fmt.Errorf("keys.encryption_key must be at least %d bytes", MinSecretLen)
		}
		sl, err := newSealer(s.encKey, s.random)
		if err != nil {
			return nil, err
		}
		s.sealer = sl
	}
	if err := s.checkStored(ctx); err != nil {
		return nil, err
	}
	if err := s.ensureActive(ctx); err != nil {
		if errors.Is(err, ErrDecrypt) {
			err = configError{err}
		}
		return nil, err
	}
	return s, nil
}

// configError is err, a problem with the configuration (a wrong or
// missing keys.encryption_key, another tokens.algorithm than the store's,
// HS256 asked to rotate), that is also auth.ErrInvalidInput so that
// the command exits 2 — without saying "invalid input" in its message.
type configError struct{ err error }

func (e configError) Error() string   { return e.err.Error() }
func (e configError) Unwrap() []error { return []error{e.err, auth.ErrInvalidInput} }

// checkStored makes sure that the configured keys.encryption_key opens
// every sealed key that is not retired, any algorithm, before NewSet
// writes anything: a wrong (or missing) value must be refused even when
// the key it would open first is in clear or of another algorithm (a
// tokens.algorithm change opens no key of the old one), instead of taking
// the signing key over or sealing keys under a value the other instances
// do not have. With the key, it then seals the keys stored in clear.
func (s *Set) checkStored(ctx context.Context) error {
	stored, err := s.store.Keys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	now := s.now()
	for _, k := range stored {
		if !k.Encrypted || retired(k.RetiresAt, now) {
			continue
		}
		if s.sealer == nil {
			return configError{fmt.Errorf("%w %s: it is encrypted but keys.encryption_key is not set", ErrDecrypt, k.ID)}
		}
		if _, err := s.sealer.open(k.ID, k.Algorithm, k.Private); err != nil {
			return configError{err}
		}
	}
	if s.sealer == nil {
		return nil
	}
	return s.sealStored(ctx, stored)
}

// sealStored seals every private key still stored in clear: keys made
// before keys.encryption_key was set. Without it, setting the key would
// protect only the keys made after it, and the one signing now would stay
// readable in every database dump until it was rotated and purged.
func (s *Set) sealStored(ctx context.Context, stored []Key) error {
	n := 0
	for _, k := range stored {
		if k.Encrypted {
			continue
		}
		sealed, err := s.sealer.seal(k.ID, k.Algorithm, k.Private)
		if err != nil {
			return err
		}
		if err := s.store.SealKey(ctx, k.ID, sealed); err != nil {
			return fmt.Errorf("seal signing key %s: %w", k.ID, err)
		}
		n++
	}
	if n > 0 {
		s.log.Info("keys: sealed private keys stored in clear with keys.encryption_key", "keys", n)
	}
	return nil
}

func (s *Set) initHMAC() error {
	if len(s.hmac) < MinSecretLen {
		return fmt.Errorf("tokens.hmac_secret must be at least %d bytes for HS256", MinSecretLen)
	}
	kid := hmacKID(s.hmac)
	s.cur.Store(&snapshot{activeKID: kid, storeActive: kid, signer: s.hmac,
		infos: []Info{{KID: kid, Algorithm: HS256, State: StateActive}}})
	return nil
}

// ensureActive loads the store and creates the first key of alg if needed.
func (s *Set) ensureActive(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, err := s.load(ctx)
	if err != nil {
		return err
	}
	if snap.activeKID != "" {
		s.cur.Store(snap)
		return nil
	}
	s.cur.Store(snap)
	if snap.storeActive != "" && !s.changeAlg {
		return configError{fmt.Errorf("keys: tokens.algorithm is %s but the store's active signing key %s is %s; use the running instances' tokens.algorithm (only gatehouse serve changes it): %w",
			s.alg, snap.storeActive, snap.algorithmOf(snap.storeActive), ErrAlgorithmMismatch)}
	}
	if _, err := s.rotateLocked(ctx); err != nil && !errors.Is(err, auth.ErrConflict) {
		return fmt.Errorf("create first %s signing key: %w", s.alg, err)
	}
	if s.cur.Load().activeKID == "" {
		return fmt.Errorf("keys: the store's active signing key is not %s (another instance uses another tokens.algorithm?)", s.alg)
	}
	return nil
}

// Algorithm returns the configured JWA algorithm (tokens.algorithm).
func (s *Set) Algorithm() string { return s.alg }

// Signing returns the active key: its kid, the algorithm and the private key
// (*rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey, or the []byte
// secret for HS256). The caller must not modify or log it.
func (s *Set) Signing() (kid string, alg string, key any) {
	snap := s.cur.Load()
	return snap.activeKID, s.alg, snap.signer
}

// VerificationKey returns the public key (the secret for HS256) for kid if
// it is a key of the configured algorithm that has not retired. It only
// looks in memory, so an attacker-chosen kid costs one map lookup. Errors:
// ErrUnknownKey, ErrRetiredKey.
func (s *Set) VerificationKey(kid string) (any, error) {
	snap := s.cur.Load()
	if s.alg == HS256 {
		if kid != snap.activeKID {
			return nil, ErrUnknownKey
		}
		return snap.signer, nil
	}
	e, ok := snap.byKID[kid]
	if !ok {
		return nil, ErrUnknownKey
	}
	if retired(e.info.RetiresAt, s.now()) {
		return nil, ErrRetiredKey
	}
	return e.pub, nil
}

// LearnEvery is how often at most LearnKey reloads the store: a flood of
// tokens naming made-up kids costs one store read a second.
const LearnEvery = time.Second

// learnTimeout bounds LearnKey's shared reload.
const learnTimeout = 5 * time.Second

// LearnKey is for a token whose kid VerificationKey did not know: the key
// may be one that another instance has just rotated to, which this Set
// would otherwise learn only from the "keys" revocation event or the
// periodic reload. It reloads the store and reports whether kid is then a
// key of the configured algorithm (retired or not, VerificationKey decides).
// The reload is shared: callers that come while one runs wait for it (or
// for their ctx), and callers that come less than LearnEvery after the last
// one started get false without a store read. A failed reload is logged
// and answers false; the previous keys stay in use. HS256 always answers
// false: its one key comes from configuration.
func (s *Set) LearnKey(ctx context.Context, kid string) bool {
	if s.alg == HS256 {
		return false
	}
	s.learnMu.Lock()
	known, done, lead := s.knows(kid), s.learning, false
	if !known && done == nil && (s.learnedAt.IsZero() || s.now().Sub(s.learnedAt) >= LearnEvery) {
		s.learnedAt, done, lead = s.now(), make(chan struct{}), true
		s.learning = done
	}
	s.learnMu.Unlock()
	switch {
	case known:
		return true
	case done == nil: // the last reload started less than LearnEvery ago
		return false
	case lead:
		s.learnReload(ctx, done)
	}
	select {
	case <-done:
		return s.knows(kid)
	case <-ctx.Done():
		return false
	}
}

// learnReload is LearnKey's shared reload; closing done releases the
// callers waiting for it.
func (s *Set) learnReload(ctx context.Context, done chan struct{}) {
	// Not the caller's cancellation, as the reload is shared; but bounded,
	// so that a hung store cannot hold off every later one.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), learnTimeout)
	err := s.Reload(rctx)
	cancel()
	s.learnMu.Lock()
	s.learning = nil
	s.learnMu.Unlock()
	close(done)
	if err != nil {
		s.log.Warn("reload signing keys for an unknown kid failed", slog.String("error", err.Error()))
	}
}

// knows reports whether kid is in the current snapshot.
func (s *Set) knows(kid string) bool {
	_, ok := s.cur.Load().byKID[kid]
	return ok
}

// JWKS returns the JWK Set of every non-retired key, active key first:
// {"keys":[]} for HS256, whose secret must never be published.
func (s *Set) JWKS() []byte {
	snap := s.cur.Load()
	now := s.now()
	var out []JWK
	for _, e := range snap.order {
		if !retired(e.info.RetiresAt, now) {
			out = append(out, e.jwk)
		}
	}
	return marshalJWKS(out)
}

// List describes every stored key (any algorithm, retired ones included),
// active first.
func (s *Set) List() []Info {
	snap := s.cur.Load()
	now := s.now()
	out := make([]Info, len(snap.infos))
	for i, in := range snap.infos {
		in.State = StateVerifying
		switch {
		case in.KID == snap.storeActive:
			in.State = StateActive
		case in.KID == snap.pendingKID:
			in.State = StatePending
		case retired(in.RetiresAt, now):
			in.State = StateRetired
		}
		out[i] = in
	}
	return out
}

// Reload re-reads the store so that a rotation made by another instance (or
// `gatehouse keys rotate`) takes effect here. On error the previous keys
// stay in use.
func (s *Set) Reload(ctx context.Context) error {
	if s.alg == HS256 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadLocked(ctx)
}

func (s *Set) reloadLocked(ctx context.Context) error {
	snap, err := s.load(ctx)
	if err != nil {
		return err
	}
	if snap.activeKID == "" {
		return fmt.Errorf("reload signing keys: the store's active key is not %s (another instance uses another tokens.algorithm?)", s.alg)
	}
	if old := s.cur.Load(); old != nil && old.activeKID != snap.activeKID {
		s.log.Info("signing key changed", slog.String("kid", snap.activeKID), slog.String("previous_kid", old.activeKID))
	}
	s.cur.Store(snap)
	return nil
}

// Rotate makes a new key active at once: the pending key of a scheduled
// rotation when this Set has loaded one (it is already in the JWKS), else a
// new key. Every key that was not yet retiring keeps verifying until now +
// the verify grace; so does a pending key this Set had not loaded yet, which
// the store retires with them. If another instance rotated since this Set
// last loaded, nothing is stored, the Set reloads and the error wraps
// auth.ErrConflict. HS256 returns ErrUnsupported (and auth.ErrInvalidInput,
// a configuration error): its secret lives in configuration.
func (s *Set) Rotate(ctx context.Context) (string, error) {
	if s.alg == HS256 {
		return "", configError{fmt.Errorf("rotate: HS256 keys come from tokens.hmac_secret (change it to rotate): %w", ErrUnsupported)}
	}
	s.mu.Lock()
	kid, err := s.rotateLocked(ctx)
	s.mu.Unlock()
	if err == nil && s.onRotate != nil {
		s.onRotate(ctx, kid)
	}
	return kid, err
}

// rotateLocked makes the snapshot's pending key of the configured algorithm
// active, or a new key when there is none, by a compare-and-swap on the
// snapshot's active key.
func (s *Set) rotateLocked(ctx context.Context) (string, error) {
	snap := s.cur.Load()
	prev := snap.storeActive
	var next Key
	if snap.pendingKID != "" && snap.pendingAlg == s.alg {
		next = Key{ID: snap.pendingKID, Algorithm: s.alg, ActivatedAt: s.now().UTC().Truncate(time.Microsecond)}
		next.CreatedAt = next.ActivatedAt // not stored: the pending key keeps its own
	} else {
		var err error
		if next, err = s.newKey(); err != nil {
			return "", err
		}
	}
	err := s.store.RotateKey(ctx, prev, next, next.ActivatedAt.Add(s.grace))
	if errors.Is(err, auth.ErrConflict) {
		if rerr := s.reloadLocked(ctx); rerr != nil {
			return "", fmt.Errorf("rotate signing key: lost race, then %w", rerr)
		}
		return "", fmt.Errorf("rotate signing key: another instance rotated first: %w", err)
	}
	if err != nil {
		return "", fmt.Errorf("rotate signing key: %w", err)
	}
	s.log.Info("signing key rotated", slog.String("kid", next.ID), slog.String("previous_kid", prev), slog.String("alg", s.alg))
	if err := s.reloadLocked(ctx); err != nil {
		return next.ID, fmt.Errorf("rotated to %s but reload failed: %w", next.ID, err)
	}
	return next.ID, nil
}

// newKey generates a key of the configured algorithm, ready to store.
func (s *Set) newKey() (Key, error) {
	priv, err := generate(s.alg, s.random, s.rsaBits)
	if err != nil {
		return Key{}, fmt.Errorf("generate %s key: %w", s.alg, err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, fmt.Errorf("encode private key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return Key{}, fmt.Errorf("encode public key: %w", err)
	}
	j, err := publicJWK(s.alg, priv.Public())
	if err != nil {
		return Key{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	k := Key{ID: thumbprint(j), Algorithm: s.alg, Private: pkcs8, Public: pub, CreatedAt: now, ActivatedAt: now}
	if s.sealer != nil {
		if k.Private, err = s.sealer.seal(k.ID, k.Algorithm, pkcs8); err != nil {
			return Key{}, err
		}
		k.Encrypted = true
	}
	return k, nil
}

// load reads the store into a new snapshot, reusing the previous private
// key when the active key did not change (no decrypt per reload).
func (s *Set) load(ctx context.Context) (*snapshot, error) {
	stored, err := s.store.Keys(ctx)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	sort.SliceStable(stored, func(i, j int) bool { return stored[i].ActivatedAt.After(stored[j].ActivatedAt) })
	snap := &snapshot{byKID: make(map[string]*entry)}
	for _, k := range stored {
		switch {
		case k.Pending:
			if snap.pendingKID == "" {
				snap.pendingKID, snap.pendingAlg, snap.pendingAt = k.ID, k.Algorithm, k.ActivatedAt
			}
		case k.RetiresAt.IsZero() && snap.storeActive == "":
			snap.storeActive = k.ID
		}
	}
	now := s.now()
	for _, k := range stored {
		snap.infos = append(snap.infos, Info{KID: k.ID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt, ActivatedAt: k.ActivatedAt, RetiresAt: k.RetiresAt})
		if k.Algorithm != s.alg || retired(k.RetiresAt, now) {
			continue
		}
		e, err := s.loadEntry(k)
		if err != nil {
			return nil, err
		}
		snap.byKID[k.ID] = e
		snap.order = append(snap.order, e)
		if k.ID == snap.storeActive {
			snap.activeKID = k.ID
			if snap.signer, err = s.privateKey(k, e.pub); err != nil {
				return nil, err
			}
		}
	}
	sortActiveFirst(snap)
	return snap, nil
}

// algorithmOf is the algorithm of the stored key kid, "" when unknown.
func (snap *snapshot) algorithmOf(kid string) string {
	for _, in := range snap.infos {
		if in.KID == kid {
			return in.Algorithm
		}
	}
	return ""
}

func sortActiveFirst(snap *snapshot) {
	sort.SliceStable(snap.order, func(i, j int) bool { return snap.order[i].info.KID == snap.activeKID })
	sort.SliceStable(snap.infos, func(i, j int) bool { return snap.infos[i].KID == snap.storeActive })
}

func (s *Set) loadEntry(k Key) (*entry, error) {
	pub, err := x509.ParsePKIXPublicKey(k.Public)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: parse public key: %w", k.ID, err)
	}
	if err := checkPublic(k.Algorithm, pub); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	j, err := publicJWK(k.Algorithm, pub)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	j.Kid = k.ID
	info := Info{KID: k.ID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt, ActivatedAt: k.ActivatedAt, RetiresAt: k.RetiresAt}
	return &entry{info: info, pub: pub, jwk: j}, nil
}

// privateKey opens the active key's private half and checks that it belongs
// to the stored public key.
func (s *Set) privateKey(k Key, pub any) (any, error) {
	if old := s.cur.Load(); old != nil && old.activeKID == k.ID && old.signer != nil {
		return old.signer, nil
	}
	der := k.Private
	if k.Encrypted {
		if s.sealer == nil {
			return nil, fmt.Errorf("%w %s: it is encrypted but keys.encryption_key is not set", ErrDecrypt, k.ID)
		}
		var err error
		if der, err = s.sealer.open(k.ID, k.Algorithm, k.Private); err != nil {
			return nil, err
		}
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: private key is not valid PKCS#8", k.ID)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok || !publicEqual(signer.Public(), pub) {
		return nil, fmt.Errorf("signing key %s: private key does not match its public key", k.ID)
	}
	return signer, nil
}

func publicEqual(a, b any) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// retired reports whether a key with this RetiresAt no longer verifies.
func retired(at, now time.Time) bool { return !at.IsZero() && !now.Before(at) }

// Run keeps the Set current until ctx ends: every reloadEvery (default 1m)
// it reloads the store and, when rotateEvery > 0, rotates on schedule: once
// the active key is older than rotateEvery - PublishLead(rotateEvery), the
// next key is stored as pending (published in the JWKS, not signing) to
// become active rotateEvery after the active key did (or PublishLead from
// now, if that is later: a rotation found overdue is still published
// first); once that time has come, it is made active. Deciding by the
// stored times rather than a local timer, and storing both steps with a
// compare-and-swap on the active key, means N instances publish one next key
// and rotate once per period, not N times, and an instance restarted in
// between finds the pending key instead of making another.
// Keys retired for more than Retention (a week) are purged.
func (s *Set) Run(ctx context.Context, rotateEvery, reloadEvery time.Duration) {
	if s.alg == HS256 {
		return
	}
	if reloadEvery <= 0 {
		reloadEvery = time.Minute
	}
	t := time.NewTicker(reloadEvery)
	defer t.Stop()
	for {
		s.tick(ctx, rotateEvery)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Retention is how long a retired key stays in the store (and in `gatehouse
// keys list`) before Run purges it: a week, as docs/tokens.md says. Only
// this package deletes signing keys.
const Retention = 7 * 24 * time.Hour

func (s *Set) tick(ctx context.Context, rotateEvery time.Duration) {
	if err := s.Reload(ctx); err != nil {
		s.log.Warn("reload signing keys failed", slog.String("error", err.Error()))
		return
	}
	if rotateEvery > 0 {
		if err := s.schedule(ctx, rotateEvery); err != nil && !errors.Is(err, auth.ErrConflict) {
			s.log.Warn("scheduled key rotation failed", slog.String("error", err.Error()))
		}
	}
	if _, err := s.PurgeRetired(ctx); err != nil {
		s.log.Warn("purge retired keys failed", slog.String("error", err.Error()))
	}
}

// PurgeRetired deletes the keys that retired more than Retention ago and
// returns how many it deleted. Run calls it at every reload.
func (s *Set) PurgeRetired(ctx context.Context) (int, error) {
	n, err := s.store.DeleteRetiredKeys(ctx, s.now().Add(-Retention))
	if err != nil {
		return 0, fmt.Errorf("purge retired keys: %w", err)
	}
	return n, nil
}

// schedule takes the scheduled rotation one step, deciding from one
// snapshot and storing with a compare-and-swap on its active key: it makes
// a due pending key active, or publishes the next key once the active one
// is within PublishLead of its period.
func (s *Set) schedule(ctx context.Context, every time.Duration) error {
	s.mu.Lock()
	snap, now := s.cur.Load(), s.now()
	var (
		kid                string
		err                error
		rotated, published bool
	)
	switch {
	case snap.pendingKID != "":
		// A pending key of another algorithm is left to the instances
		// running that algorithm.
		if snap.pendingAlg == s.alg && !now.Before(snap.pendingAt) {
			kid, err = s.rotateLocked(ctx)
			rotated = err == nil
		}
	case !now.Before(activeSince(snap, now).Add(every - PublishLead(every))):
		kid, err = s.publishNextLocked(ctx, snap, every)
		published = err == nil
	}
	s.mu.Unlock()
	switch {
	case rotated && s.onRotate != nil:
		s.onRotate(ctx, kid)
	case published && s.onPublish != nil:
		s.onPublish(ctx, kid)
	}
	return err
}

// publishNextLocked stores a new key as the pending one, due every after
// the snapshot's active key became active but no sooner than PublishLead
// from now. If another instance published one (or rotated) first, nothing
// is stored, the Set reloads and the error wraps auth.ErrConflict.
func (s *Set) publishNextLocked(ctx context.Context, snap *snapshot, every time.Duration) (string, error) {
	next, err := s.newKey()
	if err != nil {
		return "", err
	}
	due := activeSince(snap, next.CreatedAt).Add(every)
	if earliest := next.CreatedAt.Add(PublishLead(every)); due.Before(earliest) {
		due = earliest
	}
	next.ActivatedAt = due.UTC().Truncate(time.Microsecond)
	err = s.store.AddPendingKey(ctx, snap.storeActive, next)
	if errors.Is(err, auth.ErrConflict) {
		if rerr := s.reloadLocked(ctx); rerr != nil {
			return "", fmt.Errorf("publish next signing key: lost race, then %w", rerr)
		}
		return "", fmt.Errorf("publish next signing key: another instance did first: %w", err)
	}
	if err != nil {
		return "", fmt.Errorf("publish next signing key: %w", err)
	}
	s.log.Info("next signing key published", slog.String("kid", next.ID), slog.Time("activates_at", next.ActivatedAt),
		slog.String("active_kid", snap.storeActive), slog.String("alg", s.alg))
	if err := s.reloadLocked(ctx); err != nil {
		return next.ID, fmt.Errorf("published %s but reload failed: %w", next.ID, err)
	}
	return next.ID, nil
}

// activeSince is when snap's active key became active (now if unknown).
func activeSince(snap *snapshot, now time.Time) time.Time {
	if e := snap.byKID[snap.activeKID]; e != nil {
		return e.info.ActivatedAt
	}
	return now
}
