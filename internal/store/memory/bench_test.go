package memory_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
)

// BenchmarkSessionLookup measures Session with 100k sessions present.
func BenchmarkSessionLookup(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	s := memory.New()
	now := time.Now()
	ids := make([]string, n)
	for i := range ids {
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		ids[i] = base64.RawURLEncoding.EncodeToString(sum[:])
		err := s.CreateSession(ctx, session.Record{
			ID: ids[i], UserID: fmt.Sprintf("u_%026d", i/2), CreatedAt: now, LastSeenAt: now,
			IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(24 * time.Hour),
			IP: "203.0.113.45", UserAgent: "Mozilla/5.0", Method: "password",
		})
		if err != nil {
			b.Fatalf("CreateSession: %v", err)
		}
	}
	i := 0
	for b.Loop() {
		if _, err := s.Session(ctx, ids[i%n]); err != nil {
			b.Fatalf("Session: %v", err)
		}
		i++
	}
}
