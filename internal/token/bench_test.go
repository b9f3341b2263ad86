package token_test

import (
	"context"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/token"
)

var benchSubject = token.Subject{UserID: "0190f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d8e", Username: "alice",
	Roles: []string{"user"}, ClientID: "spa", SessionID: "Yk2tq3VwX8mN1pL0aB9cDe"}

func BenchmarkSign(b *testing.B) {
	for _, alg := range algorithms {
		b.Run(alg, func(b *testing.B) {
			e := newEnv(b, alg)
			for b.Loop() {
				if _, _, err := e.issuer.Issue(benchSubject, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) { benchVerify(b, 0) }

func BenchmarkVerifyCached(b *testing.B) { benchVerify(b, 10000) }

func benchVerify(b *testing.B, cacheSize int) {
	for _, alg := range algorithms {
		b.Run(alg, func(b *testing.B) {
			e := newEnv(b, alg, token.WithCacheSize(cacheSize))
			raw, _, err := e.issuer.Issue(benchSubject, 0)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportMetric(float64(len(raw)), "token-bytes")
			for b.Loop() {
				if _, err := e.verifier.Verify(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
