package peers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/peers"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// The rules of one instance's comparison, on the in-memory store: a
// difference is logged again only when a value changes; a field the peer
// does not record (an older version) is not compared; a peer that left
// (DeletePeer) stops counting at once.
func TestMonitorLogsEachDifferenceOnce(t *testing.T) {
	ctx := context.Background()
	store, clock := memory.New(), clocktest.New(storetest.Now())
	fields := []string{peers.FieldAlgorithm, peers.FieldAudience}
	logs := &bytes.Buffer{}
	counts := map[string]int{}
	self := peers.NewMonitor(store, peers.Record{ID: "self", Settings: map[string]string{
		peers.FieldAlgorithm: "ES256", peers.FieldAudience: "gatehouse"}}, fields,
		peers.WithClock(clock.Now), peers.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))),
		peers.WithObserver(func(f string, n int) { counts[f] = n }))
	put := func(settings map[string]string) {
		t.Helper()
		now := clock.Now()
		if err := store.PutPeer(ctx, peers.Record{ID: "old", Settings: settings, SeenAt: now, ExpiresAt: now.Add(peers.TTL)}); err != nil {
			t.Fatal(err)
		}
	}
	check := func() {
		t.Helper()
		if err := self.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
	lines := func() []string {
		t.Helper()
		var out []string
		for l := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
			var rec map[string]any
			if l == "" {
				continue
			}
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatal(err)
			}
			out = append(out, rec["field"].(string)+"="+rec["peer_value"].(string))
		}
		return out
	}

	put(map[string]string{peers.FieldAlgorithm: "RS256"}) // records no audience
	check()
	check()
	if got, want := strings.Join(lines(), " "), "tokens.algorithm=RS256"; got != want {
		t.Fatalf("lines = %q, want %q", got, want)
	}
	if counts[peers.FieldAlgorithm] != 1 || counts[peers.FieldAudience] != 0 {
		t.Fatalf("counts = %v", counts)
	}
	put(map[string]string{peers.FieldAlgorithm: "EdDSA"})
	check()
	if got, want := strings.Join(lines(), " "), "tokens.algorithm=RS256 tokens.algorithm=EdDSA"; got != want {
		t.Fatalf("after the peer's value changed: lines = %q, want %q", got, want)
	}
	if err := store.DeletePeer(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	check()
	if counts[peers.FieldAlgorithm] != 0 {
		t.Fatalf("after the peer left: counts = %v", counts)
	}
}
