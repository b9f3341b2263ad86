package keys

import (
	"context"
	"time"
)

// Tick runs one round of Run (reload, scheduled rotation, purge), so that
// tests drive the schedule with their clock instead of a ticker.
func Tick(ctx context.Context, s *Set, rotateEvery time.Duration) { s.tick(ctx, rotateEvery) }
