package cluster_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
)

// TestRateLimitSharedAcrossInstances: three `gatehouse serve` processes on
// one Redis spend one budget. The bucket refills one token an hour, so its
// whole budget during the test is its burst, whichever instance each
// request reaches.
func TestRateLimitSharedAcrossInstances(t *testing.T) {
	const burst, requests = 150, 450
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	t.Cleanup(up.Close)
	dsn := pgtest.DSN(t)
	redisURL, prefix := redistest.New(t)
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	body := fmt.Sprintf(`store: %q
admin_listen: ""
redis: {url: %q, key_prefix: %q}
keys: {encryption_key: "cluster-test-encryption-key-0123456789"}
log: {level: warn}
routes:
  - name: shared
    match: {path_prefix: /shared/}
    upstream: %q
    auth: none
    rate_limit: {per: route, rate: 1, burst: %d, window: 1h}
`, dsn, redisURL, prefix, up.URL, burst)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, cfg: cfg}
	c.cli("", "migrate")
	for range 3 {
		c.nodes = append(c.nodes, c.startNode())
	}

	var allowed, limited, other atomic.Int64
	var wg sync.WaitGroup
	work := make(chan string)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for base := range work {
				resp, err := http.Get(base + "/shared/x")
				if err != nil {
					other.Add(1)
					continue
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					allowed.Add(1)
				case http.StatusTooManyRequests:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	for i := range requests {
		work <- c.nodes[i%len(c.nodes)]
	}
	close(work)
	wg.Wait()

	if got := other.Load(); got != 0 {
		t.Errorf("%d requests neither allowed nor limited", got)
	}
	got := allowed.Load()
	if lo, hi := burst*95/100, burst*105/100; got < int64(lo) || got > int64(hi) {
		t.Errorf("3 instances allowed %d requests, want the shared budget %d within 5%% [%d, %d]", got, burst, lo, hi)
	}
	if got+limited.Load() != requests {
		t.Errorf("allowed %d + limited %d != %d", got, limited.Load(), requests)
	}
}
