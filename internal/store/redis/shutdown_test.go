package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// TestWatcherStopsWithoutWaitingOutTheBlock: ending the watcher's context
// (shutdown) ends its Run at once, while Redis still holds its XREAD BLOCK,
// instead of when the block runs out (1 s by default, added to every
// shutdown of an instance on Redis). The block here is an hour, so a Run
// that waited for it would never return within the test. Closing the store
// then ends the abandoned read: its connection is gone from Redis.
func TestWatcherStopsWithoutWaitingOutTheBlock(t *testing.T) {
	url, prefix := redistest.New(t)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	// The client name tells this store's connections apart in CLIENT LIST
	// from those of every other test on the shared Redis.
	name := "gatehouse-test-watcher-" + hex.EncodeToString(b[:])
	s, err := redis.Open(context.Background(), url+"?client_name="+name, redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	raw := rawClient(t)
	// conn reports whether a connection named name exists, and whether it
	// is blocked in XREAD.
	conn := func() (exists, blockedInXREAD bool) {
		list, err := raw.ClientList(context.Background()).Result()
		if err != nil {
			t.Fatalf("CLIENT LIST: %v", err)
		}
		for _, line := range strings.Split(list, "\n") {
			f := map[string]string{}
			for _, kv := range strings.Fields(line) {
				k, v, _ := strings.Cut(kv, "=")
				f[k] = v
			}
			if f["name"] != name {
				continue
			}
			exists = true
			if f["cmd"] == "xread" && strings.Contains(f["flags"], "b") {
				blockedInXREAD = true
			}
		}
		return exists, blockedInXREAD
	}

	w := revocation.NewWatcher(s, revocation.WithWait(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	clocktest.Eventually(t, "the watcher's XREAD is blocked in Redis", func() bool {
		_, blocked := conn()
		return blocked
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after its context ended: %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run has not returned 30 s after its context ended: it waits for its XREAD BLOCK (an hour) to run out")
	}
	if _, blocked := conn(); !blocked {
		t.Fatal("Run returned only once its XREAD had ended; want it to return while the read is still blocked")
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	clocktest.Eventually(t, "Close has closed the abandoned XREAD's connection", func() bool {
		exists, _ := conn()
		return !exists
	})
}
