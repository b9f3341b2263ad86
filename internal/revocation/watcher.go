package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Watcher defaults.
const (
	DefaultPollInterval = 500 * time.Millisecond
	DefaultWait         = time.Second
	DefaultStaleAfter   = 3 * time.Second

	minBackoff    = 100 * time.Millisecond
	maxBackoff    = 2 * time.Second
	pruneInterval = time.Minute
)

// Watcher follows a Store's revocation feed and answers Revoked from
// memory while it is Fresh. Create it with NewWatcher, register OnEvent
// hooks, then start Run in its own goroutine.
type Watcher struct {
	store      Store
	now        func() time.Time
	poll       time.Duration
	wait       time.Duration
	staleAfter time.Duration
	log        *slog.Logger

	running atomic.Bool

	// Readers (Revoked and Fresh, on every token and session request) only
	// load: no lock, no shared write, so requests on different cores do not
	// contend for a reader count (an RWMutex's RLock cost each token request
	// three contended atomic round trips; issue 15).
	revoked  sync.Map     // eventKey → time.Time: the longest Until per kind/key
	born     time.Time    // the monotonic base of syncedAt
	syncedAt atomic.Int64 // monotonic nanoseconds from born to the last successful read, plus 1; 0 = never
	lost     atomic.Bool  // the latest read failed: untrusted until a read succeeds

	mu        sync.Mutex // serializes writers: applying events, pruning, hooks
	hooks     []func(Event)
	lastPrune time.Time
}

type eventKey struct{ kind, key string }

// WatcherOption configures a Watcher.
type WatcherOption func(*Watcher)

// WithClock sets the clock that decides whether an event is still active
// (default time.Now). Freshness is always measured on the real monotonic
// clock, so a frozen test clock cannot make a dead feed look fresh.
func WithClock(now func() time.Time) WatcherOption { return func(w *Watcher) { w.now = now } }

// WithPollInterval sets the pause between reads when the store returns at
// once with nothing new (SQL stores; default DefaultPollInterval).
func WithPollInterval(d time.Duration) WatcherOption { return func(w *Watcher) { w.poll = d } }

// WithWait sets how long one read may block waiting for an event (Redis;
// default DefaultWait). Keep it well below StaleAfter.
func WithWait(d time.Duration) WatcherOption { return func(w *Watcher) { w.wait = d } }

// WithStaleAfter sets how long after the last successful read the watcher
// stops trusting its memory (default DefaultStaleAfter).
func WithStaleAfter(d time.Duration) WatcherOption { return func(w *Watcher) { w.staleAfter = d } }

// WithLogger sets where feed failures and recoveries are logged (default:
// nowhere).
func WithLogger(l *slog.Logger) WatcherOption { return func(w *Watcher) { w.log = l } }

// NewWatcher returns a Watcher over store. It knows nothing and is not
// Fresh until Run has loaded the feed; until then Revoked asks the store.
func NewWatcher(store Store, opts ...WatcherOption) *Watcher {
	w := &Watcher{
		store:      store,
		now:        time.Now,
		poll:       DefaultPollInterval,
		wait:       DefaultWait,
		staleAfter: DefaultStaleAfter,
		log:        slog.New(slog.DiscardHandler),
		born:       time.Now(),
	}
	for _, opt := range opts {
		opt(w)
	}
	return w
}

// OnEvent registers fn to be called with every event the watcher learns
// of, from the feed or from Publish, so that caches can drop what it
// revokes. fn may be called more than once for one event and must be quick.
// Register hooks before Run.
func (w *Watcher) OnEvent(fn func(Event)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hooks = append(w.hooks, fn)
}

// Run loads every active event, then follows the feed until ctx ends, when
// it returns nil. Store errors never stop it: it retries with backoff
// (100 ms doubling to 2 s), not Fresh meanwhile, and resumes from its last
// cursor so that it catches up on what it missed.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("revocation watcher: Run called twice")
	}
	defer w.running.Store(false)

	var (
		cursor  string
		backoff time.Duration
	)
	for ctx.Err() == nil {
		initial, wait := cursor == "", w.wait
		if initial {
			wait = 0 // the initial load must not block
		}
		started := time.Now()
		evs, next, err := w.store.Revocations(ctx, cursor, w.now(), wait)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			backoff = w.failed(err, backoff)
			sleep(ctx, backoff)
			continue
		}
		if backoff > 0 {
			w.log.Info("revocation feed recovered")
			backoff = 0
		}
		w.synced(evs)
		cursor = next
		blocked := wait > 0 && time.Since(started) >= wait/2
		if len(evs) == 0 && !blocked && !initial {
			sleep(ctx, w.poll) // the store returned at once: poll, don't spin
		}
	}
	return nil
}

// failed logs a feed failure (once per outage at warn level) and returns
// the next backoff.
func (w *Watcher) failed(err error, backoff time.Duration) time.Duration {
	// A lost feed untrusts the caches at once, not StaleAfter later: an event
	// may be waiting on the other side of the broken connection.
	w.lost.Store(true)
	if backoff == 0 {
		w.log.Warn("revocation feed unavailable; caches untrusted until it returns", "error", err.Error())
		return minBackoff
	}
	w.log.Debug("revocation feed still unavailable", "error", err.Error())
	return min(2*backoff, maxBackoff)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// synced records a successful read and applies its events. The events
// are in the map, and the hooks have dropped what they revoke from the
// caches, before the watcher says it is fresh again: a reader that sees it
// fresh after an outage also sees what the outage held back, and a cache
// owner that trusts its cache while Fresh no longer holds a session the
// outage revoked. The read counts from when it returned, so hooks slower
// than StaleAfter leave the watcher stale until the next read.
func (w *Watcher) synced(evs []Event) {
	read := int64(time.Since(w.born)) + 1
	now := w.now()
	w.mu.Lock()
	for _, ev := range evs {
		w.applyLocked(ev, now)
	}
	if now.Sub(w.lastPrune) >= pruneInterval {
		w.pruneLocked(now)
	}
	hooks := w.hooks
	w.mu.Unlock()
	for _, ev := range evs {
		for _, fn := range hooks {
			fn(ev)
		}
	}
	w.syncedAt.Store(read)
	w.lost.Store(false)
}

func (w *Watcher) applyLocked(ev Event, now time.Time) {
	k := eventKey{ev.Kind, ev.Key}
	if ev.Until.After(now) && ev.Until.After(w.until(k)) {
		w.revoked.Store(k, ev.Until)
	}
}

// until is the Until held for k, the zero time when none is.
func (w *Watcher) until(k eventKey) time.Time {
	v, _ := w.revoked.Load(k)
	t, _ := v.(time.Time)
	return t
}

// pruneLocked drops events that are no longer active.
func (w *Watcher) pruneLocked(now time.Time) {
	w.lastPrune = now
	w.revoked.Range(func(k, v any) bool {
		if !v.(time.Time).After(now) {
			w.revoked.Delete(k)
		}
		return true
	})
}

// PurgeExpired deletes the events whose Until has passed from the store and
// returns how many it deleted. The serve command calls it periodically.
func (w *Watcher) PurgeExpired(ctx context.Context) (int, error) {
	n, err := w.store.DeleteExpiredRevocations(ctx, w.now())
	if err != nil {
		return 0, fmt.Errorf("purge expired revocations: %w", err)
	}
	return n, nil
}

// Publish records ev in the store, so that every instance hears of it, and
// applies it here at once, so that this instance never waits for its own
// event. It applies ev locally even when the store fails; the error then
// says that other instances may not know of it.
func (w *Watcher) Publish(ctx context.Context, ev Event) error {
	err := w.store.PublishRevocation(ctx, ev)
	w.mu.Lock()
	w.applyLocked(ev, w.now())
	hooks := w.hooks
	w.mu.Unlock()
	for _, fn := range hooks {
		fn(ev)
	}
	if err != nil {
		return fmt.Errorf("publish revocation: %w", unavailable(err))
	}
	return nil
}

// Revoked reports whether an event of kind with key is active. A revocation
// held in memory is always believed; "not revoked" is answered from memory
// only while the watcher is Fresh, and otherwise by the store, so that a
// watcher cut off from the feed returns a wrapped auth.ErrUnavailable
// rather than a stale "not revoked".
func (w *Watcher) Revoked(ctx context.Context, kind, key string) (bool, error) {
	// Freshness first: a watcher fresh again after an outage has applied
	// the events it missed (synced), so the lookup below sees them.
	fresh := w.Fresh()
	// The clock is read only when an answer needs it: the common case (not
	// revoked, feed fresh) runs once or twice on every token request.
	if until := w.until(eventKey{kind, key}); !until.IsZero() && until.After(w.now()) {
		return true, nil
	}
	if fresh {
		return false, nil
	}
	revoked, err := w.store.Revoked(ctx, kind, key, w.now())
	if err != nil {
		// The store's error names the operation ("check revocation: …");
		// this says why the store was asked at all.
		return false, fmt.Errorf("revocation feed not fresh: %w", unavailable(err))
	}
	return revoked, nil
}

// Fresh reports whether the last successful read of the feed is at most
// StaleAfter old and its events have been through the OnEvent hooks. Cache
// owners treat their caches as untrusted while it is false.
func (w *Watcher) Fresh() bool {
	last := w.syncedAt.Load()
	return !w.lost.Load() && last != 0 && int64(time.Since(w.born))+1-last <= int64(w.staleAfter)
}

// lastSync is when the feed was last read, the zero time when never.
func (w *Watcher) lastSync() time.Time {
	last := w.syncedAt.Load()
	if last == 0 {
		return time.Time{}
	}
	return w.born.Add(time.Duration(last - 1))
}

// Ready returns nil while the watcher is Fresh, else a wrapped
// auth.ErrUnavailable naming the revocation store, for /readyz.
func (w *Watcher) Ready(context.Context) error {
	fresh, last := w.Fresh(), w.lastSync()
	switch {
	case fresh:
		return nil
	case last.IsZero():
		return fmt.Errorf("revocation store: feed not loaded yet: %w", auth.ErrUnavailable)
	default:
		return fmt.Errorf("revocation store: no answer for %s: %w", time.Since(last).Round(time.Millisecond), auth.ErrUnavailable)
	}
}

// unavailable makes sure a store failure reads as auth.ErrUnavailable, so
// that callers fail closed even if a store forgot to wrap it.
func unavailable(err error) error {
	if errors.Is(err, auth.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
}
