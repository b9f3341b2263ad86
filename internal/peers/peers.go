package peers

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Refresh is how often an instance rewrites its record and compares it
// with its peers'.
const Refresh = 30 * time.Second

// TTL is how long a record stays live without a refresh: an instance that
// stopped (or lost the store) stops counting as a peer after it.
const TTL = 3 * time.Minute

// Field names of the settings every instance must agree on (the keys of
// Record.Settings). Values are never secrets: the HS256 secret and the
// encryption key are named by a digest, as the kid names the HS256 secret
// in every token header.
const (
	FieldVersion         = "version"
	FieldPublicURL       = "public_url"
	FieldAlgorithm       = "tokens.algorithm"
	FieldAudience        = "tokens.audience"
	FieldHMACSecret      = "tokens.hmac_secret"
	FieldEncryptionKey   = "keys.encryption_key"
	FieldCookieName      = "sessions.cookie.name"
	FieldCookieDomain    = "sessions.cookie.domain"
	FieldCookieSecure    = "sessions.cookie.secure"
	FieldIdleTimeout     = "sessions.idle_timeout"
	FieldAbsoluteTimeout = "sessions.absolute_timeout"
)

// Record is one instance's entry in the shared store.
type Record struct {
	// ID names the process: random, new at every start.
	ID string
	// Host is the machine's host name and Listen the public listen
	// address, for the operator to find the instance.
	Host, Listen string
	// Settings maps a field name (Field*) to this instance's value. A
	// field a peer does not record (an older version) is not compared.
	Settings map[string]string
	// SeenAt is the last refresh; the record is live until ExpiresAt.
	SeenAt, ExpiresAt time.Time
}

// Store keeps the instances' records. Implementations: store/sqldb
// (SQLite, PostgreSQL), store/redis and store/memory; they pass peerstest.
type Store interface {
	// PutPeer stores r, replacing the record of r.ID.
	PutPeer(ctx context.Context, r Record) error
	// Peers returns the records whose ExpiresAt is after now (the caller's
	// clock), ordered by ID. It may delete expired ones.
	Peers(ctx context.Context, now time.Time) ([]Record, error)
	// DeletePeer removes the record of id; an unknown id is no error.
	DeletePeer(ctx context.Context, id string) error
}

// Monitor records this instance and compares it with its live peers.
type Monitor struct {
	store   Store
	self    Record
	fields  []string // self's fields, in the order they are reported
	log     *slog.Logger
	now     func() time.Time
	observe func(field string, peers int)
	mu      sync.Mutex         // one Check at a time
	logged  map[loggedKey]bool // differences already logged
}

// loggedKey is one difference as logged: the same peer, field and values
// are logged once; a value that changes again is logged again.
type loggedKey struct{ peer, field, own, theirs string }

// Option configures a Monitor.
type Option func(*Monitor)

// WithLogger sets where differences are logged (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(m *Monitor) { m.log = l } }

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(m *Monitor) { m.now = now } }

// WithObserver receives, after each comparison, for every field of this
// instance, the number of live peers whose value differs (the
// gatehouse_config_mismatch gauge).
func WithObserver(fn func(field string, peers int)) Option {
	return func(m *Monitor) { m.observe = fn }
}

// NewMonitor returns a Monitor of self (ID, Host, Listen and Settings set;
// fields lists the settings' names in the order they are reported) over s.
func NewMonitor(s Store, self Record, fields []string, opts ...Option) *Monitor {
	m := &Monitor{store: s, self: self, fields: fields, log: slog.Default(), now: time.Now,
		observe: func(string, int) {}, logged: map[loggedKey]bool{}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// ID is this instance's ID.
func (m *Monitor) ID() string { return m.self.ID }

// Check refreshes this instance's record, then compares it with every live
// peer's: each field that differs is logged at ERROR (the version at WARN:
// a rolling upgrade mixes versions by design), once per peer, field and
// pair of values, and the observer gets the count of differing peers
// per field. Checks run one at a time.
func (m *Monitor) Check(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	r := m.self
	r.SeenAt, r.ExpiresAt = now, now.Add(TTL)
	if err := m.store.PutPeer(ctx, r); err != nil {
		return fmt.Errorf("record this instance's settings: %w", err)
	}
	live, err := m.store.Peers(ctx, now)
	if err != nil {
		return fmt.Errorf("read peer instances: %w", err)
	}
	counts := make(map[string]int, len(m.fields))
	seen := map[loggedKey]bool{}
	for _, p := range live {
		if p.ID == m.self.ID {
			continue
		}
		for _, f := range m.fields {
			own := m.self.Settings[f]
			theirs, ok := p.Settings[f]
			if !ok || theirs == own {
				continue
			}
			counts[f]++
			k := loggedKey{p.ID, f, own, theirs}
			seen[k] = true
			if m.logged[k] {
				continue
			}
			attrs := []any{"field", f, "value", own, "peer_value", theirs, "instance_id", m.self.ID,
				"peer_id", p.ID, "peer_host", p.Host, "peer_listen", p.Listen, "peer_version", p.Settings[FieldVersion]}
			if f == FieldVersion {
				// A rolling upgrade mixes versions for a while, by design.
				m.log.WarnContext(ctx, "a gatehouse instance sharing this store runs another version "+
					"(expected during a rolling upgrade; finish it)", attrs...)
				continue
			}
			m.log.ErrorContext(ctx, "a gatehouse instance sharing this store has another value for a setting every instance must agree on: "+
				"tokens, sessions or cookies one of them issues may be refused by the other (docs/deploy.md)", attrs...)
		}
	}
	// Forget what was logged about peers that are gone or now agree, so
	// that the set stays as small as the live differences.
	m.logged = seen
	for _, f := range m.fields {
		m.observe(f, counts[f])
	}
	return nil
}

// Run checks every Refresh until ctx ends, logging failures at WARN (call
// CheckLogged first, at start); then it deletes this instance's record, so
// that a stopped instance stops counting at once rather than after TTL.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.leave(ctx)
			return
		case <-t.C:
		}
		m.CheckLogged(ctx)
	}
}

// leave deletes this instance's record, within 2 s of ctx's end.
func (m *Monitor) leave(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := m.store.DeletePeer(ctx, m.self.ID); err != nil {
		m.log.Warn("delete this instance's peer record", "error", err.Error())
	}
}

// CheckLogged is Check, with a failure logged at WARN rather than returned:
// a store that does not answer is /readyz's business, and the next Refresh
// tries again.
func (m *Monitor) CheckLogged(ctx context.Context) {
	if err := m.Check(ctx); err != nil && ctx.Err() == nil {
		m.log.Warn("comparing settings with peer instances failed; retrying", "error", err.Error(), "retry_in", Refresh.String())
	}
}
