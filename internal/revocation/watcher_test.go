package revocation_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// backend returns two handles on one shared store, as two instances would
// hold them.
type backend struct {
	name   string
	shared func(t *testing.T) (revocation.Store, revocation.Store)
}

var backends = []backend{
	{"Memory", func(t *testing.T) (revocation.Store, revocation.Store) {
		s := memory.New()
		return s, s
	}},
	{"Redis", func(t *testing.T) (revocation.Store, revocation.Store) {
		url, prefix := redistest.New(t)
		return openRedis(t, url, prefix), openRedis(t, url, prefix)
	}},
}

func openRedis(t *testing.T, url, prefix string) *redis.Store {
	t.Helper()
	s, err := redis.Open(context.Background(), url, redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatalf("redis.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// run starts w.Run and stops it at cleanup, failing the test if Run does
// not return once its context ends.
func run(t testing.TB, w *revocation.Watcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

func revoked(t *testing.T, w *revocation.Watcher, kind, key string) bool {
	t.Helper()
	got, err := w.Revoked(context.Background(), kind, key)
	if err != nil {
		t.Fatalf("Revoked(%s, %s): %v", kind, key, err)
	}
	return got
}

// recorder collects the events an OnEvent hook receives.
type recorder struct {
	mu  sync.Mutex
	evs []revocation.Event
}

func (r *recorder) hook(ev revocation.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

func (r *recorder) saw(kind, key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.evs {
		if ev.Kind == kind && ev.Key == key {
			return true
		}
	}
	return false
}

// TestWatcherSpreadsRevocationToOtherInstance: a revocation published on
// one instance denies at once there, and reaches the other instance's
// Revoked and OnEvent hooks.
func TestWatcherSpreadsRevocationToOtherInstance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			storeA, storeB := b.shared(t)
			a := revocation.NewWatcher(storeA)
			bw := revocation.NewWatcher(storeB)
			var seen recorder
			bw.OnEvent(seen.hook)
			run(t, a)
			run(t, bw)
			clocktest.Eventually(t, "both watchers are fresh", func() bool { return a.Fresh() && bw.Fresh() })

			if revoked(t, bw, revocation.KindSession, "sess-1") {
				t.Fatal("Revoked before any publish = true")
			}
			ev := revocation.Event{Kind: revocation.KindSession, Key: "sess-1", Until: time.Now().Add(time.Hour)}
			if err := a.Publish(context.Background(), ev); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if !revoked(t, a, ev.Kind, ev.Key) {
				t.Fatal("publishing instance: Revoked right after Publish = false")
			}
			clocktest.Eventually(t, "the other instance sees the revocation", func() bool {
				return revoked(t, bw, ev.Kind, ev.Key) && seen.saw(ev.Kind, ev.Key)
			})
			if revoked(t, bw, revocation.KindSession, "sess-2") {
				t.Fatal("other instance: an unrelated session is revoked")
			}
		})
	}
}

// TestWatcherLoadsActiveEventsAtStart: a watcher started after events were
// published knows the active ones and calls its hooks for them.
func TestWatcherLoadsActiveEventsAtStart(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			store, _ := b.shared(t)
			ev := revocation.Event{Kind: revocation.KindJTI, Key: "jti-1", Until: time.Now().Add(time.Hour)}
			if err := store.PublishRevocation(context.Background(), ev); err != nil {
				t.Fatalf("PublishRevocation: %v", err)
			}
			w := revocation.NewWatcher(store)
			var seen recorder
			w.OnEvent(seen.hook)
			run(t, w)
			clocktest.Eventually(t, "the watcher is fresh", w.Fresh)
			if !revoked(t, w, ev.Kind, ev.Key) {
				t.Fatal("Revoked(event published before start) = false")
			}
			if !seen.saw(ev.Kind, ev.Key) {
				t.Fatal("OnEvent hook not called for an event loaded at start")
			}
		})
	}
}

// TestWatcherForgetsEventsAfterUntil: once Until passes (injected clock),
// the credential is no longer denied.
func TestWatcherForgetsEventsAfterUntil(t *testing.T) {
	var (
		mu  sync.Mutex
		now = time.Now()
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	w := revocation.NewWatcher(memory.New(), revocation.WithClock(clock))
	run(t, w)
	clocktest.Eventually(t, "the watcher is fresh", w.Fresh)

	ev := revocation.Event{Kind: revocation.KindSID, Key: "family-1", Until: clock().Add(time.Minute)}
	if err := w.Publish(context.Background(), ev); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if !revoked(t, w, ev.Kind, ev.Key) {
		t.Fatal("Revoked before Until = false")
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if revoked(t, w, ev.Kind, ev.Key) {
		t.Fatal("Revoked after Until = true")
	}
}

// TestWatcherAsksStoreUntilLoaded: before Run has loaded the feed, Revoked
// is answered by the store, not by empty memory.
func TestWatcherAsksStoreUntilLoaded(t *testing.T) {
	store := memory.New()
	ev := revocation.Event{Kind: revocation.KindUser, Key: "user-1", Until: time.Now().Add(time.Hour)}
	if err := store.PublishRevocation(context.Background(), ev); err != nil {
		t.Fatalf("PublishRevocation: %v", err)
	}
	w := revocation.NewWatcher(store)
	if w.Fresh() {
		t.Fatal("Fresh before Run = true")
	}
	if !revoked(t, w, ev.Kind, ev.Key) {
		t.Fatal("Revoked before Run = false, want the store's answer (true)")
	}
}

// TestWatcherOnDeadStoreFailsClosed: with Redis unreachable the watcher is
// never fresh, Revoked and Ready fail with auth.ErrUnavailable, and Publish
// still denies locally while reporting the failure.
func TestWatcherOnDeadStoreFailsClosed(t *testing.T) {
	ctx := context.Background()
	dead := openRedis(t, "redis://127.0.0.1:1/0", "gatehouse-test:dead:")
	w := revocation.NewWatcher(dead, revocation.WithWait(100*time.Millisecond))
	run(t, w)

	if w.Fresh() {
		t.Fatal("Fresh with a dead store = true")
	}
	_, err := w.Revoked(ctx, revocation.KindJTI, "jti-1")
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Revoked error = %v, want auth.ErrUnavailable", err)
	}
	// The operator reads this in the log: the operation named once, and why
	// the store was asked.
	if msg := err.Error(); strings.Count(msg, "check revocation") != 1 || !strings.Contains(msg, "revocation feed not fresh") {
		t.Errorf("Revoked error = %q, want the operation named once and the stale feed named", msg)
	}
	if err := w.Ready(ctx); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Ready error = %v, want auth.ErrUnavailable", err)
	}
	ev := revocation.Event{Kind: revocation.KindJTI, Key: "jti-2", Until: time.Now().Add(time.Hour)}
	if err := w.Publish(ctx, ev); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Publish error = %v, want auth.ErrUnavailable", err)
	}
	if !revoked(t, w, ev.Kind, ev.Key) {
		t.Fatal("Revoked after a failed Publish = false, want this instance to deny anyway")
	}
}

// TestWatcherRecoversWhenRedisReturns: Redis goes away behind a proxy and
// comes back; the watcher turns stale, fails closed, then becomes fresh
// again without a restart and catches up on the revocation it missed.
func TestWatcherRecoversWhenRedisReturns(t *testing.T) {
	ctx := context.Background()
	proxy := redistest.NewProxy(t)
	url, prefix := redistest.New(t)
	direct := openRedis(t, url, prefix)
	viaProxy := openRedis(t, proxy.URL(), prefix)

	w := revocation.NewWatcher(viaProxy,
		revocation.WithWait(100*time.Millisecond),
		revocation.WithStaleAfter(500*time.Millisecond))
	var seen recorder
	w.OnEvent(seen.hook)
	run(t, w)
	clocktest.Eventually(t, "the watcher is fresh", w.Fresh)

	proxy.Stop()
	clocktest.Eventually(t, "the watcher turns stale", func() bool { return !w.Fresh() })
	if _, err := w.Revoked(ctx, revocation.KindSession, "sess-1"); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Revoked while Redis is away: error = %v, want auth.ErrUnavailable", err)
	}
	if err := w.Ready(ctx); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Ready while Redis is away: error = %v, want auth.ErrUnavailable", err)
	}

	// Another instance revokes a session during the outage.
	missed := revocation.Event{Kind: revocation.KindSession, Key: "sess-1", Until: time.Now().Add(time.Hour)}
	if err := direct.PublishRevocation(ctx, missed); err != nil {
		t.Fatalf("PublishRevocation: %v", err)
	}

	proxy.Start()
	clocktest.Eventually(t, "the watcher is fresh again", w.Fresh)
	// Fresh again means the events the outage held back are applied: a
	// request checked at once must not get a stale "not revoked".
	if !revoked(t, w, missed.Kind, missed.Key) {
		t.Fatal("Revoked(missed event) as soon as the watcher is fresh again = false")
	}
	clocktest.Eventually(t, "the missed revocation reaches the hooks", func() bool { return seen.saw(missed.Kind, missed.Key) })
	if err := w.Ready(ctx); err != nil {
		t.Fatalf("Ready after recovery: %v", err)
	}
}

// After an outage the watcher is fresh again only once its hooks have
// applied what it missed: a cache owner trusts its cache while Fresh, so a
// session revoked during the outage, still cached until its hook drops it,
// must not be served in between. Before, the watcher said it was fresh
// before running the hooks, and a slow hook for an earlier event (a key
// reload) left the revoked session served from the cache meanwhile.
func TestWatcherIsFreshOnlyAfterItsHooksRan(t *testing.T) {
	ctx := context.Background()
	proxy := redistest.NewProxy(t)
	url, prefix := redistest.New(t)
	direct := openRedis(t, url, prefix)
	w := revocation.NewWatcher(openRedis(t, proxy.URL(), prefix),
		revocation.WithWait(100*time.Millisecond), revocation.WithStaleAfter(time.Hour))

	// A session cache as the Authenticator keeps it: trusted while Fresh,
	// emptied of a session by its event's hook.
	var mu sync.Mutex
	cached := map[string]bool{"sess-1": true}
	served := func(id string) bool {
		mu.Lock()
		defer mu.Unlock()
		return w.Fresh() && cached[id]
	}
	reached, release := make(chan struct{}), make(chan struct{})
	w.OnEvent(func(ev revocation.Event) {
		if ev.Kind == revocation.KindKeys {
			close(reached)
			<-release // a slow hook: keys reloaded from the store
		}
	})
	w.OnEvent(func(ev revocation.Event) {
		if ev.Kind == revocation.KindSession {
			mu.Lock()
			delete(cached, ev.Key)
			mu.Unlock()
		}
	})
	run(t, w)
	clocktest.Eventually(t, "the watcher is fresh", w.Fresh)

	proxy.Stop()
	clocktest.Eventually(t, "the watcher turns stale", func() bool { return !w.Fresh() })
	until := time.Now().Add(time.Hour)
	for _, ev := range []revocation.Event{{Kind: revocation.KindKeys, Until: until}, {Kind: revocation.KindSession, Key: "sess-1", Until: until}} {
		if err := direct.PublishRevocation(ctx, ev); err != nil {
			t.Fatalf("PublishRevocation: %v", err)
		}
	}
	proxy.Start()
	<-reached
	if served("sess-1") {
		t.Error("a session revoked during the outage was served from the cache before its hook ran")
	}
	close(release)
	clocktest.Eventually(t, "the watcher is fresh again", w.Fresh)
	if served("sess-1") {
		t.Error("a session revoked during the outage was served from the cache after the watcher caught up")
	}
}

// Losing the feed must untrust the caches at once, not StaleAfter later:
// an event may be waiting behind the broken connection.
func TestWatcherUntrustsCachesAsSoonAsTheFeedBreaks(t *testing.T) {
	proxy := redistest.NewProxy(t)
	_, prefix := redistest.New(t)
	w := revocation.NewWatcher(openRedis(t, proxy.URL(), prefix),
		revocation.WithWait(time.Minute), // a long blocking read is in flight when the link drops
		revocation.WithStaleAfter(time.Hour))
	run(t, w)
	clocktest.Eventually(t, "the watcher is fresh", w.Fresh)
	proxy.Stop()
	clocktest.Eventually(t, "the watcher untrusts its state long before StaleAfter", func() bool { return !w.Fresh() })
}

// BenchmarkRevokedParallel is the deny-list check of a token cache hit
// (Fresh, then the jti and sid lookups) on every core at once, with 10,000
// active revocations held. The check takes no lock and writes nothing
// shared, so adding cores does not make it dearer per check (compare
// -cpu 1,2: with an RWMutex, two cores cost 2.5–3× the CPU of one; issue 15).
func BenchmarkRevokedParallel(b *testing.B) {
	w := revocation.NewWatcher(memory.New())
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	for i := range 10_000 {
		if err := w.Publish(ctx, revocation.Event{Kind: revocation.KindJTI, Key: strconv.Itoa(i), Until: until}); err != nil {
			b.Fatal(err)
		}
	}
	run(b, w)
	clocktest.Eventually(b, "the watcher is fresh", w.Fresh)
	b.ReportAllocs()
	// Publishing 10,000 events and waiting for the watcher is set-up: with a
	// short -benchtime (300x) it would be most of ns/op and allocs/op.
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			jti, err1 := w.Revoked(ctx, revocation.KindJTI, "not-revoked")
			sid, err2 := w.Revoked(ctx, revocation.KindSID, "not-revoked")
			if !w.Fresh() || jti || sid || err1 != nil || err2 != nil {
				b.Errorf("fresh %v, revoked %v %v, errors %v %v", w.Fresh(), jti, sid, err1, err2)
				return
			}
		}
	})
	if r, err := w.Revoked(ctx, revocation.KindJTI, "42"); !r || err != nil {
		b.Errorf("Revoked(jti 42) = %v, %v; want true", r, err)
	}
}

// TestDuplicatedRevocationIsHarmless: Redis appended a revocation to the
// feed, but the connection died before the answer came back, and go-redis
// sent the publish again: the feed holds the event twice. That is
// harmless, so the publish is not sent once: a watcher keeps the longest
// Until per kind and key, so the copy neither extends nor shortens the
// revocation, and its hooks (dropping cached sessions and tokens, ending a
// session's apps) redo what is done already, as for the events every
// instance replays at start.
func TestDuplicatedRevocationIsHarmless(t *testing.T) {
	ctx := context.Background()
	_, prefix := redistest.New(t)
	proxy := redistest.NewProxy(t)
	publisher := openRedis(t, proxy.URL(), prefix)
	now := time.Now()
	ev := revocation.Event{Kind: revocation.KindSession, Key: "sess-1", Until: now.Add(time.Hour).Truncate(time.Microsecond)}
	proxy.LoseAnswerTo("XADD") // the publish script's, not a connection's handshake
	if err := publisher.PublishRevocation(ctx, ev); err != nil {
		t.Fatalf("PublishRevocation after a lost answer: %v", err)
	}
	if !proxy.AnswerLost() {
		t.Fatal("no answer was lost")
	}
	store := openRedis(t, redistest.URL, prefix)
	feed, _, err := store.Revocations(ctx, "", now, 0)
	if err != nil {
		t.Fatalf("Revocations: %v", err)
	}
	same := func(got revocation.Event) bool {
		return got.Kind == ev.Kind && got.Key == ev.Key && got.Until.Equal(ev.Until)
	}
	if len(feed) != 2 || !same(feed[0]) || !same(feed[1]) {
		t.Fatalf("feed = %v, want the event twice", feed)
	}

	var (
		mu    sync.Mutex
		clock = now
	)
	w := revocation.NewWatcher(store, revocation.WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }))
	var seen recorder
	w.OnEvent(seen.hook)
	run(t, w)
	clocktest.Eventually(t, "the watcher is fresh", w.Fresh)
	if !revoked(t, w, ev.Kind, ev.Key) || !seen.saw(ev.Kind, ev.Key) {
		t.Fatal("the duplicated event is not applied")
	}
	mu.Lock()
	clock = ev.Until
	mu.Unlock()
	if revoked(t, w, ev.Kind, ev.Key) {
		t.Fatal("Revoked at Until = true: the copy extended the revocation")
	}
	if got, err := store.Revoked(ctx, ev.Kind, ev.Key, ev.Until.Add(-time.Microsecond)); err != nil || !got {
		t.Fatalf("store's Revoked just before Until = %v, %v; want true", got, err)
	}
}
