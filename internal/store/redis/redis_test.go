package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/peers"
	"github.com/gatehouse-auth/gatehouse/internal/peers/peerstest"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/revocation/revocationtest"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/session/sessiontest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/throttle"
	"github.com/gatehouse-auth/gatehouse/internal/throttle/throttletest"
)

// newStore opens a Store under a fresh prefix and returns it with the prefix.
func newStore(t testing.TB) (*redis.Store, string) {
	t.Helper()
	url, prefix := redistest.New(t)
	s, err := redis.Open(context.Background(), url, redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, prefix
}

// rawClient talks to the test Redis directly, to look at what the store wrote.
func rawClient(t testing.TB) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: redistest.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// openDeployment opens a Store on the test deployment of kind under a fresh
// prefix, waiting for one replica on Sentinel and Cluster as serve does.
func openDeployment(t testing.TB, kind redistest.Kind) *redis.Store {
	t.Helper()
	d, prefix := redistest.Deploy(t, kind)
	opts := []redis.Option{redis.WithKeyPrefix(prefix)}
	if kind != redistest.Single {
		opts = append(opts, redis.WithWait(1, 2*time.Second))
	}
	s, err := redis.OpenTopology(context.Background(), redis.Topology(d), opts...)
	if err != nil {
		t.Fatalf("OpenTopology(%s): %v", kind, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// The conformance suites run on a single node, a Sentinel group and a
// 3-primary Cluster. On the Cluster, any command spanning two slots would
// fail with CROSSSLOT and so fail the suite.
func TestSessionStore(t *testing.T) {
	for _, kind := range redistest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			sessiontest.RunStoreTests(t, func(t *testing.T) session.Store { return openDeployment(t, kind) })
		})
	}
}

func TestRevocationStore(t *testing.T) {
	for _, kind := range redistest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			revocationtest.RunStoreTests(t, func(t *testing.T) revocation.Store { return openDeployment(t, kind) })
		})
	}
}

func TestThrottleStore(t *testing.T) {
	for _, kind := range redistest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			throttletest.RunStoreTests(t, func(t *testing.T) throttle.Store { return openDeployment(t, kind) })
		})
	}
}

func TestPeerStore(t *testing.T) {
	for _, kind := range redistest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			peerstest.RunStoreTests(t, func(t *testing.T) peers.Store { return openDeployment(t, kind) })
		})
	}
}

func TestTOTPStepStore(t *testing.T) {
	for _, kind := range redistest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			mfatest.RunStepStoreTests(t, func(t *testing.T) mfa.StepStore { return openDeployment(t, kind) })
		})
	}
}

func liveRecord(id, user string, now time.Time) session.Record {
	return session.Record{
		ID: id, UserID: user, CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(24 * time.Hour),
		IP: "192.0.2.1", UserAgent: "test", Method: "password",
	}
}

// TestSessionTTLFollowsEarlierExpiry: Redis drops a session by itself at
// its idle expiry, and activity slides that TTL (never past the absolute end).
func TestSessionTTLFollowsEarlierExpiry(t *testing.T) {
	ctx := context.Background()
	s, prefix := newStore(t)
	raw := rawClient(t)
	now := time.Now()
	r := liveRecord("sess-ttl", "alice", now)
	if err := s.CreateSession(ctx, r); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	ttl := func() time.Duration {
		t.Helper()
		d, err := raw.PTTL(ctx, prefix+"s:"+r.ID).Result()
		if err != nil {
			t.Fatalf("PTTL: %v", err)
		}
		return d
	}
	if got := ttl(); got <= 29*time.Minute || got > 30*time.Minute {
		t.Fatalf("TTL after create = %v, want about the 30m idle timeout", got)
	}

	if err := s.TouchSession(ctx, r.ID, now, now.Add(2*time.Hour)); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}
	if got := ttl(); got <= 119*time.Minute || got > 2*time.Hour {
		t.Fatalf("TTL after touch = %v, want about 2h", got)
	}

	if err := s.TouchSession(ctx, r.ID, now, now.Add(48*time.Hour)); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}
	if got := ttl(); got <= 23*time.Hour || got > 24*time.Hour {
		t.Fatalf("TTL with idle expiry past the absolute one = %v, want about the 24h absolute", got)
	}
}

// TestUserSessionsSkipsSessionsExpiredByTTL: when Redis has expired a
// session key, listing the user's sessions leaves it out and prunes the
// index entry.
func TestUserSessionsSkipsSessionsExpiredByTTL(t *testing.T) {
	ctx := context.Background()
	s, prefix := newStore(t)
	raw := rawClient(t)
	now := time.Now()
	for _, id := range []string{"gone", "kept"} {
		if err := s.CreateSession(ctx, liveRecord(id, "alice", now)); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	// What a TTL expiry does: the hash disappears, the index stays.
	if err := raw.Del(ctx, prefix+"s:gone").Err(); err != nil {
		t.Fatalf("DEL: %v", err)
	}

	list, err := s.UserSessions(ctx, "alice")
	if err != nil {
		t.Fatalf("UserSessions: %v", err)
	}
	if got, want := len(list), 1; got != want || list[0].ID != "kept" {
		t.Fatalf("UserSessions = %v, want only the live session", list)
	}
	members, err := raw.HKeys(ctx, prefix+"u:alice").Result()
	if err != nil {
		t.Fatalf("HKEYS: %v", err)
	}
	if got, want := strings.Join(members, ","), "kept"; got != want {
		t.Fatalf("user index = %q, want %q", got, want)
	}
	removed, err := s.DeleteUserSessions(ctx, "alice", "")
	if err != nil {
		t.Fatalf("DeleteUserSessions: %v", err)
	}
	if got, want := strings.Join(removed, ","), "kept"; got != want {
		t.Fatalf("DeleteUserSessions removed %q, want %q", got, want)
	}
}

// TestDeleteUserSessionsReportsAnErrorAfterAnAbsentSession: go-redis
// reports only a pipeline's first failed command, and an absent session
// (the script's empty reply, redis.Nil) counts as one. A real error on a
// later session must still fail sign-out-everywhere, and that session must
// stay indexed so that the next attempt reaches it: reported as done, it
// would live on, unlisted and out of reach.
func TestDeleteUserSessionsReportsAnErrorAfterAnAbsentSession(t *testing.T) {
	ctx := context.Background()
	s, prefix := newStore(t)
	raw := rawClient(t)
	now := time.Now()
	for _, id := range []string{"gone", "broken"} { // index order: gone first
		if err := s.CreateSession(ctx, liveRecord(id, "alice", now)); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	// gone: expired by its TTL, still indexed. broken: a key the delete
	// fails on (WRONGTYPE), as a command fails on a primary that is down.
	if err := raw.Del(ctx, prefix+"s:gone").Err(); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if err := raw.Del(ctx, prefix+"s:broken").Err(); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if err := raw.Set(ctx, prefix+"s:broken", "x", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if _, err := s.DeleteUserSessions(ctx, "alice", ""); err == nil {
		t.Error("DeleteUserSessions = nil error although a session could not be deleted")
	}
	members, err := raw.HKeys(ctx, prefix+"u:alice").Result()
	if err != nil {
		t.Fatalf("HKEYS: %v", err)
	}
	if !slices.Contains(members, "broken") {
		t.Errorf("user index = %q: the session that was not deleted left it", members)
	}
}

// TestKeyPrefixIsolatesDeployments: two stores with different prefixes on
// one Redis never see each other's data.
func TestKeyPrefixIsolatesDeployments(t *testing.T) {
	ctx := context.Background()
	a, _ := newStore(t)
	b, _ := newStore(t)
	now := time.Now()
	if err := a.CreateSession(ctx, liveRecord("shared-id", "alice", now)); err != nil {
		t.Fatalf("CreateSession(a): %v", err)
	}
	if _, err := b.Session(ctx, "shared-id"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("Session on the other prefix error = %v, want auth.ErrNotFound", err)
	}
	if err := b.CreateSession(ctx, liveRecord("shared-id", "bob", now)); err != nil {
		t.Fatalf("CreateSession(b) with an ID taken only under the other prefix: %v", err)
	}
	if err := a.PublishRevocation(ctx, revocation.Event{Kind: revocation.KindJTI, Key: "j", Until: now.Add(time.Hour)}); err != nil {
		t.Fatalf("PublishRevocation: %v", err)
	}
	if revoked, err := b.Revoked(ctx, revocation.KindJTI, "j", now); err != nil || revoked {
		t.Fatalf("Revoked on the other prefix = %v, %v; want false, nil", revoked, err)
	}
}

// TestRevocationsBlockUntilPublish: a follower blocked in XREAD gets an
// event published by another instance without waiting out its wait.
func TestRevocationsBlockUntilPublish(t *testing.T) {
	ctx := context.Background()
	follower, prefix := newStore(t)
	publisher, err := redis.Open(ctx, redistest.URL, redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = publisher.Close() })
	now := time.Now()
	_, cursor, err := follower.Revocations(ctx, "", now, 0)
	if err != nil {
		t.Fatalf("Revocations: %v", err)
	}

	type result struct {
		evs []revocation.Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		evs, _, err := follower.Revocations(ctx, cursor, now, 20*time.Second)
		done <- result{evs, err}
	}()
	ev := revocation.Event{Kind: revocation.KindSession, Key: "s1", Until: now.Add(time.Minute)}
	if err := publisher.PublishRevocation(ctx, ev); err != nil {
		t.Fatalf("PublishRevocation: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("blocked Revocations: %v", r.err)
	}
	if len(r.evs) != 1 || r.evs[0].Key != ev.Key {
		t.Fatalf("blocked Revocations = %v, want [%v]", r.evs, ev)
	}
}

// TestUnavailableRedisFailsClosed: every call against a Redis that does not
// answer (nothing listening, or a closed client) fails with
// auth.ErrUnavailable, never with "not found" or "not revoked".
func TestUnavailableRedisFailsClosed(t *testing.T) {
	ctx := context.Background()
	dead, err := redis.Open(ctx, "redis://127.0.0.1:1/0", redis.WithKeyPrefix("gatehouse-test:dead:"))
	if err != nil {
		t.Fatalf("Open(dead port): %v", err)
	}
	t.Cleanup(func() { _ = dead.Close() })
	closed, _ := newStore(t)
	if err := closed.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	now := time.Now()
	calls := []struct {
		name string
		call func(s *redis.Store) error
	}{
		{"Ping", func(s *redis.Store) error { return s.Ping(ctx) }},
		{"CreateSession", func(s *redis.Store) error { return s.CreateSession(ctx, liveRecord("x", "u", now)) }},
		{"Session", func(s *redis.Store) error { _, err := s.Session(ctx, "x"); return err }},
		{"TouchSession", func(s *redis.Store) error { return s.TouchSession(ctx, "x", now, now.Add(time.Hour)) }},
		{"DeleteSession", func(s *redis.Store) error { return s.DeleteSession(ctx, "x") }},
		{"UserSessions", func(s *redis.Store) error { _, err := s.UserSessions(ctx, "u"); return err }},
		{"DeleteUserSessions", func(s *redis.Store) error { _, err := s.DeleteUserSessions(ctx, "u", ""); return err }},
		{"DeleteExpiredSessions", func(s *redis.Store) error { _, err := s.DeleteExpiredSessions(ctx, now); return err }},
		{"PublishRevocation", func(s *redis.Store) error {
			return s.PublishRevocation(ctx, revocation.Event{Kind: revocation.KindJTI, Key: "j", Until: now.Add(time.Hour)})
		}},
		{"RevocationsInitial", func(s *redis.Store) error { _, _, err := s.Revocations(ctx, "", now, 0); return err }},
		{"RevocationsFollow", func(s *redis.Store) error { _, _, err := s.Revocations(ctx, "0-0", now, time.Second); return err }},
		{"Revoked", func(s *redis.Store) error { _, err := s.Revoked(ctx, revocation.KindJTI, "j", now); return err }},
		{"DeleteExpiredRevocations", func(s *redis.Store) error { _, err := s.DeleteExpiredRevocations(ctx, now); return err }},
		{"AddFailure", func(s *redis.Store) error { _, err := s.AddFailure(ctx, "k", now, time.Minute); return err }},
		{"Failures", func(s *redis.Store) error { _, _, err := s.Failures(ctx, "k", now, time.Minute); return err }},
		{"ResetFailures", func(s *redis.Store) error { return s.ResetFailures(ctx, "k") }},
		{"RemoveFailure", func(s *redis.Store) error { return s.RemoveFailure(ctx, "k", now) }},
	}
	for _, store := range []struct {
		name string
		s    *redis.Store
	}{{"DeadPort", dead}, {"ClosedClient", closed}} {
		for _, c := range calls {
			t.Run(store.name+"/"+c.name, func(t *testing.T) {
				if err := c.call(store.s); !errors.Is(err, auth.ErrUnavailable) {
					t.Fatalf("error = %v, want auth.ErrUnavailable", err)
				}
			})
		}
	}
}

// TestOpenRejectsMalformedURLWithoutEchoingIt: a bad URL is a config error
// whose message does not leak the password in it.
func TestOpenRejectsMalformedURLWithoutEchoingIt(t *testing.T) {
	_, err := redis.Open(context.Background(), "http://user:s3cret-pw@127.0.0.1:6379/0")
	if !errors.Is(err, auth.ErrInvalidInput) {
		t.Fatalf("Open(http URL) error = %v, want auth.ErrInvalidInput", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatal("Open error message contains the password from the URL")
	}
}

func TestObserverSeesEveryCommand(t *testing.T) {
	s, _ := newStore(t)
	var mu sync.Mutex
	seen := map[string]int{}
	s.SetObserver(func(op string, d time.Duration) {
		mu.Lock()
		seen[op]++
		mu.Unlock()
		if d <= 0 {
			t.Errorf("%s: latency %v", op, d)
		}
	})
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "absent"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("Session(absent) = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["ping"] != 1 || len(seen) < 2 {
		t.Errorf("observed %v, want ping and the session read", seen)
	}
}

// TestUnacknowledgedLogoutFailsClosed: with WithWait, a logout or
// revocation that no replica acknowledged is not reported as done (a
// failover could still lose it); the single test node has no replica.
func TestUnacknowledgedLogoutFailsClosed(t *testing.T) {
	ctx := context.Background()
	url, prefix := redistest.New(t)
	s, err := redis.Open(ctx, url, redis.WithKeyPrefix(prefix), redis.WithWait(1, 50*time.Millisecond))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	now := time.Now()
	for _, id := range []string{"a", "b"} {
		if err := s.CreateSession(ctx, liveRecord(id, "alice", now)); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"DeleteSession", func() error { return s.DeleteSession(ctx, "a") }},
		{"DeleteUserSessions", func() error { _, err := s.DeleteUserSessions(ctx, "alice", ""); return err }},
		{"PublishRevocation", func() error {
			return s.PublishRevocation(ctx, revocation.Event{Kind: revocation.KindJTI, Key: "j", Until: now.Add(time.Hour)})
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, redis.ErrNotReplicated) || !errors.Is(err, auth.ErrUnavailable) {
				t.Fatalf("error = %v, want redis.ErrNotReplicated (auth.ErrUnavailable)", err)
			}
		})
	}
}

// TestWaitTimeoutZeroMeansDefault: WithWait with a timeout of 0 (the
// config's redis.wait_timeout: 0) waits DefaultWaitTimeout, 1s, for the
// replicas: Redis WAIT with 0 would block for ever, and an unacknowledged
// logout must still fail closed, neither at once nor never.
func TestWaitTimeoutZeroMeansDefault(t *testing.T) {
	ctx := context.Background()
	url, prefix := redistest.New(t)
	s, err := redis.Open(ctx, url, redis.WithKeyPrefix(prefix), redis.WithWait(1, 0))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.CreateSession(ctx, liveRecord("a", "alice", time.Now())); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*redis.DefaultWaitTimeout) // "for ever" fails here
	defer cancel()
	start := time.Now()
	err = s.DeleteSession(ctx, "a")
	took := time.Since(start)
	if !errors.Is(err, redis.ErrNotReplicated) {
		t.Fatalf("DeleteSession with no replica: error = %v after %v, want redis.ErrNotReplicated", err, took)
	}
	if took < redis.DefaultWaitTimeout-50*time.Millisecond || took > 5*redis.DefaultWaitTimeout {
		t.Errorf("the unacknowledged logout failed after %v, want about %v", took, redis.DefaultWaitTimeout)
	}
}

// TestRevocationFeedSurvivesLostEntries: after a failover the new primary
// may lack the entry a watcher's cursor names, and new entries may get
// lower IDs than that cursor. The feed must start over rather than skip
// them.
func TestRevocationFeedSurvivesLostEntries(t *testing.T) {
	ctx := context.Background()
	s, prefix := newStore(t)
	raw := rawClient(t)
	now := time.Now()
	if err := s.PublishRevocation(ctx, revocation.Event{Kind: revocation.KindJTI, Key: "before", Until: now.Add(time.Hour)}); err != nil {
		t.Fatalf("PublishRevocation: %v", err)
	}
	_, cursor, err := s.Revocations(ctx, "", now, 0)
	if err != nil {
		t.Fatalf("Revocations: %v", err)
	}
	// What a promoted replica that missed the tail looks like: the stream
	// restarts below the cursor, with an event the watcher never saw.
	stream := prefix + "{rev}:stream"
	if err := raw.Del(ctx, stream).Err(); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if err := raw.XAdd(ctx, &goredis.XAddArgs{Stream: stream, ID: "1-1", Values: []any{
		"kind", revocation.KindSession, "key", "after-failover", "until", strconv.FormatInt(now.Add(time.Hour).UnixMicro(), 10),
	}}).Err(); err != nil {
		t.Fatalf("XADD: %v", err)
	}
	evs, _, err := s.Revocations(ctx, cursor, now, 0)
	if err != nil {
		t.Fatalf("Revocations after the failover: %v", err)
	}
	if len(evs) != 1 || evs[0].Key != "after-failover" {
		t.Fatalf("Revocations after the failover = %v, want the event published on the new primary", evs)
	}
}

// TestOpenSentinelURL: a redis-sentinel:// URL reaches the primary the
// test sentinel names; a malformed one is a config error that does not
// echo its password.
func TestOpenSentinelURL(t *testing.T) {
	ctx := context.Background()
	s, err := redis.Open(ctx, "redis-sentinel://"+strings.Join(redistest.SentinelAddrs, ",")+"/"+redistest.SentinelMaster+"/0")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping through the sentinel: %v", err)
	}
	for _, bad := range []string{"redis-sentinel://:s3cret-pw@127.0.0.1:26379", "redis-sentinel://:s3cret-pw@127.0.0.1:26379/m/x"} {
		_, err := redis.Open(ctx, bad)
		if !errors.Is(err, auth.ErrInvalidInput) || strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("Open(malformed sentinel URL) error = %v, want auth.ErrInvalidInput without the password", err)
		}
	}
}

// TestLogoutEverywhereAcrossPrimaries: on the Cluster a user's sessions
// live on different primaries (their keys cannot share a hash tag); "log
// out everywhere" must still remove every one of them, durably.
func TestLogoutEverywhereAcrossPrimaries(t *testing.T) {
	ctx := context.Background()
	s := openDeployment(t, redistest.Cluster)
	now := time.Now()
	var ids []string
	for i := range 12 {
		id := "sess-" + strconv.Itoa(i)
		ids = append(ids, id)
		if err := s.CreateSession(ctx, liveRecord(id, "alice", now)); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	removed, err := s.DeleteUserSessions(ctx, "alice", "sess-0")
	if err != nil {
		t.Fatalf("DeleteUserSessions: %v", err)
	}
	if got, want := len(removed), len(ids)-1; got != want {
		t.Fatalf("DeleteUserSessions removed %d sessions, want %d", got, want)
	}
	for _, id := range ids[1:] {
		if _, err := s.Session(ctx, id); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("Session(%s) after logout everywhere: %v, want auth.ErrNotFound", id, err)
		}
	}
	list, err := s.UserSessions(ctx, "alice")
	if err != nil || len(list) != 1 || list[0].ID != "sess-0" {
		t.Fatalf("UserSessions = %v, %v; want only the kept session", list, err)
	}
}

// TestPurgeDropsIndexEntriesOfSessionsExpiredByTTL: Redis drops an idle
// session by its TTL before the purge looks at it. The purge must still
// remove its entry from the user's index: otherwise a user who keeps
// logging in (a script that never keeps its cookie) grows the index
// without bound, since every login extends the index key's TTL, and "log
// out everywhere" walks every dead entry. On the Cluster the session, the
// index and the bucket live on different primaries.
func TestPurgeDropsIndexEntriesOfSessionsExpiredByTTL(t *testing.T) {
	for _, kind := range redistest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			d, prefix := redistest.Deploy(t, kind)
			s, err := redis.OpenTopology(ctx, redis.Topology(d), redis.WithKeyPrefix(prefix))
			if err != nil {
				t.Fatalf("OpenTopology: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			raw := rawFor(t, kind, d)

			now := time.Now()
			for _, id := range []string{"idle-1", "idle-2"} {
				r := liveRecord(id, "alice", now)
				r.IdleExpiresAt = now.Add(20 * time.Millisecond)
				if err := s.CreateSession(ctx, r); err != nil {
					t.Fatalf("CreateSession: %v", err)
				}
			}
			if err := s.CreateSession(ctx, liveRecord("live", "alice", now)); err != nil {
				t.Fatalf("CreateSession: %v", err)
			}
			time.Sleep(100 * time.Millisecond) // the idle sessions' TTL runs out

			if _, err := s.DeleteExpiredSessions(ctx, time.Now()); err != nil {
				t.Fatalf("DeleteExpiredSessions: %v", err)
			}
			members, err := raw.HKeys(ctx, prefix+"u:alice").Result()
			if err != nil {
				t.Fatalf("HKEYS: %v", err)
			}
			if got, want := strings.Join(members, ","), "live"; got != want {
				t.Fatalf("user index after purge = %q, want %q", got, want)
			}
			var left int64
			for b := range 16 {
				n, err := raw.ZCard(ctx, prefix+"s-exp:"+strconv.Itoa(b)).Result()
				if err != nil {
					t.Fatalf("ZCARD: %v", err)
				}
				left += n
			}
			if left != 1 {
				t.Fatalf("expiry buckets hold %d entries after purge, want 1 (the live session)", left)
			}
		})
	}
}

// TestActiveRevocationsOutliveABusyFeed: an instance that starts (or
// whose cursor is gone) loads the active events from the stream. A stream
// capped by length would have dropped the oldest of them while they were
// still active — a busy deployment's revoked access tokens would be valid
// again on every instance started after 100,000 later revocations. Only
// expired events may leave it.
func TestActiveRevocationsOutliveABusyFeed(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Now()
	first := revocation.Event{Kind: revocation.KindJTI, Key: "first", Until: now.Add(time.Hour)}
	if err := s.PublishRevocation(ctx, first); err != nil {
		t.Fatalf("PublishRevocation: %v", err)
	}
	const later = 101_000 // past the old cap of 100,000 and its slack
	var (
		wg   sync.WaitGroup
		next = make(chan int)
		errs = make(chan error, 1)
	)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				ev := revocation.Event{Kind: revocation.KindSession, Key: strconv.Itoa(i), Until: now.Add(time.Hour)}
				if err := s.PublishRevocation(ctx, ev); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range later {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("PublishRevocation: %v", err)
	default:
	}
	evs, _, err := s.Revocations(ctx, "", now, 0)
	if err != nil {
		t.Fatalf("Revocations: %v", err)
	}
	if len(evs) != later+1 || !slices.ContainsFunc(evs, func(ev revocation.Event) bool { return ev.Key == first.Key }) {
		t.Fatalf("a new instance loads %d events, first one included: %v; want %d with it", len(evs),
			slices.ContainsFunc(evs, func(ev revocation.Event) bool { return ev.Key == first.Key }), later+1)
	}
}

// TestOpenSentinelURLDecodesPassword: a redis-sentinel:// URL's user and
// password are percent-decoded, as a redis:// URL's are (config check asks
// for '/', '?' and '#' in a password to be percent-encoded). Sent as
// written, "p%40ss%2Fw%25rd" failed authentication on the sentinel and the
// primary: every request that needs Redis answered 503.
func TestOpenSentinelURLDecodesPassword(t *testing.T) {
	ctx := context.Background()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	user, password := "gatehouse-test-"+hex.EncodeToString(b[:]), "p@ss/w%rd:"+hex.EncodeToString(b[:])
	// The user exists on the sentinel and on both nodes of the group,
	// whichever is primary now.
	for _, addr := range []string{redistest.SentinelAddrs[0], "127.0.0.1:6380", "127.0.0.1:6381"} {
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Do(ctx, "ACL", "SETUSER", user, "on", ">"+password, "~*", "&*", "+@all").Err(); err != nil {
			t.Fatalf("ACL SETUSER on %s: %v", addr, err)
		}
		t.Cleanup(func() { _ = c.Do(context.Background(), "ACL", "DELUSER", user).Err() })
	}
	tests := []struct {
		name, userinfo string
	}{
		{"PercentEncoded", url.UserPassword(user, password).String()},
		{"EncodedUser", url.PathEscape(user) + ":" + url.PathEscape(password)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redis.Open(ctx, "redis-sentinel://"+tt.userinfo+"@"+strings.Join(redistest.SentinelAddrs, ",")+"/"+redistest.SentinelMaster+"/0")
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if err := s.Ping(ctx); err != nil {
				t.Fatalf("Ping as %s with the percent-encoded password: %v", user, err)
			}
		})
	}
	_, err := redis.Open(ctx, "redis-sentinel://u:bad%zz-s3cret@127.0.0.1:26379/m")
	if !errors.Is(err, auth.ErrInvalidInput) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open(invalid escape in the password) = %v, want auth.ErrInvalidInput without the password", err)
	}
}

// rawFor talks to the test deployment of kind directly, to look at what the
// store wrote there.
func rawFor(t testing.TB, kind redistest.Kind, d redistest.Deployment) goredis.UniversalClient {
	t.Helper()
	o := &goredis.UniversalOptions{Addrs: d.ClusterAddrs, IsClusterMode: kind == redistest.Cluster, MasterName: d.SentinelMaster}
	switch kind {
	case redistest.Single:
		o.Addrs = []string{redistest.Addr}
	case redistest.Sentinel:
		o.Addrs = d.SentinelAddrs
	}
	raw := goredis.NewUniversalClient(o)
	t.Cleanup(func() { _ = raw.Close() })
	return raw
}

// TestLongRevocationDoesNotHoldTheFeed: the purge trimmed the stream only
// up to the oldest event still active, so one long revocation (a 30-day
// CLI token's sid, revoked by "user disable") kept every later event in
// the stream for up to 30 days, and every starting instance read them all.
// Once the short events have ended, the stream must hold little more than
// the long one — which a starting instance, reading the stream as every
// gatehouse version does, still loads.
func TestLongRevocationDoesNotHoldTheFeed(t *testing.T) {
	for _, kind := range redistest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			d, prefix := redistest.Deploy(t, kind)
			opts := []redis.Option{redis.WithKeyPrefix(prefix)}
			if kind != redistest.Single {
				opts = append(opts, redis.WithWait(1, 2*time.Second))
			}
			s, err := redis.OpenTopology(ctx, redis.Topology(d), opts...)
			if err != nil {
				t.Fatalf("OpenTopology: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			raw := rawFor(t, kind, d)

			now := time.Now()
			long := revocation.Event{Kind: revocation.KindSID, Key: "cli-family", Until: now.Add(30 * 24 * time.Hour)}
			if err := s.PublishRevocation(ctx, long); err != nil {
				t.Fatalf("PublishRevocation: %v", err)
			}
			const short = 2000
			_, err = raw.Pipelined(ctx, func(p goredis.Pipeliner) error {
				for i := range short { // what PublishRevocation appends, faster
					p.XAdd(ctx, &goredis.XAddArgs{Stream: prefix + "{rev}:stream", Values: []any{
						"kind", revocation.KindJTI, "key", strconv.Itoa(i), "until", strconv.FormatInt(now.Add(10*time.Minute).UnixMicro(), 10),
					}})
				}
				return nil
			})
			if err != nil {
				t.Fatalf("XADD: %v", err)
			}

			purgeAt := now.Add(24 * time.Hour)
			n, err := s.DeleteExpiredRevocations(ctx, purgeAt)
			if err != nil {
				t.Fatalf("DeleteExpiredRevocations: %v", err)
			}
			length, err := raw.XLen(ctx, prefix+"{rev}:stream").Result()
			if err != nil {
				t.Fatalf("XLEN: %v", err)
			}
			if n != short || length != 1 {
				t.Fatalf("after the purge a day later: %d entries removed, stream length %d; want %d removed and 1 left (the long event)", n, length, short)
			}
			evs, _, err := s.Revocations(ctx, "", purgeAt, 0)
			if err != nil {
				t.Fatalf("Revocations: %v", err)
			}
			if len(evs) != 1 || evs[0].Key != long.Key || !evs[0].Until.Equal(long.Until.Truncate(time.Microsecond)) {
				t.Fatalf("a starting instance loads %v, want only the long event", evs)
			}
		})
	}
}

// TestPurgeKeepsTheNewestEntry: in a quiet feed every watcher's cursor is
// the newest entry. The purge keeps it, ended or not, so that those
// cursors stay valid and the watchers do not all load every active event
// again once the entry is older than the feed's window.
func TestPurgeKeepsTheNewestEntry(t *testing.T) {
	ctx := context.Background()
	s, prefix := newStore(t)
	raw := rawClient(t)
	now := time.Now()
	for _, key := range []string{"older", "newest"} {
		if err := s.PublishRevocation(ctx, revocation.Event{Kind: revocation.KindSession, Key: key, Until: now.Add(time.Hour)}); err != nil {
			t.Fatalf("PublishRevocation: %v", err)
		}
	}
	_, cursor, err := s.Revocations(ctx, "", now, 0)
	if err != nil {
		t.Fatalf("Revocations: %v", err)
	}
	purgeAt := now.Add(24 * time.Hour)
	n, err := s.DeleteExpiredRevocations(ctx, purgeAt)
	if err != nil {
		t.Fatalf("DeleteExpiredRevocations: %v", err)
	}
	left, err := raw.XRange(ctx, prefix+"{rev}:stream", "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE: %v", err)
	}
	if n != 1 || len(left) != 1 || left[0].ID != cursor {
		t.Fatalf("purge removed %d and left %v; want 1 removed and only the newest entry %s", n, left, cursor)
	}
}

// TestCheckURLIsWhatOpenAccepts: CheckURL, which config check applies to
// redis.url and sessions.store, accepts exactly the URLs Open accepts; a
// query parameter go-redis does not read (?password=, a misspelt option),
// a value it cannot read, a Sentinel URL with a query or a database that is
// not a number are refused by both, as auth.ErrInvalidInput without the
// password.
func TestCheckURLIsWhatOpenAccepts(t *testing.T) {
	sentinel := "redis-sentinel://:s3cret-pw@" + strings.Join(redistest.SentinelAddrs, ",") + "/" + redistest.SentinelMaster
	tests := []struct {
		url string
		ok  bool
	}{
		{"redis://:s3cret-pw@127.0.0.1:6379/0", true},
		{"rediss://:s3cret-pw@127.0.0.1:6379/0?dial_timeout=3s&skip_verify=true", true},
		{"redis://:s3cret-pw@127.0.0.1:6379/0?client_name=gh@eu", true},
		{sentinel, true},
		{sentinel + "/1", true},
		{"redis://127.0.0.1:6379/0?password=s3cret-pw", false},
		{"redis://:s3cret-pw@127.0.0.1:6379/0?timeout=1s", false},
		{"redis://:s3cret-pw@127.0.0.1:6379/0?dial_timeout=soon", false},
		{"redis://:s3cret-pw@127.0.0.1:6379/zero", false},
		{"redis://:s3cret-pw@127.0.0.1:6379/0/1", false},
		{"redis://:s3cret/pw@127.0.0.1:6379/0", false},
		{sentinel + "?dial_timeout=1s", false},
		{sentinel + "/0?db=1", false},
		{sentinel + "/zero", false},
		{sentinel + "#x", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			checkErr := redis.CheckURL(tt.url)
			s, openErr := redis.Open(context.Background(), tt.url)
			if openErr == nil {
				t.Cleanup(func() { _ = s.Close() })
			}
			for name, err := range map[string]error{"CheckURL": checkErr, "Open": openErr} {
				switch {
				case tt.ok && err != nil:
					t.Errorf("%s = %v, want nil", name, err)
				case !tt.ok && !errors.Is(err, auth.ErrInvalidInput):
					t.Errorf("%s = %v, want auth.ErrInvalidInput", name, err)
				case err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "open redis")):
					t.Errorf("%s error %q shows the password, or says open redis (its caller does)", name, err)
				}
			}
		})
	}
}
