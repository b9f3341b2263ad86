package keys_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// backends are the real stores signing keys live in. open returns a
// function that opens one more connection to the same fresh database: one
// per instance sharing it.
var backends = []struct {
	name string
	open func(t *testing.T) func() keys.Store
}{
	{"sqlite", func(t *testing.T) func() keys.Store {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		return func() keys.Store { return sqlitetest.Open(t, path) }
	}},
	{"postgres", func(t *testing.T) func() keys.Store {
		dsn := pgtest.DSN(t)
		return func() keys.Store { return pgtest.Open(t, dsn) }
	}},
}

var (
	rightKey = keys.WithEncryptionKey([]byte("0123456789abcdef0123456789abcdef-right"))
	wrongKey = keys.WithEncryptionKey([]byte("0123456789abcdef0123456789abcdef-WRONG"))
)

// storedRows returns the store's keys as comparable values.
func storedRows(t *testing.T, s keys.Store) []keys.Key {
	t.Helper()
	ks, err := s.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func sameRows(a, b []keys.Key) bool {
	return slices.EqualFunc(a, b, func(x, y keys.Key) bool {
		return x.ID == y.ID && x.Algorithm == y.Algorithm && bytes.Equal(x.Private, y.Private) &&
			bytes.Equal(x.Public, y.Public) && x.Encrypted == y.Encrypted && x.RetiresAt.Equal(y.RetiresAt)
	})
}

// summary names each key and whether it is sealed, without key material.
func summary(ks []keys.Key) []string {
	out := make([]string, 0, len(ks))
	for _, k := range ks {
		out = append(out, fmt.Sprintf("%s %s encrypted=%v private=%x… retires=%v", k.ID, k.Algorithm, k.Encrypted, k.Private[:4], k.RetiresAt))
	}
	return out
}

// A start with a keys.encryption_key that does not open the store's sealed
// keys (a typo, another deployment's value) or without one refuses with
// ErrDecrypt and writes nothing: it neither takes the signing key over
// (a tokens.algorithm change never opened the old algorithm's key, so the
// new key was sealed under the wrong value and the running instances could
// no longer open the active key) nor seals keys stored in clear under a
// value the other instances do not have.
func TestWrongEncryptionKeyWritesNothing(t *testing.T) {
	tests := []struct {
		name string
		// prepare fills the store and returns the Set options of the start
		// that must be refused.
		prepare func(t *testing.T, st keys.Store, c *clocktest.Clock) (alg string, opts []keys.Option)
	}{
		{"algorithm change with a wrong key", func(t *testing.T, st keys.Store, c *clocktest.Clock) (string, []keys.Option) {
			newSet(t, st, keys.ES256, c, rightKey)
			return keys.EdDSA, []keys.Option{wrongKey, keys.WithAlgorithmChange()}
		}},
		{"algorithm change without a key", func(t *testing.T, st keys.Store, c *clocktest.Clock) (string, []keys.Option) {
			newSet(t, st, keys.ES256, c, rightKey)
			return keys.EdDSA, []keys.Option{keys.WithAlgorithmChange()}
		}},
		{"clear active key beside sealed ones", func(t *testing.T, st keys.Store, c *clocktest.Clock) (string, []keys.Option) {
			sealed := newSet(t, st, keys.ES256, c, rightKey)
			prev, _, _ := sealed.Signing()
			// An instance still running without keys.encryption_key rotated:
			// its new key is stored in clear.
			clear := &memStore{}
			newSet(t, clear, keys.ES256, c)
			k := clear.stored()[0]
			if err := st.RotateKey(context.Background(), prev, k, c.Now().Add(grace)); err != nil {
				t.Fatal(err)
			}
			return keys.ES256, []keys.Option{wrongKey}
		}},
	}
	for _, b := range backends {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				c := newClock()
				st := b.open(t)()
				alg, opts := tt.prepare(t, st, c)
				before := storedRows(t, st)
				_, err := keys.NewSet(context.Background(), st, alg, append([]keys.Option{keys.WithClock(c.Now), keys.WithVerifyGrace(grace)}, opts...)...)
				if !errors.Is(err, keys.ErrDecrypt) {
					t.Errorf("NewSet err = %v, want ErrDecrypt", err)
				}
				if after := storedRows(t, st); !sameRows(before, after) {
					t.Errorf("a refused start changed the stored keys:\nbefore %v\nafter  %v", summary(before), summary(after))
				}
			})
		}
	}
}

// A wrong or missing keys.encryption_key, and rotating an HS256 secret
// (which lives in configuration), are configuration errors: the command
// exits 2 (contract section 1), not 1 as for a runtime failure.
func TestConfigErrorsAreInvalidInput(t *testing.T) {
	st := &memStore{}
	c := newClock()
	newSet(t, st, keys.ES256, c, rightKey)
	for _, tt := range []struct {
		name string
		opts []keys.Option
	}{{"wrong encryption key", []keys.Option{wrongKey}}, {"no encryption key", nil}} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keys.NewSet(context.Background(), st, keys.ES256, append(tt.opts, keys.WithClock(c.Now))...)
			if !errors.Is(err, keys.ErrDecrypt) || !errors.Is(err, auth.ErrInvalidInput) || !strings.Contains(err.Error(), "keys.encryption_key") {
				t.Errorf("NewSet err = %v, want ErrDecrypt and auth.ErrInvalidInput naming keys.encryption_key", err)
			}
		})
	}
	t.Run("rotate HS256", func(t *testing.T) {
		hs, err := keys.NewSet(context.Background(), nil, keys.HS256, keys.WithHMACSecret([]byte("an-hmac-secret-of-at-least-32-bytes!!")))
		if err != nil {
			t.Fatal(err)
		}
		_, err = hs.Rotate(context.Background())
		if !errors.Is(err, keys.ErrUnsupported) || !errors.Is(err, auth.ErrInvalidInput) || !strings.Contains(err.Error(), "tokens.hmac_secret") {
			t.Errorf("Rotate err = %v, want ErrUnsupported and auth.ErrInvalidInput naming tokens.hmac_secret", err)
		}
	})
}

// A rotated-out key verifies, and stays in the JWKS, until exactly
// access_ttl + leeway after the rotation, on every instance of a real
// store: one microsecond before it still does, at that instant it does not.
func TestRotatedKeyBoundaryOnRealStores(t *testing.T) {
	for _, b := range backends {
		for _, alg := range asymmetric {
			t.Run(b.name+"/"+alg, func(t *testing.T) {
				open := b.open(t)
				c := newClock()
				a := newSet(t, open(), alg, c, rightKey)
				other := newSet(t, open(), alg, c, rightKey)
				old, _, _ := a.Signing()
				c.Advance(3 * time.Second)
				if _, err := a.Rotate(context.Background()); err != nil {
					t.Fatal(err)
				}
				if err := other.Reload(context.Background()); err != nil {
					t.Fatal(err)
				}
				c.Advance(grace - time.Microsecond)
				for i, s := range []*keys.Set{a, other} {
					if _, err := s.VerificationKey(old); err != nil {
						t.Errorf("instance %d, 1µs before access_ttl+leeway: old key err = %v", i, err)
					}
					if !slices.Contains(jwksKIDs(t, s), old) {
						t.Errorf("instance %d, 1µs before access_ttl+leeway: old key not in the JWKS", i)
					}
				}
				c.Advance(time.Microsecond)
				for i, s := range []*keys.Set{a, other} {
					if _, err := s.VerificationKey(old); !errors.Is(err, keys.ErrRetiredKey) {
						t.Errorf("instance %d, at access_ttl+leeway: old key err = %v, want ErrRetiredKey", i, err)
					}
					if slices.Contains(jwksKIDs(t, s), old) {
						t.Errorf("instance %d, at access_ttl+leeway: old key still in the JWKS", i)
					}
				}
			})
		}
	}
}

// keys.rotate_every on several instances of one real store rotates once
// per period, not once per instance.
func TestRunRotatesOnceOnRealStores(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			open := b.open(t)
			c := newClock()
			sets := []*keys.Set{newSet(t, open(), keys.EdDSA, c, rightKey), newSet(t, open(), keys.EdDSA, c, rightKey), newSet(t, open(), keys.EdDSA, c, rightKey)}
			first, _, _ := sets[0].Signing()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			t.Cleanup(func() { cancel(); wg.Wait() })
			c.Advance(25 * time.Hour)
			for _, s := range sets {
				wg.Go(func() { s.Run(ctx, 24*time.Hour, 5*time.Millisecond) })
			}
			// Overdue, the rotation is still published PublishLead ahead.
			clocktest.Eventually(t, "every instance publishes the one next key", func() bool {
				for _, s := range sets {
					if len(jwksKIDs(t, s)) != 2 || !equal(jwksKIDs(t, s), jwksKIDs(t, sets[0])) {
						return false
					}
				}
				return true
			})
			c.Advance(keys.PublishLead(24 * time.Hour))
			clocktest.Eventually(t, "every instance signs with the one new key", func() bool {
				k0, _, _ := sets[0].Signing()
				for _, s := range sets[1:] {
					if k, _, _ := s.Signing(); k != k0 {
						return false
					}
				}
				return k0 != first
			})
			cancel()
			wg.Wait()
			if got, want := len(storedRows(t, open())), 2; got != want {
				t.Errorf("keys after one due rotation with %d instances = %d, want %d", len(sets), got, want)
			}
		})
	}
}
