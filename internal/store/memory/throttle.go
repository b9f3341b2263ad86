package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/throttle"
)

// AddFailure records a failure for key at now and returns the failures
// after now-window, later stamps included (throttle.Store).
func (s *Store) AddFailure(_ context.Context, key string, now time.Time, window time.Duration) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maybePurgeLocked()
	fl := s.failures[key]
	if fl == nil {
		if len(s.failures) >= s.maxThrottleKeys {
			if now := s.now(); s.failuresIdle.due(now) {
				s.deleteIdleFailuresLocked(now)
			}
			if len(s.failures) >= s.maxThrottleKeys {
				return 0, fmt.Errorf("record login failure: %w", full("throttle keys", s.maxThrottleKeys))
			}
		}
		fl = &failureLog{}
		s.failures[key] = fl
	}
	fl.window = window
	fl.times = append(dropBefore(fl.times, now.Add(-window)), now)
	if len(fl.times) > throttle.MaxFailuresPerKey {
		fl.times = append(fl.times[:0], fl.times[len(fl.times)-throttle.MaxFailuresPerKey:]...)
	}
	s.failuresIdle.note(fl.idle())
	// dropBefore left only failures after now-window; later ones count.
	return len(fl.times), nil
}

// RemoveFailure forgets one failure recorded for key at exactly at.
func (s *Store) RemoveFailure(_ context.Context, key string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fl := s.failures[key]
	if fl == nil {
		return nil
	}
	// The newest first: an attempt is taken back soon after it was counted.
	for i := len(fl.times) - 1; i >= 0; i-- {
		if fl.times[i].Equal(at) {
			fl.times = append(fl.times[:i], fl.times[i+1:]...)
			break
		}
	}
	if len(fl.times) == 0 {
		delete(s.failures, key)
		return nil
	}
	s.failuresIdle.note(fl.idle()) // the latest failure may be an earlier one now
	return nil
}

// Failures returns the failures for key within (now-window, now] and the
// time of the latest of them.
func (s *Store) Failures(_ context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fl := s.failures[key]
	if fl == nil {
		return 0, time.Time{}, nil
	}
	n, latest := count(fl.times, now, window)
	return n, latest, nil
}

// ResetFailures forgets key's failures.
func (s *Store) ResetFailures(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failures, key)
	return nil
}

// deleteIdleFailuresLocked drops keys whose latest failure has left its
// window as of now, and notes when the next of the others goes idle.
func (s *Store) deleteIdleFailuresLocked(now time.Time) {
	s.failuresIdle.sweep()
	for key, fl := range s.failures {
		if n := len(fl.times); n == 0 || !fl.times[n-1].After(now.Add(-fl.window)) {
			delete(s.failures, key)
			continue
		}
		s.failuresIdle.keep(fl.idle())
	}
}

// idle is when fl's latest failure leaves its window (deleteIdleFailuresLocked
// drops it from then).
func (fl *failureLog) idle() time.Time { return fl.times[len(fl.times)-1].Add(fl.window) }

// dropBefore removes the times at or before cutoff, which can never count
// again.
func dropBefore(times []time.Time, cutoff time.Time) []time.Time {
	kept := times[:0]
	for _, t := range times {
		if t.After(cutoff) {
			kept = append(kept, t)
		}
	}
	return kept
}

// count returns how many times lie in (now-window, now] and the latest one.
func count(times []time.Time, now time.Time, window time.Duration) (int, time.Time) {
	var (
		n      int
		latest time.Time
	)
	cutoff := now.Add(-window)
	for _, t := range times {
		if t.After(cutoff) && !t.After(now) {
			n++
			if t.After(latest) {
				latest = t
			}
		}
	}
	return n, latest
}
