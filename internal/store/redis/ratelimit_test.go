package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit/ratelimittest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
)

// TestRateLimitStore runs on a single node, a Sentinel group and a Cluster:
// one key per bucket, so no CROSSSLOT.
func TestRateLimitStore(t *testing.T) {
	for _, kind := range redistest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ratelimittest.RunStoreTests(t, func(t *testing.T) ratelimit.Store { return openDeployment(t, kind) })
		})
	}
}

// TestRateLimitOneKeyPerBucket: a bucket is one key (cluster-safe), and it
// expires once the bucket would be full again.
func TestRateLimitOneKeyPerBucket(t *testing.T) {
	s, prefix := newStore(t)
	ctx := context.Background()
	l := ratelimit.Limit{Rate: 10, Burst: 10, Window: time.Minute}
	if _, err := s.Take(ctx, "route:ip:10.0.0.1", l, 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	keys, err := rawClient(t).Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != prefix+"rl:route:ip:10.0.0.1" {
		t.Fatalf("keys = %v, want one bucket key", keys)
	}
	ttl, err := rawClient(t).PTTL(ctx, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > 8*time.Second { // one token at 6 s each, plus a second of slack
		t.Errorf("bucket TTL = %v, want about the 6 s until it is full", ttl)
	}
}

func TestRateLimitRedisDownIsUnavailable(t *testing.T) {
	proxy := redistest.NewProxy(t)
	_, prefix := redistest.New(t)
	s, err := redis.Open(context.Background(), proxy.URL(), redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	proxy.Stop()
	_, err = s.Take(context.Background(), "k", ratelimit.Limit{Rate: 1, Burst: 1, Window: time.Second}, 1, time.Now())
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Take with Redis down = %v, want auth.ErrUnavailable", err)
	}
}
