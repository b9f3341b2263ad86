package redis

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
)

const benchSessions = 100_000

func benchStore(b *testing.B) *Store {
	b.Helper()
	url, prefix := redistest.New(b)
	s, err := Open(context.Background(), url, WithKeyPrefix(prefix))
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// seedSessions writes n sessions (two per user) through a pipeline of the
// same writes CreateSession makes, and returns their IDs.
func seedSessions(b *testing.B, s *Store, n int) []string {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	ids := make([]string, n)
	for start := 0; start < n; start += 1000 {
		_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i := start; i < min(start+1000, n); i++ {
				sum := sha256.Sum256([]byte(strconv.Itoa(i)))
				ids[i] = base64.RawURLEncoding.EncodeToString(sum[:])
				s.queueCreate(ctx, p, session.Record{
					ID: ids[i], UserID: fmt.Sprintf("u_%026d", i/2),
					CreatedAt: now, LastSeenAt: now,
					IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(24 * time.Hour),
					IP: "203.0.113.45", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
					Method: "password",
				}, now)
			}
			return nil
		})
		if err != nil {
			b.Fatalf("seed sessions: %v", err)
		}
	}
	return ids
}

// BenchmarkSessionLookup measures Session with 100k sessions present.
func BenchmarkSessionLookup(b *testing.B) {
	s := benchStore(b)
	ids := seedSessions(b, s, benchSessions)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := s.Session(ctx, ids[i%len(ids)]); err != nil {
			b.Fatalf("Session: %v", err)
		}
		i++
	}
}

// BenchmarkSessionLookupParallel is the same lookup from concurrent
// requests, as a busy instance does it.
func BenchmarkSessionLookupParallel(b *testing.B) {
	s := benchStore(b)
	ids := seedSessions(b, s, benchSessions)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Session(ctx, ids[i%len(ids)]); err != nil {
				b.Errorf("Session: %v", err)
				return
			}
			i += 7
		}
	})
}

// BenchmarkRedisMemoryPerSession seeds 100k sessions under a fresh prefix
// and reports the growth of used_memory per session (hash, user index entry
// and expiry index entry). The server is shared with other tests, so run it
// on a quiet server for a clean number.
func BenchmarkRedisMemoryPerSession(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	before := usedMemory(b, s.client)
	seedSessions(b, s, benchSessions)
	after := usedMemory(b, s.client)
	for b.Loop() {
	}
	b.ReportMetric(float64(after-before)/benchSessions, "bytes/session")
	if err := redistest.DeletePrefix(ctx, s.client, s.prefix); err != nil {
		b.Fatalf("cleanup: %v", err)
	}
}

func usedMemory(b *testing.B, c goredis.UniversalClient) int64 {
	b.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatalf("INFO memory: %v", err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatalf("used_memory %q: %v", v, err)
			}
			return n
		}
	}
	b.Fatal("INFO memory has no used_memory")
	return 0
}
