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

	mu        sync.RWMutex
	revoked   map[eventKey]time.Time // longest Until per kind/key
	hooks     []func(Event)
	lastSync  time.Time // wall clock with monotonic reading, never the injected clock
	lost      bool      // the latest read failed: untrusted until a read succeeds
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
		revoked:    make(map[eventKey]time.Time),
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
	w.mu.Lock()
	w.lost = true
	w.mu.Unlock()
	if backoff == 0 {
		w.log.Warn("revocation feed unavailable; caches untrusted until it returns", "err", err)
		return minBackoff
	}
	w.log.Debug("revocation feed still unavailable", "err", err)
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

// synced records a successful read and applies its events.
func (w *Watcher) synced(evs []Event) {
	now := w.now()
	w.mu.Lock()
	w.lastSync = time.Now()
	w.lost = false
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
}

func (w *Watcher) applyLocked(ev Event, now time.Time) {
	k := eventKey{ev.Kind, ev.Key}
	if ev.Until.After(now) && ev.Until.After(w.revoked[k]) {
		w.revoked[k] = ev.Until
	}
}

// pruneLocked drops events that are no longer active.
func (w *Watcher) pruneLocked(now time.Time) {
	w.lastPrune = now
	for k, until := range w.revoked {
		if !until.After(now) {
			delete(w.revoked, k)
		}
	}
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
	now := w.now()
	w.mu.RLock()
	until, ok := w.revoked[eventKey{kind, key}]
	fresh := w.freshLocked()
	w.mu.RUnlock()
	if ok && until.After(now) {
		return true, nil
	}
	if fresh {
		return false, nil
	}
	revoked, err := w.store.Revoked(ctx, kind, key, now)
	if err != nil {
		return false, fmt.Errorf("check revocation: %w", unavailable(err))
	}
	return revoked, nil
}

// Fresh reports whether the last successful read of the feed is at most
// StaleAfter old. Cache owners treat their caches as untrusted while it is
// false.
func (w *Watcher) Fresh() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.freshLocked()
}

func (w *Watcher) freshLocked() bool {
	return !w.lost && !w.lastSync.IsZero() && time.Since(w.lastSync) <= w.staleAfter
}

// Ready returns nil while the watcher is Fresh, else a wrapped
// auth.ErrUnavailable naming the revocation store, for /readyz.
func (w *Watcher) Ready(context.Context) error {
	w.mu.RLock()
	last, fresh := w.lastSync, w.freshLocked()
	w.mu.RUnlock()
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
