package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
)

// benchSession returns an Authenticator with the default 5 s cache and the
// cookie value of one live session, already cached.
func benchSession(b *testing.B) (*session.Authenticator, string) {
	b.Helper()
	m := session.NewManager(memory.New())
	a := session.NewAuthenticator(m, benchUsers{}, 5*time.Second, nil)
	value, _, err := m.Create(context.Background(), "u1", session.Meta{Method: "password"})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := a.Authenticate(context.Background(), value); err != nil {
		b.Fatal(err)
	}
	return a, value
}

// benchUsers knows every user; the benchmarks measure the cache, not a
// user table.
type benchUsers struct{}

func (benchUsers) UserByID(_ context.Context, id string) (auth.User, error) {
	return auth.User{ID: id, Username: "alice", Roles: []string{"user"}}, nil
}

// BenchmarkAuthenticateCached is a session check on a cache hit (cookie
// check, SHA-256, cache read).
func BenchmarkAuthenticateCached(b *testing.B) {
	a, value := benchSession(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := a.Authenticate(ctx, value); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateCachedParallel is the same from every core at once.
func BenchmarkAuthenticateCachedParallel(b *testing.B) {
	a, value := benchSession(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := a.Authenticate(ctx, value); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
