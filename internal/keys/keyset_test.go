package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

func TestNewSetCreatesFirstKey(t *testing.T) {
	for _, alg := range asymmetric {
		t.Run(alg, func(t *testing.T) {
			store := &memStore{}
			s := newSet(t, store, alg, newClock())
			kid, gotAlg, priv := s.Signing()
			if gotAlg != alg {
				t.Fatalf("Signing alg = %q, want %q", gotAlg, alg)
			}
			switch alg {
			case keys.RS256:
				if k, ok := priv.(*rsa.PrivateKey); !ok || k.N.BitLen() < 2048 {
					t.Fatalf("RS256 signing key = %T, want *rsa.PrivateKey >= 2048 bits", priv)
				}
			case keys.ES256:
				if _, ok := priv.(*ecdsa.PrivateKey); !ok {
					t.Fatalf("ES256 signing key = %T", priv)
				}
			case keys.EdDSA:
				if _, ok := priv.(ed25519.PrivateKey); !ok {
					t.Fatalf("EdDSA signing key = %T", priv)
				}
			}
			stored := store.stored()
			if got, want := len(stored), 1; got != want {
				t.Fatalf("stored keys = %d, want %d", got, want)
			}
			if got, want := stored[0].ID, kid; got != want {
				t.Errorf("stored kid = %q, want the signing kid %q", got, want)
			}
			if _, err := s.VerificationKey(kid); err != nil {
				t.Errorf("VerificationKey(active) = %v", err)
			}
			if got, want := jwksKIDs(t, s), []string{kid}; !equal(got, want) {
				t.Errorf("JWKS kids = %v, want %v", got, want)
			}
			list := s.List()
			if len(list) != 1 || list[0].State != keys.StateActive || list[0].KID != kid {
				t.Errorf("List = %+v, want one active key %s", list, kid)
			}
		})
	}
}

func TestNewSetSharesExistingKey(t *testing.T) {
	store := &memStore{}
	c := newClock()
	a := newSet(t, store, keys.ES256, c)
	b := newSet(t, store, keys.ES256, c)
	ka, _, _ := a.Signing()
	kb, _, _ := b.Signing()
	if ka != kb {
		t.Fatalf("second instance signs with %q, first with %q", kb, ka)
	}
	if got, want := len(store.stored()), 1; got != want {
		t.Errorf("stored keys = %d, want %d", got, want)
	}
}

// Two instances starting on an empty store: the loser of RotateKey's
// compare-and-swap must adopt the winner's key, not fail or make a third.
func TestNewSetLosesFirstKeyRace(t *testing.T) {
	store := &memStore{}
	c := newClock()
	other := &memStore{}
	winner := newSet(t, other, keys.ES256, c) // "another instance" made this key
	store.beforeRotate = func(s *memStore) { s.keys = append(s.keys, other.keys...) }
	s := newSet(t, store, keys.ES256, c)
	got, _, _ := s.Signing()
	want, _, _ := winner.Signing()
	if got != want {
		t.Fatalf("after losing the race Signing kid = %q, want the winner's %q", got, want)
	}
	if got, want := len(store.stored()), 1; got != want {
		t.Errorf("stored keys = %d, want %d", got, want)
	}
}

func TestRotateKeepsOldKeyForGrace(t *testing.T) {
	for _, alg := range asymmetric {
		t.Run(alg, func(t *testing.T) {
			c := newClock()
			s := newSet(t, &memStore{}, alg, c)
			oldKID, _, _ := s.Signing()
			newKID, err := s.Rotate(context.Background())
			if err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			if kid, _, _ := s.Signing(); kid != newKID || kid == oldKID {
				t.Fatalf("Signing kid after rotate = %q, want new %q (old %q)", kid, newKID, oldKID)
			}
			if got, want := jwksKIDs(t, s), []string{newKID, oldKID}; !equal(got, want) {
				t.Errorf("JWKS right after rotation = %v, want %v", got, want)
			}
			if _, err := s.VerificationKey(oldKID); err != nil {
				t.Errorf("old key during grace: %v", err)
			}
			states := map[string]string{}
			for _, in := range s.List() {
				states[in.KID] = in.State
			}
			if states[newKID] != keys.StateActive || states[oldKID] != keys.StateVerifying {
				t.Errorf("List states = %v", states)
			}

			c.Advance(grace)
			if _, err := s.VerificationKey(oldKID); !errors.Is(err, keys.ErrRetiredKey) {
				t.Errorf("old key after grace: err = %v, want ErrRetiredKey", err)
			}
			if got, want := jwksKIDs(t, s), []string{newKID}; !equal(got, want) {
				t.Errorf("JWKS after grace = %v, want %v", got, want)
			}
			for _, in := range s.List() {
				if in.KID == oldKID && in.State != keys.StateRetired {
					t.Errorf("old key state after grace = %q, want retired", in.State)
				}
			}
		})
	}
}

func TestReloadFollowsAnotherInstancesRotation(t *testing.T) {
	store := &memStore{}
	c := newClock()
	a := newSet(t, store, keys.EdDSA, c)
	b := newSet(t, store, keys.EdDSA, c)
	newKID, err := a.Rotate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.VerificationKey(newKID); !errors.Is(err, keys.ErrUnknownKey) {
		t.Fatalf("before reload, unknown kid lookup err = %v, want ErrUnknownKey (no store lookup by kid)", err)
	}
	if err := b.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if kid, _, _ := b.Signing(); kid != newKID {
		t.Errorf("after reload b signs with %q, want %q", kid, newKID)
	}
	if _, err := b.VerificationKey(newKID); err != nil {
		t.Errorf("after reload VerificationKey(new) = %v", err)
	}
}

func TestRotateConflictAdoptsWinner(t *testing.T) {
	store := &memStore{}
	c := newClock()
	a := newSet(t, store, keys.ES256, c)
	b := newSet(t, store, keys.ES256, c)
	winner, err := a.Rotate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Rotate(context.Background()); !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("stale Rotate err = %v, want ErrConflict", err)
	}
	if kid, _, _ := b.Signing(); kid != winner {
		t.Errorf("after conflict b signs with %q, want winner %q", kid, winner)
	}
	if got, want := len(store.stored()), 2; got != want {
		t.Errorf("stored keys = %d, want %d (the loser stores nothing)", got, want)
	}
}

func TestConcurrentRotateOneWinner(t *testing.T) {
	store := &memStore{}
	c := newClock()
	sets := []*keys.Set{newSet(t, store, keys.ES256, c), newSet(t, store, keys.ES256, c), newSet(t, store, keys.ES256, c)}
	var wg sync.WaitGroup
	errs := make([]error, len(sets))
	for i, s := range sets {
		wg.Go(func() { _, errs[i] = s.Rotate(context.Background()) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, auth.ErrConflict):
			t.Errorf("Rotate err = %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("successful rotations = %d, want 1", wins)
	}
	first, _, _ := sets[0].Signing()
	for _, s := range sets[1:] {
		if kid, _, _ := s.Signing(); kid != first {
			t.Errorf("instances disagree on the active key: %q vs %q", kid, first)
		}
	}
}

func TestEncryptionAtRest(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef-encryption")
	for _, alg := range asymmetric {
		t.Run(alg, func(t *testing.T) {
			store := &memStore{}
			c := newClock()
			s := newSet(t, store, alg, c, keys.WithEncryptionKey(secret))
			k := store.stored()[0]
			if !k.Encrypted {
				t.Fatal("stored key not marked Encrypted")
			}
			if _, err := x509.ParsePKCS8PrivateKey(k.Private); err == nil {
				t.Fatal("stored private key parses as plain PKCS#8")
			}
			again := newSet(t, store, alg, c, keys.WithEncryptionKey(secret))
			k1, _, p1 := s.Signing()
			k2, _, p2 := again.Signing()
			if k1 != k2 || !p1.(interface {
				Equal(x crypto.PrivateKey) bool
			}).Equal(p2) {
				t.Fatal("reopened set has another signing key")
			}
		})
	}
}

// Setting keys.encryption_key on a running deployment seals the keys made
// before it, the active one included, at the next start: the key that
// signs does not stay readable in the store until it is rotated away.
func TestEncryptionKeySealsKeysStoredInClear(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef-encryption")
	for _, alg := range asymmetric {
		t.Run(alg, func(t *testing.T) {
			store := &memStore{}
			c := newClock()
			before := newSet(t, store, alg, c) // no encryption key yet
			if _, err := before.Rotate(context.Background()); err != nil {
				t.Fatal(err)
			}
			kid, _, priv := before.Signing()
			after := newSet(t, store, alg, c, keys.WithEncryptionKey(secret))
			for _, k := range store.stored() {
				if _, err := x509.ParsePKCS8PrivateKey(k.Private); !k.Encrypted || err == nil {
					t.Errorf("key %s after a start with the encryption key: Encrypted %v, parses in clear %v", k.ID, k.Encrypted, err == nil)
				}
			}
			kid2, _, priv2 := after.Signing()
			if kid2 != kid || !priv.(interface {
				Equal(x crypto.PrivateKey) bool
			}).Equal(priv2) {
				t.Error("the sealed active key is not the key that signed before")
			}
		})
	}
}

func TestEncryptionKeyErrors(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef-right")
	store := &memStore{}
	c := newClock()
	newSet(t, store, keys.ES256, c, keys.WithEncryptionKey(secret))
	tests := []struct {
		name string
		opts []keys.Option
		want error
	}{
		{"wrong key", []keys.Option{keys.WithEncryptionKey([]byte("0123456789abcdef0123456789abcdef-wrong"))}, keys.ErrDecrypt},
		{"no key configured", nil, keys.ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]keys.Option{keys.WithClock(c.Now)}, tt.opts...)
			_, err := keys.NewSet(context.Background(), store, keys.ES256, opts...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("NewSet err = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("short key", func(t *testing.T) {
		if _, err := keys.NewSet(context.Background(), &memStore{}, keys.ES256, keys.WithEncryptionKey([]byte("short"))); err == nil {
			t.Fatal("NewSet accepted a 5-byte encryption key")
		}
	})
}

// A ciphertext moved to another row must not open: the AAD binds kid+alg.
func TestSealedKeyBoundToItsKID(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef-bind")
	store := &memStore{}
	c := newClock()
	s := newSet(t, store, keys.ES256, c, keys.WithEncryptionKey(secret))
	if _, err := s.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	store.keys[1].Private = store.keys[0].Private
	store.mu.Unlock()
	_, err := keys.NewSet(context.Background(), store, keys.ES256, keys.WithClock(c.Now), keys.WithEncryptionKey(secret))
	if !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("NewSet with swapped ciphertext err = %v, want ErrDecrypt", err)
	}
}

func TestKeyMaterialNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := &memStore{}
	s := newSet(t, store, keys.EdDSA, newClock(), keys.WithLogger(log))
	if _, err := s.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if buf.Len() == 0 {
		t.Fatal("rotation logged nothing")
	}
	for _, k := range store.stored() {
		priv, err := x509.ParsePKCS8PrivateKey(k.Private)
		if err != nil {
			t.Fatal(err)
		}
		seed := priv.(ed25519.PrivateKey).Seed()
		for _, enc := range []string{base64.StdEncoding.EncodeToString(seed), base64.RawURLEncoding.EncodeToString(seed), base64.StdEncoding.EncodeToString(k.Private)} {
			if bytes.Contains(buf.Bytes(), []byte(enc)) {
				t.Fatalf("log contains private key material: %s", buf.String())
			}
		}
	}
}

func TestHS256(t *testing.T) {
	secret := []byte("an-hmac-secret-of-at-least-32-bytes!!")
	s, err := keys.NewSet(context.Background(), nil, keys.HS256, keys.WithHMACSecret(secret))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append([]byte("gatehouse-kid:"), secret...))
	wantKID := base64.RawURLEncoding.EncodeToString(sum[:8])
	kid, alg, key := s.Signing()
	if kid != wantKID || alg != keys.HS256 || !bytes.Equal(key.([]byte), secret) {
		t.Fatalf("Signing = %q %q, want kid %q HS256 and the secret", kid, alg, wantKID)
	}
	if got, want := string(s.JWKS()), `{"keys":[]}`; got != want {
		t.Errorf("JWKS = %s, want %s", got, want)
	}
	if _, err := s.VerificationKey("other"); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("VerificationKey(other) err = %v, want ErrUnknownKey", err)
	}
	if _, err := s.Rotate(context.Background()); !errors.Is(err, keys.ErrUnsupported) {
		t.Errorf("Rotate err = %v, want ErrUnsupported", err)
	}
	if _, err := keys.NewSet(context.Background(), nil, keys.HS256, keys.WithHMACSecret([]byte("too-short"))); err == nil {
		t.Error("NewSet accepted a 9-byte HMAC secret")
	}
}

// Keys of another algorithm in the store never verify: a token cannot pick
// an RSA key in an ES256 deployment by naming its kid.
func TestOtherAlgorithmKeysNotUsable(t *testing.T) {
	store := &memStore{}
	c := newClock()
	rs := newSet(t, store, keys.RS256, c)
	rsKID, _, _ := rs.Signing()
	es := newSet(t, store, keys.ES256, c, keys.WithAlgorithmChange()) // switches the store to ES256
	if _, err := es.VerificationKey(rsKID); !errors.Is(err, keys.ErrUnknownKey) {
		t.Fatalf("ES256 set VerificationKey(RS256 kid) err = %v, want ErrUnknownKey", err)
	}
	for _, k := range jwksKIDs(t, es) {
		if k == rsKID {
			t.Fatal("ES256 JWKS publishes the RS256 key")
		}
	}
}

// A Set of another algorithm than the store's active key takes the store
// over only when allowed (serve changing tokens.algorithm); otherwise it
// refuses with ErrAlgorithmMismatch, naming tokens.algorithm, and leaves
// the store as it was: a CLI command with a default ES256 config made its
// own key the active one of an RS256 deployment.
func TestAnotherAlgorithmChangesTheStoreOnlyWhenAllowed(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowed=%v", allow), func(t *testing.T) {
			store := &memStore{}
			c := newClock()
			rs := newSet(t, store, keys.RS256, c)
			rsKID, _, _ := rs.Signing()
			var opts []keys.Option
			if allow {
				opts = append(opts, keys.WithAlgorithmChange())
			}
			es, err := keys.NewSet(context.Background(), store, keys.ES256, append(opts, keys.WithClock(c.Now))...)
			switch {
			case allow && err != nil:
				t.Fatalf("NewSet(ES256) allowed to change: %v", err)
			case allow:
				if kid, _, _ := es.Signing(); kid == rsKID || store.active() != kid {
					t.Errorf("after an allowed change the store's active key is %q, the Set signs with %q", store.active(), kid)
				}
			case !errors.Is(err, keys.ErrAlgorithmMismatch) || !errors.Is(err, auth.ErrInvalidInput) || !strings.Contains(err.Error(), "tokens.algorithm"):
				t.Fatalf("NewSet(ES256) on an RS256 store = %v, want ErrAlgorithmMismatch naming tokens.algorithm", err)
			case store.active() != rsKID || len(store.keys) != 1:
				t.Errorf("a refused NewSet changed the store: active %q, %d keys", store.active(), len(store.keys))
			}
		})
	}
	// A store without an active key gets its first key from any Set.
	if _, err := keys.NewSet(context.Background(), &memStore{}, keys.EdDSA); err != nil {
		t.Errorf("NewSet on an empty store: %v", err)
	}
}

func TestStoreDownFailsClosed(t *testing.T) {
	down := &memStore{fail: auth.ErrUnavailable}
	if _, err := keys.NewSet(context.Background(), down, keys.ES256); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("NewSet on a dead store err = %v, want ErrUnavailable", err)
	}
	store := &memStore{}
	s := newSet(t, store, keys.ES256, newClock())
	kid, _, _ := s.Signing()
	store.mu.Lock()
	store.fail = auth.ErrUnavailable
	store.mu.Unlock()
	if err := s.Reload(context.Background()); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Reload err = %v, want ErrUnavailable", err)
	}
	if got, _, _ := s.Signing(); got != kid {
		t.Errorf("after a failed reload Signing kid = %q, want the previous %q", got, kid)
	}
}

func TestRunRotatesOncePerPeriodAcrossInstances(t *testing.T) {
	store := &memStore{}
	c := newClock()
	a := newSet(t, store, keys.EdDSA, c)
	b := newSet(t, store, keys.EdDSA, c)
	first, _, _ := a.Signing()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	c.Advance(25 * time.Hour)
	for _, s := range []*keys.Set{a, b} {
		wg.Go(func() { s.Run(ctx, 24*time.Hour, 5*time.Millisecond) })
	}
	// Overdue, the rotation is still published PublishLead ahead.
	clocktest.Eventually(t, "both instances publish the one next key", func() bool {
		return len(jwksKIDs(t, a)) == 2 && equal(jwksKIDs(t, a), jwksKIDs(t, b))
	})
	c.Advance(keys.PublishLead(24 * time.Hour))
	clocktest.Eventually(t, "both instances sign with the one new key", func() bool {
		ka, _, _ := a.Signing()
		kb, _, _ := b.Signing()
		return ka != first && ka == kb
	})
	cancel()
	wg.Wait()
	if got, want := len(store.stored()), 2; got != want {
		t.Errorf("keys after one due rotation with two instances = %d, want %d", got, want)
	}
}

func jwksKIDs(t *testing.T, s *keys.Set) []string {
	t.Helper()
	var set struct {
		Keys []keys.JWK `json:"keys"`
	}
	if err := json.Unmarshal(s.JWKS(), &set); err != nil {
		t.Fatalf("JWKS is not JSON: %v", err)
	}
	out := []string{}
	for _, k := range set.Keys {
		out = append(out, k.Kid)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Retired keys stay in the store for keys.Retention (a week, docs/tokens.md)
// and Run purges them after that; nothing else deletes keys (issue 12,
// drift 3: app used to purge them after 24 h).
func TestRunPurgesKeysRetiredOverAWeekAgo(t *testing.T) {
	store := &memStore{}
	c := newClock()
	s := newSet(t, store, keys.EdDSA, c)
	ctx := context.Background()
	old, _, _ := s.Signing()
	if _, err := s.Rotate(ctx); err != nil { // old retires after grace
		t.Fatal(err)
	}
	c.Advance(6 * 24 * time.Hour)
	recent, _, _ := s.Signing()
	if _, err := s.Rotate(ctx); err != nil { // recent retires after grace
		t.Fatal(err)
	}
	c.Advance(2 * 24 * time.Hour) // old retired ~8 days ago, recent ~2 days ago

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { s.Run(runCtx, 0, 5*time.Millisecond) })
	stored := func() map[string]bool {
		ids := map[string]bool{}
		for _, k := range store.stored() {
			ids[k.ID] = true
		}
		return ids
	}
	clocktest.Eventually(t, "the key retired 8 days ago is purged", func() bool { return !stored()[old] })
	cancel()
	wg.Wait()
	if !stored()[recent] {
		t.Errorf("key %s retired 2 days ago was purged; keys stay for %s after retiring", recent, keys.Retention)
	}
	if got, want := len(store.stored()), 2; got != want {
		t.Errorf("keys left = %d, want %d (the recent retired one and the active one)", got, want)
	}
}
