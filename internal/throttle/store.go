package throttle

import (
	"context"
	"time"
)

// Store counts login failures per key in a window. Shared stores (Redis)
// make a limit hold across instances.
//
// Errors: auth.ErrUnavailable (wrapped) when the backend does not answer.
type Store interface {
	// AddFailure records a failure for key at now and returns the number of
	// failures recorded for key within (now-window, now], this one included.
	AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	// Failures returns the number of failures within the window and the time
	// of the latest one.
	Failures(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error)
	// ResetFailures forgets key's failures (after a successful login).
	ResetFailures(ctx context.Context, key string) error
}
