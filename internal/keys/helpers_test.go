package keys_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// memStore is a small, honest keys.Store: RotateKey is a compare-and-swap
// on the active key under one mutex, like the SQL stores' transaction.
type memStore struct {
	mu   sync.Mutex
	keys []keys.Key
	// pending is the announced next key (Pending set), pendingAfter the
	// active key it was announced after; it is listed only while that key
	// is still the active one.
	pending      *keys.Key
	pendingAfter string
	// beforeRotate runs inside RotateKey before the check, to let a test
	// play "another instance got there first".
	beforeRotate func(s *memStore)
	fail         error // returned by every call when set
}

func (s *memStore) Keys(ctx context.Context) ([]keys.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	out := append([]keys.Key(nil), s.keys...)
	if s.pending != nil && s.pendingAfter == s.active() {
		out = append(out, *s.pending)
	}
	return out, nil
}

func (s *memStore) active() string {
	var best keys.Key
	for _, k := range s.keys {
		if k.RetiresAt.IsZero() && (best.ID == "" || k.ActivatedAt.After(best.ActivatedAt)) {
			best = k
		}
	}
	return best.ID
}

func (s *memStore) RotateKey(ctx context.Context, expectActive string, next keys.Key, retireAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if f := s.beforeRotate; f != nil {
		s.beforeRotate = nil
		f(s)
	}
	if s.active() != expectActive {
		return fmt.Errorf("rotate key: %w", auth.ErrConflict)
	}
	if p := s.pending; p != nil && s.pendingAfter == expectActive {
		if p.ID == next.ID {
			activated := next.ActivatedAt
			next = *p
			next.ActivatedAt = activated
		} else {
			retired := *p
			retired.RetiresAt, retired.Pending = time.Time{}, false // retired below with the others
			s.keys = append(s.keys, retired)
		}
	}
	s.pending, s.pendingAfter = nil, ""
	next.Pending = false
	for i := range s.keys {
		if s.keys[i].ID == next.ID {
			return fmt.Errorf("rotate key: %w", auth.ErrConflict)
		}
		if s.keys[i].RetiresAt.IsZero() {
			s.keys[i].RetiresAt = retireAt
		}
	}
	next.RetiresAt = time.Time{} // the new key is the active one
	s.keys = append(s.keys, next)
	return nil
}

func (s *memStore) AddPendingKey(ctx context.Context, expectActive string, next keys.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if expectActive == "" {
		return fmt.Errorf("add pending key: no active key: %w", auth.ErrInvalidInput)
	}
	if s.active() != expectActive || (s.pending != nil && s.pendingAfter == expectActive) {
		return fmt.Errorf("add pending key: %w", auth.ErrConflict)
	}
	next.Pending, next.RetiresAt = true, time.Time{}
	s.pending, s.pendingAfter = &next, expectActive
	return nil
}

func (s *memStore) SealKey(ctx context.Context, id string, sealed []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if p := s.pending; p != nil && p.ID == id && !p.Encrypted {
		p.Private, p.Encrypted = sealed, true
	}
	for i := range s.keys {
		if s.keys[i].ID == id && !s.keys[i].Encrypted {
			s.keys[i].Private, s.keys[i].Encrypted = sealed, true
		}
	}
	return nil
}

func (s *memStore) DeleteRetiredKeys(ctx context.Context, cutoff time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.keys[:0]
	for _, k := range s.keys {
		if k.RetiresAt.IsZero() || !k.RetiresAt.Before(cutoff) {
			kept = append(kept, k)
		}
	}
	n := len(s.keys) - len(kept)
	s.keys = kept
	return n, nil
}

func (s *memStore) stored() []keys.Key {
	out, _ := s.Keys(context.Background())
	sort.Slice(out, func(i, j int) bool { return out[i].ActivatedAt.Before(out[j].ActivatedAt) })
	return out
}

func newClock() *clocktest.Clock { return clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) }

var asymmetric = []string{keys.RS256, keys.ES256, keys.EdDSA}

const grace = 10*time.Minute + 30*time.Second

func newSet(t *testing.T, store keys.Store, alg string, c *clocktest.Clock, opts ...keys.Option) *keys.Set {
	t.Helper()
	opts = append([]keys.Option{keys.WithClock(c.Now), keys.WithVerifyGrace(grace)}, opts...)
	s, err := keys.NewSet(context.Background(), store, alg, opts...)
	if err != nil {
		t.Fatalf("NewSet(%s): %v", alg, err)
	}
	return s
}
