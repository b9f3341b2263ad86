package keystest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
)

// RunStoreTests runs the keys.Store conformance suite. newStore must return
// an empty store of its own (fresh file or schema) and register its cleanup
// with t.Cleanup.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) keys.Store) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[keys.Store]{
		{Name: "EmptyStoreHasNoKeys", Run: testEmpty},
		{Name: "FirstRotationStoresActiveKey", Run: testFirst},
		{Name: "RotationRetiresPreviousKeys", Run: testRotate},
		{Name: "StaleExpectActiveConflictsAndChangesNothing", Run: testStale},
		{Name: "ConcurrentRotationsHaveOneWinner", Run: testConcurrentRotate},
		{Name: "ConcurrentFirstKeysHaveOneWinner", Run: testConcurrentFirst},
		{Name: "DeleteRetiredKeysRemovesOnlyRetiredBeforeCutoff", Run: testDeleteRetired},
		{Name: "SealKeySealsOnlyAKeyInClear", Run: testSealKey},
	})
}

// at is a fixed time with microsecond precision, the finest every store keeps.
var at = time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)

func newKey(id string, activated time.Time) keys.Key {
	return keys.Key{
		ID:          id,
		Algorithm:   "ES256",
		Private:     []byte("private-" + id + "\x00\xff"),
		Public:      []byte("public-" + id + "\x00\xfe"),
		Encrypted:   true,
		CreatedAt:   activated.Add(-time.Second),
		ActivatedAt: activated,
	}
}

func rotate(t *testing.T, s keys.Store, expect string, next keys.Key, retire time.Time) {
	t.Helper()
	if err := s.RotateKey(context.Background(), expect, next, retire); err != nil {
		t.Fatalf("RotateKey(%q -> %s): %v", expect, next.ID, err)
	}
}

// all returns the stored keys by ID.
func all(t *testing.T, s keys.Store) map[string]keys.Key {
	t.Helper()
	list, err := s.Keys(context.Background())
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	m := make(map[string]keys.Key, len(list))
	for _, k := range list {
		m[k.ID] = k
	}
	return m
}

// active returns the IDs of keys with zero RetiresAt.
func active(t *testing.T, s keys.Store) []string {
	t.Helper()
	var ids []string
	for id, k := range all(t, s) {
		if k.RetiresAt.IsZero() {
			ids = append(ids, id)
		}
	}
	return ids
}

func assertKey(t *testing.T, got, want keys.Key) {
	t.Helper()
	if got.ID != want.ID || got.Algorithm != want.Algorithm || !bytes.Equal(got.Private, want.Private) ||
		!bytes.Equal(got.Public, want.Public) || got.Encrypted != want.Encrypted || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.ActivatedAt.Equal(want.ActivatedAt) || !got.RetiresAt.Equal(want.RetiresAt) {
		t.Fatalf("key = %+v\nwant  %+v", got, want)
	}
}

func testEmpty(t *testing.T, s keys.Store) {
	if got := all(t, s); len(got) != 0 {
		t.Fatalf("Keys() on empty store = %d keys, want 0", len(got))
	}
}

func testFirst(t *testing.T, s keys.Store) {
	k := newKey("k1", at)
	k.RetiresAt = at.Add(time.Hour) // ignored: the new key is the active one
	rotate(t, s, "", k, at)
	want := k
	want.RetiresAt = time.Time{}
	got := all(t, s)
	if len(got) != 1 {
		t.Fatalf("Keys() = %d keys, want 1", len(got))
	}
	assertKey(t, got["k1"], want)
}

func testRotate(t *testing.T, s keys.Store) {
	k1, k2, k3 := newKey("k1", at), newKey("k2", at.Add(time.Hour)), newKey("k3", at.Add(2*time.Hour))
	rotate(t, s, "", k1, time.Time{})
	retire1 := at.Add(time.Hour + 10*time.Minute)
	rotate(t, s, "k1", k2, retire1)
	retire2 := at.Add(2*time.Hour + 10*time.Minute)
	rotate(t, s, "k2", k3, retire2)

	got := all(t, s)
	wantRetire := map[string]time.Time{"k1": retire1, "k2": retire2, "k3": {}}
	for _, k := range []keys.Key{k1, k2, k3} {
		k.RetiresAt = wantRetire[k.ID]
		assertKey(t, got[k.ID], k)
	}
}

func testStale(t *testing.T, s keys.Store) {
	rotate(t, s, "", newKey("k1", at), time.Time{})
	rotate(t, s, "k1", newKey("k2", at.Add(time.Hour)), at.Add(2*time.Hour))
	tests := []struct {
		name, expect string
	}{
		{"NoKeyExpected", ""},
		{"RetiredKeyExpected", "k1"},
		{"UnknownKeyExpected", "k9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.RotateKey(context.Background(), tt.expect, newKey("k3", at.Add(3*time.Hour)), at.Add(4*time.Hour))
			if !errors.Is(err, auth.ErrConflict) {
				t.Fatalf("RotateKey(%q) error = %v, want ErrConflict", tt.expect, err)
			}
			got := all(t, s)
			if _, ok := got["k3"]; ok || len(got) != 2 || !got["k2"].RetiresAt.IsZero() {
				t.Fatalf("a refused rotation changed the keys: %v", got)
			}
		})
	}
}

// race runs RotateKey(expect, next_i) from n goroutines and returns how many
// succeeded and how many conflicted.
func race(t *testing.T, s keys.Store, expect string, n int) (ok, conflicts int) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		start = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := s.RotateKey(context.Background(), expect, newKey(fmt.Sprintf("n%d", i), at.Add(time.Hour)), at.Add(2*time.Hour))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, auth.ErrConflict):
				conflicts++
			default:
				t.Errorf("RotateKey: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return ok, conflicts
}

func testConcurrentRotate(t *testing.T, s keys.Store) {
	rotate(t, s, "", newKey("k1", at), time.Time{})
	ok, conflicts := race(t, s, "k1", 2)
	if ok != 1 || conflicts != 1 {
		t.Fatalf("two concurrent RotateKey: %d ok, %d ErrConflict; want 1 and 1", ok, conflicts)
	}
	if ids := active(t, s); len(ids) != 1 {
		t.Fatalf("active keys = %v, want exactly one", ids)
	}
}

func testConcurrentFirst(t *testing.T, s keys.Store) {
	ok, conflicts := race(t, s, "", 4)
	if ok != 1 || conflicts != 3 {
		t.Fatalf("four concurrent first RotateKey: %d ok, %d ErrConflict; want 1 and 3", ok, conflicts)
	}
	if got := all(t, s); len(got) != 1 {
		t.Fatalf("Keys() = %d keys, want 1", len(got))
	}
}

func testDeleteRetired(t *testing.T, s keys.Store) {
	ctx := context.Background()
	rotate(t, s, "", newKey("k1", at), time.Time{})
	rotate(t, s, "k1", newKey("k2", at.Add(time.Hour)), at.Add(time.Hour))
	rotate(t, s, "k2", newKey("k3", at.Add(2*time.Hour)), at.Add(3*time.Hour))

	n, err := s.DeleteRetiredKeys(ctx, at.Add(2*time.Hour))
	if err != nil {
		t.Fatalf("DeleteRetiredKeys: %v", err)
	}
	if got, want := n, 1; got != want {
		t.Errorf("DeleteRetiredKeys removed %d, want %d", got, want)
	}
	got := all(t, s)
	if _, ok := got["k1"]; ok || len(got) != 2 {
		t.Fatalf("after purge keys = %v, want k2 and k3", got)
	}
	// The active key never retires, however late the cutoff.
	if _, err := s.DeleteRetiredKeys(ctx, at.Add(1000*time.Hour)); err != nil {
		t.Fatalf("DeleteRetiredKeys: %v", err)
	}
	if ids := active(t, s); len(ids) != 1 || ids[0] != "k3" {
		t.Fatalf("active keys after late purge = %v, want [k3]", ids)
	}
}

// testSealKey: a key stored in clear gets its sealed form; a sealed key is
// left alone (another instance sealed it first), and so is an unknown ID.
func testSealKey(t *testing.T, s keys.Store) {
	ctx := context.Background()
	clear := newKey("k-clear", at)
	clear.Encrypted = false
	rotate(t, s, "", clear, time.Time{})
	sealed := newKey("k-sealed", at.Add(time.Hour))
	rotate(t, s, "k-clear", sealed, at.Add(2*time.Hour))
	for _, call := range []struct {
		id   string
		with []byte
	}{{"k-clear", []byte("sealed-1")}, {"k-clear", []byte("sealed-2")}, {"k-sealed", []byte("sealed-3")}, {"k-unknown", []byte("x")}} {
		if err := s.SealKey(ctx, call.id, call.with); err != nil {
			t.Fatalf("SealKey(%s): %v", call.id, err)
		}
	}
	got := all(t, s)
	if k := got["k-clear"]; !k.Encrypted || string(k.Private) != "sealed-1" {
		t.Errorf("k-clear = encrypted %v, private %q; want the first sealed form", k.Encrypted, k.Private)
	}
	if k := got["k-sealed"]; !k.Encrypted || string(k.Private) != string(sealed.Private) {
		t.Errorf("k-sealed changed: private %q", k.Private)
	}
	if len(got) != 2 {
		t.Errorf("%d keys stored, want 2", len(got))
	}
}
