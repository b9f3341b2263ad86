package token_test

import (
	"context"
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
