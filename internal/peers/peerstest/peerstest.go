package peerstest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/peers"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
)

// RunStoreTests runs the peers.Store conformance suite. newStore must
// return an empty store of its own (a fresh file, schema or key prefix)
// and register its cleanup with t.Cleanup.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) peers.Store) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[peers.Store]{
		{Name: "PutPeerIsReadBackWhileLive", Run: testReadBack},
		{Name: "PutPeerReplacesTheRecordOfItsID", Run: testReplace},
		{Name: "ExpiredRecordIsNotLive", Run: testExpiry},
		{Name: "DeletePeerRemovesOnlyThatRecord", Run: testDelete},
		{Name: "EmptyStoreHasNoPeers", Run: testEmpty},
	})
}

func record(id string, at time.Time, settings map[string]string) peers.Record {
	return peers.Record{ID: id, Host: "host-" + id, Listen: "10.0.0.1:8080", Settings: settings,
		SeenAt: at, ExpiresAt: at.Add(peers.TTL)}
}

func put(t *testing.T, s peers.Store, rs ...peers.Record) {
	t.Helper()
	for _, r := range rs {
		if err := s.PutPeer(context.Background(), r); err != nil {
			t.Fatalf("PutPeer(%s): %v", r.ID, err)
		}
	}
}

func live(t *testing.T, s peers.Store, now time.Time) []peers.Record {
	t.Helper()
	rs, err := s.Peers(context.Background(), now)
	if err != nil {
		t.Fatalf("Peers: %v", err)
	}
	return rs
}

func ids(rs []peers.Record) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func assertIDs(t *testing.T, got []peers.Record, want ...string) {
	t.Helper()
	if g := ids(got); !slices.Equal(g, want) {
		t.Fatalf("live peers = %v, want %v", g, want)
	}
}

func same(a, b peers.Record) bool {
	return a.ID == b.ID && a.Host == b.Host && a.Listen == b.Listen && maps.Equal(a.Settings, b.Settings) &&
		a.SeenAt.Equal(b.SeenAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

func format(r peers.Record) string {
	return fmt.Sprintf("{%s %s %s %v %s %s}", r.ID, r.Host, r.Listen, r.Settings,
		r.SeenAt.Format(time.RFC3339Nano), r.ExpiresAt.Format(time.RFC3339Nano))
}

func testReadBack(t *testing.T, s peers.Store) {
	now := storetest.Now()
	b := record("b", now, map[string]string{peers.FieldAudience: "api,web", peers.FieldVersion: "v1.2.3", "public_url": "https://auth.example"})
	a := record("a", now, map[string]string{peers.FieldAudience: "gatehouse", peers.FieldCookieDomain: ""})
	put(t, s, b, a)
	got := live(t, s, now)
	assertIDs(t, got, "a", "b")
	for i, want := range []peers.Record{a, b} {
		if !same(got[i], want) {
			t.Errorf("record %d = %s, want %s", i, format(got[i]), format(want))
		}
	}
}

func testReplace(t *testing.T, s peers.Store) {
	now := storetest.Now()
	put(t, s, record("a", now, map[string]string{peers.FieldAlgorithm: "ES256", peers.FieldAudience: "x"}))
	later := record("a", now.Add(peers.Refresh), map[string]string{peers.FieldAlgorithm: "HS256"})
	put(t, s, later)
	got := live(t, s, now.Add(peers.Refresh))
	assertIDs(t, got, "a")
	if !same(got[0], later) {
		t.Fatalf("record = %s, want the later one %s", format(got[0]), format(later))
	}
}

func testExpiry(t *testing.T, s peers.Store) {
	now := storetest.Now()
	old := record("old", now, map[string]string{})
	fresh := record("fresh", now.Add(time.Minute), map[string]string{})
	put(t, s, old, fresh)
	assertIDs(t, live(t, s, old.ExpiresAt.Add(-time.Microsecond)), "fresh", "old")
	assertIDs(t, live(t, s, old.ExpiresAt), "fresh")
	assertIDs(t, live(t, s, fresh.ExpiresAt), []string{}...)
	// A refresh brings an expired instance back.
	put(t, s, record("old", fresh.ExpiresAt, map[string]string{}))
	assertIDs(t, live(t, s, fresh.ExpiresAt), "old")
}

func testDelete(t *testing.T, s peers.Store) {
	now := storetest.Now()
	put(t, s, record("a", now, nil), record("b", now, nil))
	for _, id := range []string{"a", "unknown"} {
		if err := s.DeletePeer(context.Background(), id); err != nil {
			t.Fatalf("DeletePeer(%s): %v", id, err)
		}
	}
	assertIDs(t, live(t, s, now), "b")
}

func testEmpty(t *testing.T, s peers.Store) {
	assertIDs(t, live(t, s, storetest.Now()), []string{}...)
}
