package audit

import (
	"context"
	"fmt"
	"time"
)

// Event is one audit record. Details never hold a password, token, cookie
// value or hash.
type Event struct {
	ID        int64
	Time      time.Time
	Type      string // e.g. login.ok, login.failed, session.revoked (see Types)
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
	// Since and Until bound the event time: Since <= Time < Until; zero
	// leaves that side open.
	Since, Until time.Time
	// Before continues a listing (paging): only events older than the
	// event with this time and ID, in ListAudit's order. Zero starts at the
	// newest.
	Before Cursor
	Limit  int // 0 = 100
}

// CheckRange reports a time range that holds no time: Since is inclusive
// and Until exclusive, so Since must be before Until when both are set. An
// empty listing would read as "nothing happened". The error names both
// times; callers name their own parameters or flags.
func (f Filter) CheckRange() error {
	if f.Since.IsZero() || f.Until.IsZero() || f.Since.Before(f.Until) {
		return nil
	}
	return fmt.Errorf("%s is not before %s", f.Since.UTC().Format(time.RFC3339Nano), f.Until.UTC().Format(time.RFC3339Nano))
}

// Cursor is the position of one event in ListAudit's order (newest first):
// its time and ID.
type Cursor struct {
	Time time.Time
	ID   int64
}

// Store persists audit events.
type Store interface {
	AppendAudit(ctx context.Context, e Event) error
	// ListAudit returns matching events, newest first.
	ListAudit(ctx context.Context, f Filter) ([]Event, error)
	// PurgeAudit deletes the events older than before (Time < before) and
	// returns how many it deleted.
	PurgeAudit(ctx context.Context, before time.Time) (int, error)
}
