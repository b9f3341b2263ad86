package keys_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
)

// countingStore is a real store that counts how often the keys are read.
type countingStore struct {
	keys.Store
	reads atomic.Int32
}

func (s *countingStore) Keys(ctx context.Context) ([]keys.Key, error) {
	s.reads.Add(1)
	return s.Store.Keys(ctx)
}

// An instance that meets the kid of a key another instance has just rotated
// to learns it from the store at once, without waiting for the "keys"
// event; tokens naming made-up kids cost at most one store read per
// keys.LearnEvery, and concurrent callers share one read.
func TestLearnKeyFollowsARotationAndIsRateLimited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	c := newClock()
	a := newSet(t, sqlitetest.Open(t, path), keys.ES256, c)
	store := &countingStore{Store: sqlitetest.Open(t, path)}
	b := newSet(t, store, keys.ES256, c)
	ctx := context.Background()
	rotate := func() string {
		t.Helper()
		kid, err := a.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.VerificationKey(kid); !errors.Is(err, keys.ErrUnknownKey) {
			t.Fatalf("before learning, VerificationKey(new) = %v, want ErrUnknownKey", err)
		}
		return kid
	}
	reads := func() int { return int(store.reads.Load()) }

	kid := rotate()
	before := reads()
	if !b.LearnKey(ctx, kid) {
		t.Fatal("LearnKey(kid of another instance's rotation) = false, want true")
	}
	if _, err := b.VerificationKey(kid); err != nil {
		t.Fatalf("after LearnKey, VerificationKey(new) = %v", err)
	}
	if kid2, _, _ := b.Signing(); kid2 != kid {
		t.Errorf("after LearnKey b signs with %q, want %q", kid2, kid)
	}
	if !b.LearnKey(ctx, kid) {
		t.Error("LearnKey(known kid) = false")
	}
	for i := range 100 {
		if b.LearnKey(ctx, fmt.Sprintf("junk-%d", i)) {
			t.Fatalf("LearnKey(junk-%d) = true", i)
		}
	}
	if got := reads() - before; got != 1 {
		t.Errorf("store reads for one rotation, a known kid and 100 junk kids within %v = %d, want 1", keys.LearnEvery, got)
	}

	// Within the interval even a real new key waits (for the feed, or
	// the interval); after it, concurrent callers share one read.
	kid = rotate()
	if b.LearnKey(ctx, kid) {
		t.Errorf("LearnKey within %v of the last reload = true, want false (no store read)", keys.LearnEvery)
	}
	c.Advance(keys.LearnEvery)
	before = reads()
	var wg sync.WaitGroup
	var learned atomic.Int32
	for range 20 {
		wg.Go(func() {
			if b.LearnKey(ctx, kid) {
				learned.Add(1)
			}
		})
	}
	wg.Wait()
	if got := learned.Load(); got != 20 {
		t.Errorf("%d of 20 concurrent callers learned the new key, want all", got)
	}
	if got := reads() - before; got != 1 {
		t.Errorf("store reads for 20 concurrent callers = %d, want 1", got)
	}
}

// HS256 has one key, from configuration: nothing to learn, no store.
func TestLearnKeyHS256(t *testing.T) {
	s := newSet(t, nil, keys.HS256, newClock(), keys.WithHMACSecret([]byte("an-hmac-secret-of-at-least-32-bytes!!")))
	if s.LearnKey(context.Background(), "other") {
		t.Error("LearnKey with HS256 = true")
	}
}
