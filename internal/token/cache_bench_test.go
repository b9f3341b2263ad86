package token_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// BenchmarkVerifyCachedParallel is the gateway's token check on a cache hit
// (hash, cache read, key check, deny-list) from every core at once: what a
// cache's read path costs under contention.
func BenchmarkVerifyCachedParallel(b *testing.B) {
	e := newEnv(b, keys.ES256, token.WithCacheSize(10000))
	raw, _, err := e.issuer.Issue(benchSubject, 0)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.verifier.Verify(ctx, raw); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCacheMemory reports the heap each verified-token cache entry
// holds (B/entry), for tokens of distinct sessions: every entry has a jti
// and a sid of its own and shares its subject's tag with nine others. Run
// it with -benchtime 20000x; the issued tokens themselves are not kept.
func BenchmarkCacheMemory(b *testing.B) {
	e := newEnv(b, keys.ES256, token.WithCacheSize(1<<20))
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	size := 0
	i := 0
	for b.Loop() {
		s := benchSubject
		s.UserID = s.UserID[:len(s.UserID)-1] + strconv.Itoa(i%10)
		s.SessionID = s.SessionID + strconv.Itoa(i)
		raw, _, err := e.issuer.Issue(s, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.verifier.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
		size = len(raw)
		i++
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(i), "B/entry")
	b.ReportMetric(float64(size), "token-bytes")
}
