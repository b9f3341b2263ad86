package bench

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // the "sqlite" driver, to read a database's size

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
	redisstore "github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// createBudget bounds how long filling one store may take; a slow store
// (SQLite syncing every commit) is measured on the sessions created by then.
const createBudget = 30 * time.Second

// browserUA is a typical User-Agent, stored with every session.
const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// createSessions creates up to n sessions through m with workers
// goroutines, each for userID() (called per session), until n or the
// budget is reached; it returns how many were created.
func createSessions(ctx context.Context, m *session.Manager, n, workers int, userID func() string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, createBudget)
	defer cancel()
	var (
		next, created atomic.Int64
		wg            sync.WaitGroup
		errOnce       sync.Once
		firstErr      error
	)
	meta := session.Meta{IP: "127.0.0.1", UserAgent: browserUA, Method: "password"}
	for range max(workers, 1) {
		wg.Go(func() {
			for ctx.Err() == nil && next.Add(1) <= int64(n) {
				if _, _, err := m.Create(ctx, userID(), meta); err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { firstErr = err })
					}
					return
				}
				created.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return int(created.Load()), fmt.Errorf("create sessions: %w", firstErr)
	}
	if created.Load() == 0 {
		return 0, fmt.Errorf("create sessions: none created: %w", ctx.Err())
	}
	return int(created.Load()), nil
}

// heapAlloc is the live heap after two full collections (the second one
// frees what finalizers of the first released).
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// measureMemoryStore fills an in-process store with n sessions of
// distinct users and reports the heap growth per session.
func measureMemoryStore(ctx context.Context, n int) SessionMemory {
	res := SessionMemory{Store: "memory", Method: "Go heap (HeapAlloc after GC) delta ÷ sessions, one user per session"}
	store := memory.New(memory.WithMaxSessions(max(n, memory.DefaultMaxSessions)))
	m := session.NewManager(store)
	before := heapAlloc()
	created, err := createSessions(ctx, m, n, 1, user.NewID)
	if err != nil {
		res.Skipped = err.Error()
		return res
	}
	after := heapAlloc()
	runtime.KeepAlive(store)
	res.Sessions = created
	res.BytesPerSession = float64(int64(after)-int64(before)) / float64(created)
	return res
}

// measureRedis fills Redis with n sessions of distinct users under prefix
// and reports the growth of used_memory per session. Other clients of the
// same Redis add noise.
func measureRedis(ctx context.Context, redisURL, prefix string, n int) SessionMemory {
	res := SessionMemory{Store: "redis", Method: "INFO memory used_memory delta ÷ sessions, one user per session (includes the per-user index)"}
	client, err := redisClient(redisURL)
	if err != nil {
		res.Skipped = err.Error()
		return res
	}
	defer client.Close()
	store, err := redisstore.Open(ctx, redisURL, redisstore.WithKeyPrefix(prefix))
	if err != nil {
		res.Skipped = err.Error()
		return res
	}
	defer store.Close()
	before, err := usedMemory(ctx, client)
	if err != nil {
		res.Skipped = err.Error()
		return res
	}
	created, err := createSessions(ctx, session.NewManager(store), n, 16, user.NewID)
	if err != nil {
		res.Skipped = err.Error()
		return res
	}
	after, err := usedMemory(ctx, client)
	if err != nil {
		res.Skipped = err.Error()
		return res
	}
	res.Sessions = created
	res.BytesPerSession = float64(after-before) / float64(created)
	return res
}

// measureSQLite adds n sessions for userID to the SQLite database of cfg
// (a mode's, which its gatehouse process serves meanwhile; SQLite allows
// the second writer) and reports the database growth per session.
func measureSQLite(ctx context.Context, cfg config.Config, log *slog.Logger, userID string, n int) SessionMemory {
	res := SessionMemory{Store: "sqlite", Method: "database size (page_count × page_size) delta ÷ sessions, all for one user"}
	path := filepath.Clean(strings.TrimPrefix(cfg.Store, "sqlite://"))
	before, err := sqliteSize(ctx, path)
	if err != nil {
		res.Skipped = err.Error()
		return res
	}
	var created int
	_, err = withApp(ctx, cfg, log, func(a *app.App) error {
		created, err = createSessions(ctx, a.Sessions, n, 4, func() string { return userID })
		return err
	})
	if err != nil {
		res.Skipped = err.Error()
		return res
	}
	after, err := sqliteSize(ctx, path)
	if err != nil {
		res.Skipped = err.Error()
		return res
	}
	res.Sessions = created
	res.BytesPerSession = float64(after-before) / float64(created)
	return res
}

// sqliteSize is the logical size of the database at path, WAL included:
// what the file would be after a checkpoint.
func sqliteSize(ctx context.Context, path string) (int64, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		return 0, fmt.Errorf("sqlite size: %w", err)
	}
	defer db.Close()
	var pages, size int64
	if err := db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return 0, fmt.Errorf("sqlite size: %w", err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size); err != nil {
		return 0, fmt.Errorf("sqlite size: %w", err)
	}
	return pages * size, nil
}

func redisClient(redisURL string) (*goredis.Client, error) {
	o, err := goredis.ParseURL(redisURL)
	if err != nil {
		// The URL may hold a password: never repeat it.
		return nil, fmt.Errorf("malformed Redis URL")
	}
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = 2*time.Second, 5*time.Second, 5*time.Second
	return goredis.NewClient(o), nil
}

// pingRedis says why Redis cannot be used, or "" when it answers PING.
func pingRedis(ctx context.Context, redisURL string) string {
	if redisURL == "" {
		return "no Redis URL given"
	}
	client, err := redisClient(redisURL)
	if err != nil {
		return err.Error()
	}
	defer client.Close()
	if err := client.Ping(ctx).Err(); err != nil {
		return fmt.Sprintf("Redis at %s did not answer PING", config.RedactURL(redisURL))
	}
	return ""
}

func usedMemory(ctx context.Context, client *goredis.Client) (int64, error) {
	info, err := client.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("redis INFO memory: %w", err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("redis INFO memory: no used_memory")
}

// deletePrefix removes every key under prefix (the run's own keys). It
// scans again until a pass finds nothing, at most three times.
func deletePrefix(ctx context.Context, redisURL, prefix string) error {
	client, err := redisClient(redisURL)
	if err != nil {
		return err
	}
	defer client.Close()
	for range 3 {
		n, err := deletePass(ctx, client, prefix)
		if err != nil {
			return fmt.Errorf("delete bench keys under %s: %w", prefix, err)
		}
		if n == 0 {
			return nil
		}
	}
	return nil
}

// deletePass unlinks the keys one SCAN pass finds and returns how many.
func deletePass(ctx context.Context, client *goredis.Client, prefix string) (int, error) {
	var keys []string
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, err
	}
	for batch := range slices.Chunk(keys, 500) {
		if err := client.Unlink(ctx, batch...).Err(); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}
