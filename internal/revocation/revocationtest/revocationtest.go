package revocationtest

import (
	"context"
	"fmt"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/revocation"
)

// RunStoreTests runs the revocation.Store conformance suite. newStore must
// return an empty store of its own (a fresh file, schema or key prefix) and
// register its cleanup with t.Cleanup.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) revocation.Store) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[revocation.Store]{
		{Name: "RevokedOnlyForKindAndKeyUntilUntil", Run: testRevoked},
		{Name: "LongestUntilWins", Run: testLongestUntilWins},
		{Name: "InitialLoadReturnsActiveEventsInOrder", Run: testInitialLoad},
		{Name: "CursorFollowsNewEventsOnce", Run: testCursor},
		{Name: "CursorFromEmptyStoreSeesFirstEvent", Run: testEmptyCursor},
		{Name: "DeleteExpiredRevocationsPurgesPastUntil", Run: testDeleteExpired},
		{Name: "ConcurrentPublishesAllArrive", Run: testConcurrentPublish},
		{Name: "RevokedJudgedByTheCallersClock", Run: testCallersClock},
		{Name: "PurgeIsNotHeldBackByALongerEarlierEvent", Run: testPurgeBehindALongEvent},
		{Name: "PurgeWhilePublishingKeepsEveryActiveEvent", Run: testPurgeWhilePublishing},
	})
}

// base is a wall-clock time that every event is relative to; events must
// end in the future of the real clock for stores that expire in real time.
func base() time.Time { return time.Now().Truncate(time.Millisecond) }

func publish(t *testing.T, s revocation.Store, evs ...revocation.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := s.PublishRevocation(context.Background(), ev); err != nil {
			t.Fatalf("PublishRevocation(%s): %v", ev.Kind, err)
		}
	}
}

func revocations(t *testing.T, s revocation.Store, cursor string, now time.Time) ([]revocation.Event, string) {
	t.Helper()
	evs, next, err := s.Revocations(context.Background(), cursor, now, 0)
	if err != nil {
		t.Fatalf("Revocations(%q): %v", cursor, err)
	}
	if next == "" {
		t.Fatalf("Revocations(%q) returned cursor \"\", which would restart from scratch", cursor)
	}
	return evs, next
}

func assertEvents(t *testing.T, got, want []revocation.Event) {
	t.Helper()
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		same = got[i].Kind == want[i].Kind && got[i].Key == want[i].Key && got[i].Until.Equal(want[i].Until)
	}
	if !same {
		t.Fatalf("events = %s, want %s", format(got), format(want))
	}
}

func format(evs []revocation.Event) string {
	parts := make([]string, 0, len(evs))
	for _, ev := range evs {
		parts = append(parts, fmt.Sprintf("{%s %q %s}", ev.Kind, ev.Key, ev.Until.UTC().Format(time.RFC3339Nano)))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func testRevoked(t *testing.T, s revocation.Store) {
	now := base()
	until := now.Add(time.Hour)
	publish(t, s, revocation.Event{Kind: revocation.KindJTI, Key: "jti-1", Until: until})

	tests := []struct {
		name      string
		kind, key string
		at        time.Time
		want      bool
	}{
		{"SameKindAndKey", revocation.KindJTI, "jti-1", now, true},
		{"JustBeforeUntil", revocation.KindJTI, "jti-1", until.Add(-time.Millisecond), true},
		{"AfterUntil", revocation.KindJTI, "jti-1", until.Add(time.Second), false},
		{"OtherKey", revocation.KindJTI, "jti-2", now, false},
		{"OtherKindSameKey", revocation.KindSID, "jti-1", now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Revoked(context.Background(), tt.kind, tt.key, tt.at)
			if err != nil {
				t.Fatalf("Revoked: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Revoked(%s, %s) = %v, want %v", tt.kind, tt.key, got, tt.want)
			}
		})
	}
}

func testLongestUntilWins(t *testing.T, s revocation.Store) {
	now := base()
	publish(t, s,
		revocation.Event{Kind: revocation.KindSID, Key: "family-1", Until: now.Add(2 * time.Hour)},
		revocation.Event{Kind: revocation.KindSID, Key: "family-1", Until: now.Add(time.Hour)},
	)
	// A later, shorter revocation must not shorten the first one.
	got, err := s.Revoked(context.Background(), revocation.KindSID, "family-1", now.Add(90*time.Minute))
	if err != nil {
		t.Fatalf("Revoked: %v", err)
	}
	if !got {
		t.Fatal("Revoked after the shorter event's end = false, want true (the longer event still holds)")
	}
}

func testInitialLoad(t *testing.T, s revocation.Store) {
	now := base()
	short := revocation.Event{Kind: revocation.KindSession, Key: "sess-1", Until: now.Add(time.Hour)}
	long := revocation.Event{Kind: revocation.KindUser, Key: "user:1|x ✓", Until: now.Add(2 * time.Hour)}
	keys := revocation.Event{Kind: revocation.KindKeys, Key: "", Until: now.Add(3 * time.Hour)}
	publish(t, s, short, long, keys)

	tests := []struct {
		name string
		now  time.Time
		want []revocation.Event
	}{
		{"AllActive", now, []revocation.Event{short, long, keys}},
		{"FirstEnded", now.Add(90 * time.Minute), []revocation.Event{long, keys}},
		{"AllEnded", now.Add(4 * time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := revocations(t, s, "", tt.now)
			assertEvents(t, got, tt.want)
		})
	}
}

func testCursor(t *testing.T, s revocation.Store) {
	now := base()
	first := revocation.Event{Kind: revocation.KindJTI, Key: "jti-1", Until: now.Add(time.Hour)}
	publish(t, s, first)
	got, cursor := revocations(t, s, "", now)
	assertEvents(t, got, []revocation.Event{first})

	got, cursor = revocations(t, s, cursor, now)
	assertEvents(t, got, nil)

	second := revocation.Event{Kind: revocation.KindSID, Key: "family-1", Until: now.Add(time.Hour)}
	third := revocation.Event{Kind: revocation.KindSession, Key: "sess-1", Until: now.Add(2 * time.Hour)}
	publish(t, s, second, third)
	got, cursor = revocations(t, s, cursor, now)
	assertEvents(t, got, []revocation.Event{second, third})

	got, _ = revocations(t, s, cursor, now)
	assertEvents(t, got, nil)
}

func testEmptyCursor(t *testing.T, s revocation.Store) {
	now := base()
	got, cursor := revocations(t, s, "", now)
	assertEvents(t, got, nil)

	ev := revocation.Event{Kind: revocation.KindJTI, Key: "jti-1", Until: now.Add(time.Hour)}
	publish(t, s, ev)
	got, _ = revocations(t, s, cursor, now)
	assertEvents(t, got, []revocation.Event{ev})
}

func testDeleteExpired(t *testing.T, s revocation.Store) {
	ctx := context.Background()
	now := base()
	ended := revocation.Event{Kind: revocation.KindJTI, Key: "jti-1", Until: now.Add(time.Hour)}
	active := revocation.Event{Kind: revocation.KindJTI, Key: "jti-2", Until: now.Add(2 * time.Hour)}
	publish(t, s, ended, active)
	purgeAt := now.Add(90 * time.Minute)

	n, err := s.DeleteExpiredRevocations(ctx, purgeAt)
	if err != nil {
		t.Fatalf("DeleteExpiredRevocations: %v", err)
	}
	if got, want := n, 1; got != want {
		t.Errorf("DeleteExpiredRevocations removed %d, want %d", got, want)
	}
	// Even asked as of before its end, the purged event is gone.
	got, _ := revocations(t, s, "", now)
	assertEvents(t, got, []revocation.Event{active})

	revoked, err := s.Revoked(ctx, active.Kind, active.Key, purgeAt)
	if err != nil {
		t.Fatalf("Revoked: %v", err)
	}
	if !revoked {
		t.Fatal("Revoked(active event) after purge = false, want true")
	}

	n, err = s.DeleteExpiredRevocations(ctx, purgeAt)
	if err != nil {
		t.Fatalf("second DeleteExpiredRevocations: %v", err)
	}
	if got, want := n, 0; got != want {
		t.Errorf("second DeleteExpiredRevocations removed %d, want %d", got, want)
	}
}

func testConcurrentPublish(t *testing.T, s revocation.Store) {
	const workers = 10
	now := base()
	_, cursor := revocations(t, s, "", now)

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	want := make([]string, workers)
	for i := range workers {
		want[i] = fmt.Sprintf("jti-%02d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := revocation.Event{Kind: revocation.KindJTI, Key: want[i], Until: now.Add(time.Hour)}
			if err := s.PublishRevocation(context.Background(), ev); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("PublishRevocation: %v", errs)
	}

	initial, _ := revocations(t, s, "", now)
	followed, _ := revocations(t, s, cursor, now)
	for name, evs := range map[string][]revocation.Event{"initial load": initial, "cursor": followed} {
		got := make([]string, 0, len(evs))
		for _, ev := range evs {
			got = append(got, ev.Key)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s keys = %v, want each of %v once", name, got, want)
		}
	}
}

// testCallersClock: whether an event is active is judged by the caller's
// now, not by the store's own clock. An instance whose clock is behind the
// store's (here by a minute) still holds a token valid by its clock, so the
// revocation must still deny it there — also after the store's clock has
// passed Until.
func testCallersClock(t *testing.T, s revocation.Store) {
	now := base().Add(-time.Minute)
	ev := revocation.Event{Kind: revocation.KindJTI, Key: "jti-behind", Until: now.Add(30 * time.Second)}
	publish(t, s, ev)
	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"BeforeUntilByTheCallersClock", now, true},
		{"JustBeforeUntil", ev.Until.Add(-time.Millisecond), true},
		{"AfterUntil", ev.Until.Add(time.Millisecond), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Revoked(context.Background(), ev.Kind, ev.Key, tt.at)
			if err != nil {
				t.Fatalf("Revoked: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Revoked at Until%+v = %v, want %v", tt.at.Sub(ev.Until), got, tt.want)
			}
		})
	}
	got, _ := revocations(t, s, "", now)
	assertEvents(t, got, []revocation.Event{ev})
}

// testPurgeBehindALongEvent: one long revocation (a 30-day CLI token's sid,
// revoked by "user disable") must not keep every later, short one stored
// until it ends. Once they have ended they are purged; the long one is
// still loaded by a starting instance, still denies, and a watcher that
// read the feed before the purge still hears of what comes after it.
func testPurgeBehindALongEvent(t *testing.T, s revocation.Store) {
	ctx := context.Background()
	now := base()
	long := revocation.Event{Kind: revocation.KindSID, Key: "cli-family", Until: now.Add(30 * 24 * time.Hour)}
	publish(t, s, long)
	const short = 200
	for i := range short {
		publish(t, s, revocation.Event{Kind: revocation.KindJTI, Key: fmt.Sprintf("jti-%03d", i), Until: now.Add(10 * time.Minute)})
	}
	_, before := revocations(t, s, "", now)
	// A day later: past the short events' end and any catch-up window a
	// store keeps ended events for.
	purgeAt := now.Add(24 * time.Hour)

	n, err := s.DeleteExpiredRevocations(ctx, purgeAt)
	if err != nil {
		t.Fatalf("DeleteExpiredRevocations: %v", err)
	}
	if n != short {
		t.Errorf("DeleteExpiredRevocations removed %d events, want the %d that ended", n, short)
	}
	got, _ := revocations(t, s, "", purgeAt)
	assertEvents(t, got, []revocation.Event{long})
	revoked, err := s.Revoked(ctx, long.Kind, long.Key, purgeAt)
	if err != nil {
		t.Fatalf("Revoked: %v", err)
	}
	if !revoked {
		t.Fatal("Revoked(long event) after the purge = false, want true")
	}

	later := revocation.Event{Kind: revocation.KindSession, Key: "sess-later", Until: purgeAt.Add(time.Hour)}
	publish(t, s, later)
	followed, _ := revocations(t, s, before, purgeAt)
	if !slices.ContainsFunc(followed, func(ev revocation.Event) bool { return ev.Key == later.Key }) {
		t.Fatalf("events after a cursor read before the purge = %s, want %s among them", format(followed), format([]revocation.Event{later}))
	}
}

// testPurgeWhilePublishingKeepsEveryActiveEvent: purges running while
// events are published (every instance purges) never lose an active event:
// a starting instance loads each of them.
func testPurgeWhilePublishing(t *testing.T, s revocation.Store) {
	const (
		publishers = 4
		each       = 50
		purgers    = 2
	)
	ctx := context.Background()
	now := base()
	purgeAt := now.Add(24 * time.Hour) // past any catch-up window
	var (
		pub, purge sync.WaitGroup
		mu         sync.Mutex
		errs       []error
		done       = make(chan struct{})
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	var want []string
	for p := range publishers {
		for i := range each {
			want = append(want, fmt.Sprintf("jti-%d-%02d", p, i))
		}
		pub.Go(func() {
			for i := range each {
				ev := revocation.Event{Kind: revocation.KindJTI, Key: fmt.Sprintf("jti-%d-%02d", p, i), Until: purgeAt.Add(time.Hour)}
				if err := s.PublishRevocation(ctx, ev); err != nil {
					fail(err)
				}
			}
		})
	}
	for range purgers {
		purge.Go(func() {
			for {
				if _, err := s.DeleteExpiredRevocations(ctx, purgeAt); err != nil {
					fail(err)
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	pub.Wait()
	close(done)
	purge.Wait()
	if len(errs) > 0 {
		t.Fatalf("publish or purge: %v", errs)
	}
	evs, _ := revocations(t, s, "", purgeAt)
	seen := map[string]bool{}
	for _, ev := range evs {
		seen[ev.Key] = true
	}
	var missing []string
	for _, k := range want {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("a starting instance misses %d of %d active events after purges: %v", len(missing), len(want), missing)
	}
}
