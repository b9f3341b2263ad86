package keys_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/keys/keystest"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
)

// The in-test memStore must honour the same contract as the real stores,
// or the tests above prove nothing.
func TestMemStoreConformance(t *testing.T) {
	keystest.RunStoreTests(t, func(t *testing.T) keys.Store { return &memStore{} })
}

// Several instances (separate connections) on one real SQLite file start
// together, agree on one first key, and follow each other's rotations.
func TestInstancesShareSQLiteStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	secret := keys.WithEncryptionKey([]byte("0123456789abcdef0123456789abcdef-sqlite"))
	c := newClock()
	stores := []keys.Store{sqlitetest.Open(t, path), sqlitetest.Open(t, path), sqlitetest.Open(t, path)}
	sets := make([]*keys.Set, len(stores))
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, st := range stores {
		wg.Go(func() {
			sets[i], errs[i] = keys.NewSet(context.Background(), st, keys.ES256, keys.WithClock(c.Now), keys.WithVerifyGrace(grace), secret)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("NewSet: %v", err)
		}
	}
	first, _, _ := sets[0].Signing()
	for _, s := range sets[1:] {
		if kid, _, _ := s.Signing(); kid != first {
			t.Fatalf("instances started on one store disagree: %q vs %q", kid, first)
		}
	}

	next, err := sets[1].Rotate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sets[2].Rotate(context.Background()); !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("stale rotation on SQLite err = %v, want ErrConflict", err)
	}
	if err := sets[0].Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, s := range sets {
		if kid, _, _ := s.Signing(); kid != next {
			t.Errorf("instance %d signs with %q, want %q", i, kid, next)
		}
		if _, err := s.VerificationKey(first); err != nil {
			t.Errorf("instance %d: old key during grace: %v", i, err)
		}
	}
	c.Advance(grace)
	if _, err := sets[0].VerificationKey(first); !errors.Is(err, keys.ErrRetiredKey) {
		t.Errorf("old key after grace err = %v, want ErrRetiredKey", err)
	}

	_, err = keys.NewSet(context.Background(), stores[0], keys.ES256, keys.WithEncryptionKey([]byte("0123456789abcdef0123456789abcdef-WRONG")))
	if !errors.Is(err, keys.ErrDecrypt) {
		t.Errorf("wrong encryption key on SQLite err = %v, want ErrDecrypt", err)
	}
}
