package auth

import "time"

// Clock returns the current time. Services take one so that tests can move
// time forward (idle and absolute expiry) without sleeping.
type Clock func() time.Time

// SystemClock is the real clock.
func SystemClock() time.Time { return time.Now() }
