package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Addr is the test Redis server.
const Addr = "127.0.0.1:6379"

// URL is the test Redis server as a gatehouse redis URL.
const URL = "redis://" + Addr + "/0"

// Kind names one of the test Redis deployments that scripts/services.sh
// starts.
type Kind string

// The test deployments.
const (
	Single   Kind = "single"   // 127.0.0.1:6379
	Sentinel Kind = "sentinel" // primary 6380, replica 6381, sentinel 26379
	Cluster  Kind = "cluster"  // 3 primaries + 3 replicas on 7000-7005
)

// Kinds lists every deployment the store conformance suites run on.
var Kinds = []Kind{Single, Sentinel, Cluster}

// SentinelMaster is the name the test sentinel monitors.
const SentinelMaster = "gatehouse-test"

// Test deployment addresses.
var (
	SentinelAddrs = []string{"127.0.0.1:26379"}
	ClusterAddrs  = []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003", "127.0.0.1:7004", "127.0.0.1:7005"}
)

// Deployment has the fields of redis.Topology, so that a test converts it
// with redis.Topology(d) (this package cannot import the store: the store's
// own tests import it).
type Deployment struct {
	URL            string
	SentinelMaster string
	SentinelAddrs  []string
	ClusterAddrs   []string
	Password       string
}

// Deploy returns the test deployment of kind and a key prefix unique to
// this test, and registers a cleanup that deletes every key under that
// prefix. It fails the test when the deployment does not answer.
func Deploy(t testing.TB, kind Kind) (Deployment, string) {
	t.Helper()
	var (
		d Deployment
		o = &goredis.UniversalOptions{}
	)
	switch kind {
	case Single:
		d.URL, o.Addrs = URL, []string{Addr}
	case Sentinel:
		d.SentinelMaster, d.SentinelAddrs = SentinelMaster, SentinelAddrs
		o.MasterName, o.Addrs = SentinelMaster, SentinelAddrs
	case Cluster:
		d.ClusterAddrs = ClusterAddrs
		o.Addrs, o.IsClusterMode = ClusterAddrs, true
	default:
		t.Fatalf("redistest: unknown deployment %q", kind)
	}
	return d, newPrefix(t, string(kind), goredis.NewUniversalClient(o))
}

// New returns the test Redis URL and a key prefix unique to this test, and
// registers a cleanup that deletes every key under that prefix. It fails the
// test when Redis does not answer.
func New(t testing.TB) (url, prefix string) {
	t.Helper()
	return URL, newPrefix(t, Addr, goredis.NewClient(&goredis.Options{Addr: Addr}))
}

// newPrefix returns a random key prefix, checks that client answers, and
// deletes the prefix's keys through client at cleanup.
func newPrefix(t testing.TB, name string, client goredis.UniversalClient) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("redistest: random prefix: %v", err)
	}
	prefix := "gatehouse-test:" + hex.EncodeToString(b[:]) + ":"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		t.Fatalf("redistest: test Redis %s does not answer (run scripts/services.sh): %v", name, err)
	}
	t.Cleanup(func() {
		defer client.Close()
		if err := DeletePrefix(context.Background(), client, prefix); err != nil {
			t.Errorf("redistest: delete keys %s*: %v", prefix, err)
		}
	})
	return prefix
}

// DeletePrefix deletes every key that starts with prefix, in SCAN batches,
// so that it never blocks a server shared with other tests. On a Cluster it
// scans every primary and deletes key by key (one UNLINK of keys in several
// slots would be refused with CROSSSLOT).
func DeletePrefix(ctx context.Context, client goredis.UniversalClient, prefix string) error {
	if c, ok := client.(*goredis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
			return deletePrefix(ctx, node, prefix, true)
		})
	}
	return deletePrefix(ctx, client, prefix, false)
}

func deletePrefix(ctx context.Context, client goredis.UniversalClient, prefix string, keyByKey bool) error {
	iter := client.Scan(ctx, 0, escapeGlob(prefix)+"*", 1000).Iterator()
	batch := make([]string, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var err error
		if keyByKey {
			_, err = client.Pipelined(ctx, func(p goredis.Pipeliner) error {
				for _, k := range batch {
					p.Unlink(ctx, k)
				}
				return nil
			})
		} else {
			err = client.Unlink(ctx, batch...).Err()
		}
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	return flush()
}

// escapeGlob quotes the characters SCAN MATCH treats as a pattern.
func escapeGlob(s string) string {
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`, "]", `\]`).Replace(s)
}
