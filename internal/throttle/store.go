package throttle

import (
	"context"
	"time"
)

// MaxFailuresPerKey is how many failures of one key a Store must be able
// to count within a window. A store may forget the oldest of a key's
// failures beyond it (bounding a flood's memory), so a count never exceeds
// it; Limiter keeps every limit below it.
const MaxFailuresPerKey = 1024

// Store counts login failures per key in a window. Shared stores (Redis)
// make a limit hold across instances.
//
// Errors: auth.ErrUnavailable (wrapped) when the backend does not answer.
type Store interface {
	// AddFailure records a failure for key at now and returns the number of
	// failures recorded for key after now-window, this one included — also
	// those stamped later than now: concurrent attempts read the clock
	// before they count, so one that read it earlier may count after
	// another, and must still see it. Atomic: concurrent calls for one key
	// each return a different count (Limiter.Attempt lets through only the
	// counts that fit under the limit).
	AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	// RemoveFailure forgets one failure recorded for key at exactly at (an
	// attempt that AddFailure counted in advance and that turned out right
	// or was refused); nothing when there is none. Failures at one instant
	// are interchangeable, so which of them goes does not matter.
	RemoveFailure(ctx context.Context, key string, at time.Time) error
	// Failures returns the number of failures within the window and the time
	// of the latest one.
	Failures(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error)
	// ResetFailures forgets key's failures (after a successful login).
	ResetFailures(ctx context.Context, key string) error
}
