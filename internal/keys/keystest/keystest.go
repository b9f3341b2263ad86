package keystest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
		{Name: "PendingKeyIsListedWithItsActivation", Run: testPendingListed},
		{Name: "AddPendingKeyConflictsAndChangesNothing", Run: testPendingConflicts},
		{Name: "ConcurrentPendingKeysHaveOneWinner", Run: testConcurrentPending},
		{Name: "RotateKeyActivatesThePendingKey", Run: testActivatePending},
		{Name: "ConcurrentActivationsHaveOneWinner", Run: testConcurrentActivation},
		{Name: "RotateKeyToAnotherKeyRetiresThePendingKey", Run: testRotatePastPending},
		{Name: "SealKeySealsAPendingKey", Run: testSealPending},
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
	return storetest.RaceConflicts(t, n, func(i int) error {
		return s.RotateKey(context.Background(), expect, newKey(fmt.Sprintf("n%d", i), at.Add(time.Hour)), at.Add(2*time.Hour))
	})
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

// addPending stores a pending key after expect and fails the test on error.
func addPending(t *testing.T, s keys.Store, expect string, next keys.Key) {
	t.Helper()
	if err := s.AddPendingKey(context.Background(), expect, next); err != nil {
		t.Fatalf("AddPendingKey(%q, %s): %v", expect, next.ID, err)
	}
}

// pendingKey is newKey marked pending, as a Set announces it.
func pendingKey(id string, due time.Time) keys.Key {
	k := newKey(id, due)
	k.Pending = true
	return k
}

// testPendingListed: Keys lists the pending key as stored, with its
// activation time, beside an unchanged active key; it retires nothing.
func testPendingListed(t *testing.T, s keys.Store) {
	k1 := newKey("k1", at)
	rotate(t, s, "", k1, time.Time{})
	p := pendingKey("p", at.Add(24*time.Hour))
	p.RetiresAt = at // ignored: a pending key does not retire
	addPending(t, s, "k1", p)
	got := all(t, s)
	if len(got) != 2 {
		t.Fatalf("Keys() = %v, want k1 and p", got)
	}
	assertKey(t, got["k1"], k1)
	want := p
	want.RetiresAt = time.Time{}
	assertKey(t, got["p"], want)
	if !got["p"].Pending || got["k1"].Pending {
		t.Fatalf("Pending: k1 %v, p %v; want false, true", got["k1"].Pending, got["p"].Pending)
	}
	// DeleteRetiredKeys never removes the pending key.
	if _, err := s.DeleteRetiredKeys(context.Background(), at.Add(1000*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := all(t, s)["p"]; !ok {
		t.Fatal("DeleteRetiredKeys removed the pending key")
	}
}

func testPendingConflicts(t *testing.T, s keys.Store) {
	rotate(t, s, "", newKey("k1", at), time.Time{})
	rotate(t, s, "k1", newKey("k2", at.Add(time.Hour)), at.Add(2*time.Hour))
	addPending(t, s, "k2", pendingKey("p1", at.Add(3*time.Hour)))
	tests := []struct {
		name, expect string
		want         error
	}{
		{"NoKeyExpected", "", auth.ErrInvalidInput},
		{"RetiredKeyExpected", "k1", auth.ErrConflict},
		{"UnknownKeyExpected", "k9", auth.ErrConflict},
		{"AlreadyPending", "k2", auth.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.AddPendingKey(context.Background(), tt.expect, pendingKey("p2", at.Add(4*time.Hour)))
			if !errors.Is(err, tt.want) {
				t.Fatalf("AddPendingKey(%q) error = %v, want %v", tt.expect, err, tt.want)
			}
			got := all(t, s)
			if _, ok := got["p2"]; ok || len(got) != 3 || !got["p1"].Pending || !got["k2"].RetiresAt.IsZero() {
				t.Fatalf("a refused AddPendingKey changed the keys: %v", got)
			}
		})
	}
}

func testConcurrentPending(t *testing.T, s keys.Store) {
	rotate(t, s, "", newKey("k1", at), time.Time{})
	ok, conflicts := storetest.RaceConflicts(t, 4, func(i int) error {
		return s.AddPendingKey(context.Background(), "k1", pendingKey(fmt.Sprintf("p%d", i), at.Add(time.Hour)))
	})
	if ok != 1 || conflicts != 3 {
		t.Fatalf("four concurrent AddPendingKey: %d ok, %d ErrConflict; want 1 and 3", ok, conflicts)
	}
	pending := 0
	for _, k := range all(t, s) {
		if k.Pending {
			pending++
		}
	}
	if pending != 1 {
		t.Fatalf("pending keys = %d, want 1", pending)
	}
}

// testActivatePending: RotateKey to the pending key's ID makes the stored
// pending key active (its material, next's activation time) and retires the
// previous one; nothing is pending afterwards, and a second activation by a
// stale instance conflicts.
func testActivatePending(t *testing.T, s keys.Store) {
	k1 := newKey("k1", at)
	rotate(t, s, "", k1, time.Time{})
	p := pendingKey("p", at.Add(24*time.Hour))
	addPending(t, s, "k1", p)
	activated := at.Add(24*time.Hour + time.Second)
	retire := activated.Add(10 * time.Minute)
	rotate(t, s, "k1", keys.Key{ID: "p", ActivatedAt: activated}, retire)
	got := all(t, s)
	if len(got) != 2 {
		t.Fatalf("Keys() = %v, want k1 and p", got)
	}
	k1.RetiresAt = retire
	assertKey(t, got["k1"], k1)
	want := p
	want.Pending, want.ActivatedAt = false, activated
	assertKey(t, got["p"], want)
	if got["p"].Pending {
		t.Fatal("the activated key is still pending")
	}
	if ids := active(t, s); len(ids) != 1 || ids[0] != "p" {
		t.Fatalf("active keys = %v, want [p]", ids)
	}
	err := s.RotateKey(context.Background(), "k1", keys.Key{ID: "p", ActivatedAt: activated}, retire)
	if !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("second activation error = %v, want ErrConflict", err)
	}
	// The next announcement follows the new active key.
	addPending(t, s, "p", pendingKey("q", at.Add(48*time.Hour)))
}

func testConcurrentActivation(t *testing.T, s keys.Store) {
	rotate(t, s, "", newKey("k1", at), time.Time{})
	addPending(t, s, "k1", pendingKey("p", at.Add(time.Hour)))
	ok, conflicts := storetest.RaceConflicts(t, 4, func(int) error {
		return s.RotateKey(context.Background(), "k1", keys.Key{ID: "p", ActivatedAt: at.Add(time.Hour)}, at.Add(2*time.Hour))
	})
	if ok != 1 || conflicts != 3 {
		t.Fatalf("four concurrent activations: %d ok, %d ErrConflict; want 1 and 3", ok, conflicts)
	}
	if got := all(t, s); len(got) != 2 || got["p"].Pending || !got["p"].RetiresAt.IsZero() {
		t.Fatalf("after the activations keys = %v, want k1 and the active p", got)
	}
}

// testRotatePastPending: a rotation to another key (an instance that had not
// loaded the pending one) retires the pending key with the others, so that
// it stays published as long as they do.
func testRotatePastPending(t *testing.T, s keys.Store) {
	rotate(t, s, "", newKey("k1", at), time.Time{})
	p := pendingKey("p", at.Add(24*time.Hour))
	addPending(t, s, "k1", p)
	k2 := newKey("k2", at.Add(time.Hour))
	retire := at.Add(time.Hour + 10*time.Minute)
	rotate(t, s, "k1", k2, retire)
	got := all(t, s)
	if len(got) != 3 {
		t.Fatalf("Keys() = %v, want k1, p and k2", got)
	}
	want := p
	want.Pending, want.RetiresAt = false, retire
	assertKey(t, got["p"], want)
	if got["p"].Pending {
		t.Fatal("p is still pending after a rotation to k2")
	}
	assertKey(t, got["k2"], k2)
	if ids := active(t, s); len(ids) != 1 || ids[0] != "k2" {
		t.Fatalf("active keys = %v, want [k2]", ids)
	}
}

func testSealPending(t *testing.T, s keys.Store) {
	ctx := context.Background()
	rotate(t, s, "", newKey("k1", at), time.Time{})
	p := pendingKey("p", at.Add(time.Hour))
	p.Encrypted = false
	addPending(t, s, "k1", p)
	for _, sealed := range []string{"sealed-1", "sealed-2"} {
		if err := s.SealKey(ctx, "p", []byte(sealed)); err != nil {
			t.Fatalf("SealKey(p): %v", err)
		}
	}
	if k := all(t, s)["p"]; !k.Encrypted || string(k.Private) != "sealed-1" || !k.Pending {
		t.Errorf("p = encrypted %v, private %q, pending %v; want the first sealed form, still pending", k.Encrypted, k.Private, k.Pending)
	}
	// The sealed form is the one the activation keeps.
	rotate(t, s, "k1", keys.Key{ID: "p", ActivatedAt: at.Add(time.Hour)}, at.Add(2*time.Hour))
	if k := all(t, s)["p"]; !k.Encrypted || string(k.Private) != "sealed-1" {
		t.Errorf("activated p = encrypted %v, private %q; want sealed-1", k.Encrypted, k.Private)
	}
}
