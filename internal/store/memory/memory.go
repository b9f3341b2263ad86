package memory

import (
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
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
	// maxFailuresPerKey caps the timestamps kept per throttle key; counts
	// beyond it add nothing to a lock that is already at its cap.
	maxFailuresPerKey = 1024
)

var (
	_ session.Store    = (*Store)(nil)
	_ revocation.Store = (*Store)(nil)
	_ throttle.Store   = (*Store)(nil)
)

// Store is an in-process session, revocation and throttle store. The zero
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

	events  []storedEvent // ordered by seq
	seq     uint64
	revoked map[revKey]time.Time // longest Until per kind/key
	notify  chan struct{}        // closed and replaced on every publish

	failures map[string]*failureLog
	// failuresIdle is no later than the earliest time a held throttle key
	// goes idle (its latest failure leaves its window); zero: unknown.
	// A full store sweeps its throttle keys only from then, when a sweep
	// can free one: a flood at the cap costs O(1) per new key, not a
	// sweep of every key.
	failuresIdle time.Time
	// failureSweeps counts sweeps of the throttle keys (tests).
	failureSweeps int
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
// DefaultMaxSessions). When full after a purge, CreateSession fails with a
// wrapped auth.ErrUnavailable instead of evicting someone's live session.
func WithMaxSessions(n int) Option { return func(s *Store) { s.maxSessions = n } }

// WithMaxRevocations bounds the number of stored revocation events (default
// DefaultMaxRevocations). When full after a purge, PublishRevocation fails
// with a wrapped auth.ErrUnavailable: dropping a revocation would let a
// revoked credential through.
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

func full(what string, limit int) error {
	return fmt.Errorf("memory store: %s full (limit %d): %w", what, limit, auth.ErrUnavailable)
}
