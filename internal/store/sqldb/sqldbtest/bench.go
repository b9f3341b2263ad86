package sqldbtest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// SeedSessions is how many sessions RunSessionLookupBenchmark stores before
// it measures, spread over SeedSessions/100 users.
const SeedSessions = 100_000

// RunSessionLookupBenchmark measures Session(id) — what every request with a
// session cookie costs when the cache misses — with SeedSessions sessions
// present.
func RunSessionLookupBenchmark(b *testing.B, s Store) {
	ctx := context.Background()
	ids := seedSessions(b, s, SeedSessions)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		id := ids[rng.IntN(len(ids))]
		if _, err := s.Session(ctx, id); err != nil {
			b.Fatalf("Session: %v", err)
		}
	}
}

// RunRefreshRotateBenchmark measures RotateRefresh along one token chain:
// each op uses the successor stored by the previous one. Rotations per
// second = 1e9 / ns/op.
func RunRefreshRotateBenchmark(b *testing.B, s Store) {
	ctx := context.Background()
	if err := createUser(ctx, s, "bench-user"); err != nil {
		b.Fatalf("CreateUser: %v", err)
	}
	now := time.Now()
	cur := token.Refresh{
		Hash: "bench-0", FamilyID: "bench-family", UserID: "bench-user", ClientID: "bench",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour),
	}
	if err := s.CreateRefresh(ctx, cur); err != nil {
		b.Fatalf("CreateRefresh: %v", err)
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		next := token.Refresh{Hash: fmt.Sprintf("bench-%d", i), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		if _, err := s.RotateRefresh(ctx, cur.Hash, now, next); err != nil {
			b.Fatalf("RotateRefresh: %v", err)
		}
		cur = next
	}
}

// seedSessions stores n sessions of n/100 users in one transaction with
// multi-row INSERTs (one CreateSession per row would take minutes on SQLite
// with a sync per commit) and returns their IDs.
func seedSessions(b *testing.B, s Store, n int) []string {
	b.Helper()
	var ids []string
	inTx(b, s, func(tx *sql.Tx) { ids = seedSessionRows(b, tx, s, n) })
	return ids
}

func seedSessionRows(b *testing.B, tx *sql.Tx, s Store, n int) []string {
	users := max(n/100, 1)
	now := time.Now().UnixMicro()
	insertRows(b, tx, s, "users (id, username, username_key, roles, disabled, password_hash, created_at, updated_at)", 8, users,
		func(i int) []any {
			id := fmt.Sprintf("user-%d", i)
			return []any{id, id, id, "[]", false, "", now, now}
		})
	ids := make([]string, n)
	insertRows(b, tx, s, "sessions (id, user_id, created_at, last_seen_at, idle_expires_at, expires_at, ip, user_agent, method)", 9, n,
		func(i int) []any {
			ids[i] = fmt.Sprintf("session-%08d-%x", i, rand.Uint64())
			hour := int64(time.Hour / time.Microsecond)
			return []any{ids[i], fmt.Sprintf("user-%d", i%users), now, now, now + hour, now + 24*hour, "192.0.2.1", "bench", "password"}
		})
	return ids
}

// insertRows inserts rows 0..n-1 into table (with its column list) in
// batches that stay under every driver's parameter limit.
func insertRows(b *testing.B, tx *sql.Tx, s Store, table string, cols, n int, row func(i int) []any) {
	b.Helper()
	const batch = 500
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		tuples := make([]string, 0, end-start)
		args := make([]any, 0, (end-start)*cols)
		for i := start; i < end; i++ {
			tuples = append(tuples, tuple)
			args = append(args, row(i)...)
		}
		query := s.Rebind("INSERT INTO " + table + " VALUES " + strings.Join(tuples, ", "))
		if _, err := tx.ExecContext(context.Background(), query, args...); err != nil {
			b.Fatalf("seed %s: %v", table, err)
		}
	}
}

// SeedAdmin is how many users and audit events RunAdminListBenchmarks
// stores before it measures (issue 16: the admin API on 10k of each).
const SeedAdmin = 10_000

// RunAdminListBenchmarks measures the admin API's listings with SeedAdmin
// users and SeedAdmin audit events present: the first page, a page deep
// into the listing (keyset cursor), a substring search, and audit filters
// by user, type and time range. Each op is one page of 50.
func RunAdminListBenchmarks(b *testing.B, s Store) {
	ctx := context.Background()
	seedAdmin(b, s, SeedAdmin)
	now := time.Now()
	deep := user.NameKey(fmt.Sprintf("user-%05d", SeedAdmin*9/10))
	// A cursor deep in the trail: the 9000th newest event.
	old, err := s.ListAudit(ctx, audit.Filter{Limit: SeedAdmin * 9 / 10})
	if err != nil || len(old) == 0 {
		b.Fatalf("ListAudit: %v", err)
	}
	last := old[len(old)-1]
	cases := []struct {
		name string
		run  func() (int, error)
	}{
		{"users/first-page", func() (int, error) { us, err := s.SearchUsers(ctx, user.Query{Limit: 50}); return len(us), err }},
		{"users/deep-page", func() (int, error) {
			us, err := s.SearchUsers(ctx, user.Query{After: deep, Limit: 50})
			return len(us), err
		}},
		{"users/search", func() (int, error) {
			us, err := s.SearchUsers(ctx, user.Query{Search: "99", Limit: 50})
			return len(us), err
		}},
		{"audit/first-page", func() (int, error) { evs, err := s.ListAudit(ctx, audit.Filter{Limit: 50}); return len(evs), err }},
		{"audit/deep-page", func() (int, error) {
			evs, err := s.ListAudit(ctx, audit.Filter{Before: audit.Cursor{Time: last.Time, ID: last.ID}, Limit: 50})
			return len(evs), err
		}},
		{"audit/by-user", func() (int, error) {
			evs, err := s.ListAudit(ctx, audit.Filter{UserID: "user-42", Limit: 50})
			return len(evs), err
		}},
		{"audit/by-type", func() (int, error) {
			evs, err := s.ListAudit(ctx, audit.Filter{Type: "login.failed", Limit: 50})
			return len(evs), err
		}},
		{"audit/time-range", func() (int, error) {
			evs, err := s.ListAudit(ctx, audit.Filter{Since: now.Add(-2 * time.Hour), Until: now.Add(-time.Hour), Limit: 50})
			return len(evs), err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n, err := c.run()
				if err != nil || n == 0 {
					b.Fatalf("%d rows, %v", n, err)
				}
			}
		})
	}
}

// seedAdmin stores n users and n audit events (one a second going back
// from now, over n/100 users, every tenth a login.failed).
func seedAdmin(b *testing.B, s Store, n int) {
	b.Helper()
	now := time.Now()
	inTx(b, s, func(tx *sql.Tx) {
		seedAdminRows(b, tx, s, n, now)
	})
}

func seedAdminRows(b *testing.B, tx *sql.Tx, s Store, n int, now time.Time) {
	insertRows(b, tx, s, "users (id, username, username_key, roles, disabled, password_hash, created_at, updated_at)", 8, n,
		func(i int) []any {
			name := fmt.Sprintf("user-%05d", i)
			return []any{fmt.Sprintf("id-%d", i), name, user.NameKey(name), `["user"]`, false, "", now.UnixMicro(), now.UnixMicro()}
		})
	insertRows(b, tx, s, "audit_events (time, type, user_id, username, ip, request_id, details)", 7, n,
		func(i int) []any {
			typ := "login.ok"
			if i%10 == 0 {
				typ = "login.failed"
			}
			return []any{now.Add(-time.Duration(i) * time.Second).UnixMicro(), typ, fmt.Sprintf("user-%d", i%(n/100)), "", "192.0.2.1", fmt.Sprintf("req-%d", i), "{}"}
		})
}

// inTx runs fn in one transaction and commits it (seeding: one sync, not
// one per row).
func inTx(b *testing.B, s Store, fn func(tx *sql.Tx)) {
	b.Helper()
	tx, err := s.DB().BeginTx(context.Background(), nil)
	if err != nil {
		b.Fatalf("begin: %v", err)
	}
	defer func() { _ = tx.Rollback() }()
	fn(tx)
	if err := tx.Commit(); err != nil {
		b.Fatalf("commit: %v", err)
	}
}
