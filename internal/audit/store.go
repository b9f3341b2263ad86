package audit

import (
	"context"
	"time"
)

// Event is one audit record. Details never hold a password, token, cookie
// value or hash.
type Event struct {
	ID        int64
	Time      time.Time
	Type      string // e.g. login.ok, login.failed, session.revoked (see events.go)
	UserID    string
	Username  string
	IP        string
	RequestID string
	Details   map[string]string
}

// Filter selects audit events for ListAudit; zero fields match everything.
type Filter struct {
	UserID string
	Type   string
	Limit  int // 0 = 100
}

// Store persists audit events.
type Store interface {
	AppendAudit(ctx context.Context, e Event) error
	// ListAudit returns matching events, newest first.
	ListAudit(ctx context.Context, f Filter) ([]Event, error)
}
