package memory

import (
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/peers"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/throttle"
)

// Default bounds. They keep a flood of logins or failures from exhausting
// the process's memory.
const (
	DefaultMaxSessions     = 500_000
	DefaultMaxRevocations  = 200_000
	DefaultMaxThrottleKeys = 500_000
	DefaultPurgeInterval   = time.Minute
)

var (
	_ session.Store    = (*Store)(nil)
	_ revocation.Store = (*Store)(nil)
	_ throttle.Store   = (*Store)(nil)
)

// Store is an in-process session, revocation, throttle and peer store. The zero
// value is not usable; create one with New. It is safe for concurrent use.
type Store struct {
	now             func() time.Time
	maxSessions     int
	maxRevocations  int
	maxThrottleKeys int
	purgeInterval   time.Duration

	mu        sync.Mutex
	lastPurge time.Time

	sessions map[string]session.Record
	byUser   map[string]map[string]struct{}
	// sessionsGone is no later than when the first held session expires
	// (sweepGate): a store full of sessions sweeps them only from then.
	sessionsGone sweepGate

	events  []storedEvent // ordered by seq
	seq     uint64
	revoked map[revKey]time.Time // longest Until per kind/key
	notify  chan struct{}        // closed and replaced on every publish
	// eventsGone: likewise for the earliest Until of the stored events.
	eventsGone sweepGate

	failures map[string]*failureLog
	// failuresIdle: likewise for when the first held throttle key goes
	// idle (its latest failure leaves its window).
	failuresIdle sweepGate

	peers map[string]peers.Record // by ID; nil until the first PutPeer
}

type storedEvent struct {
	seq uint64
	ev  revocation.Event
}

type revKey struct{ kind, key string }

type failureLog struct {
	times  []time.Time // ascending as recorded
	window time.Duration
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used for self-purging (default time.Now). Calls
// that take an explicit now use that instead.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithMaxSessions bounds the number of sessions (default
// DefaultMaxSessions). When full, CreateSession sweeps the expired sessions
// only once one can have expired (the store tracks the earliest), and still
// full it fails with a wrapped auth.ErrUnavailable instead of evicting
// someone's live session.
func WithMaxSessions(n int) Option { return func(s *Store) { s.maxSessions = n } }

// WithMaxRevocations bounds the number of stored revocation events (default
// DefaultMaxRevocations). When full, PublishRevocation sweeps the expired
// events only once one can have expired (the store tracks the earliest),
// and still full it fails with a wrapped auth.ErrUnavailable: dropping a
// revocation would let a revoked credential through.
func WithMaxRevocations(n int) Option { return func(s *Store) { s.maxRevocations = n } }

// WithMaxThrottleKeys bounds the number of throttle keys (default
// DefaultMaxThrottleKeys). When full, AddFailure of a new key sweeps the
// idle keys only once one can be idle (the store tracks the earliest), and
// still full it fails with a wrapped auth.ErrUnavailable, so logins fail
// closed rather than unthrottled.
func WithMaxThrottleKeys(n int) Option { return func(s *Store) { s.maxThrottleKeys = n } }

// WithPurgeInterval sets how often writes sweep expired records (default
// DefaultPurgeInterval).
func WithPurgeInterval(d time.Duration) Option { return func(s *Store) { s.purgeInterval = d } }

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{
		now:             time.Now,
		maxSessions:     DefaultMaxSessions,
		maxRevocations:  DefaultMaxRevocations,
		maxThrottleKeys: DefaultMaxThrottleKeys,
		purgeInterval:   DefaultPurgeInterval,
		sessions:        make(map[string]session.Record),
		byUser:          make(map[string]map[string]struct{}),
		revoked:         make(map[revKey]time.Time),
		notify:          make(chan struct{}),
		failures:        make(map[string]*failureLog),
	}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// maybePurgeLocked sweeps every kind of expired record when the purge
// interval has passed since the last sweep. Callers hold s.mu.
func (s *Store) maybePurgeLocked() {
	now := s.now()
	if now.Sub(s.lastPurge) < s.purgeInterval {
		return
	}
	s.purgeLocked(now)
}

func (s *Store) purgeLocked(now time.Time) {
	s.lastPurge = now
	s.deleteExpiredSessionsLocked(now)
	s.deleteExpiredRevocationsLocked(now)
	s.deleteIdleFailuresLocked(now)
}

// sweepGate tracks when a sweep of a full map can first free a record, so
// that a flood of new records at the cap costs O(1) each instead of a sweep
// of every record (500,000 at the default cap) per request: the store
// sweeps only once the earliest held record can go, then notes the next.
type sweepGate struct {
	// next is no later than the earliest time a held record can go; zero:
	// unknown, sweep.
	next time.Time
	// sweeps counts the sweeps (tests).
	sweeps int
}

// due reports whether a sweep at now may free a record.
func (g *sweepGate) due(now time.Time) bool { return !now.Before(g.next) }

// note keeps next no later than gone, when a record added or changed can go.
func (g *sweepGate) note(gone time.Time) {
	if gone.Before(g.next) {
		g.next = gone
	}
}

// sweep starts a sweep; the sweep calls keep for each record it keeps.
func (g *sweepGate) sweep() {
	g.sweeps++
	g.next = time.Time{}
}

// keep records that a record kept by the sweep can go from gone.
func (g *sweepGate) keep(gone time.Time) {
	if g.next.IsZero() || gone.Before(g.next) {
		g.next = gone
	}
}

func full(what string, limit int) error {
	return fmt.Errorf("memory store: %s full (limit %d): %w", what, limit, auth.ErrUnavailable)
}
