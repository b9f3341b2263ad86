package revocation

import (
	"context"
	"time"
)

// Kinds of revocation events.
const (
	KindSession = "session" // Key: public session ID — drop cached session
	KindUser    = "user"    // Key: user ID — drop every cached credential of the user
	KindJTI     = "jti"     // Key: access token jti — deny until Until
	KindSID     = "sid"     // Key: refresh family / sid — deny access tokens until Until
	KindKeys    = "keys"    // Key: "" — signing keys changed, reload
	// KindUserSessions: Key: user ID and time (session.Manager) — every
	// session of the user that began by then has ended; published only
	// with a process-local session store (sessions.store: memory), whose
	// sessions a command run beside serve cannot reach itself.
	KindUserSessions = "user_sessions"
)

// Event is one revocation. It is active (denies, and is replayed to new
// watchers) until Until.
type Event struct {
	Kind  string
	Key   string
	Until time.Time
}

// Store is the shared, durable feed of revocations that every instance
// follows. It doubles as the access-token deny-list (jti/sid events).
//
// Errors: auth.ErrUnavailable (wrapped) when the backend does not answer.
type Store interface {
	// PublishRevocation records ev durably until ev.Until and makes it
	// visible to every instance's Revocations call.
	PublishRevocation(ctx context.Context, ev Event) error
	// Revocations returns the events published after cursor and the cursor to
	// pass next time. cursor "" returns every event still active at now.
	// Events past Until may be omitted. It may block up to wait for a new
	// event (Redis); stores that cannot block return at once.
	Revocations(ctx context.Context, cursor string, now time.Time, wait time.Duration) ([]Event, string, error)
	// Revoked reports whether an event of kind with key is active at now.
	Revoked(ctx context.Context, kind, key string, now time.Time) (bool, error)
	// DeleteExpiredRevocations purges events past Until and returns how
	// many it removed. A store may keep ended events a bounded while longer
	// (Redis keeps the last hour or so of its feed for watchers catching
	// up), but never because an earlier event is still active: one long
	// revocation must not keep every later one stored until it ends.
	DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error)
}
