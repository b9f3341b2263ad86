package memory

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
)

// PublishRevocation records ev until ev.Until and wakes every Revocations
// call that is waiting.
func (s *Store) PublishRevocation(_ context.Context, ev revocation.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maybePurgeLocked()
	if len(s.events) >= s.maxRevocations {
		if now := s.now(); s.eventsGone.due(now) {
			s.deleteExpiredRevocationsLocked(now)
		}
		if len(s.events) >= s.maxRevocations {
			return fmt.Errorf("publish revocation: %w", full("revocations", s.maxRevocations))
		}
	}
	s.seq++
	s.events = append(s.events, storedEvent{seq: s.seq, ev: ev})
	s.eventsGone.note(ev.Until)
	k := revKey{ev.Kind, ev.Key}
	if ev.Until.After(s.revoked[k]) {
		s.revoked[k] = ev.Until
	}
	close(s.notify)
	s.notify = make(chan struct{})
	return nil
}

// Revocations returns the events after cursor (a decimal sequence number)
// that are active at now. Cursor "" returns every active event. With wait >
// 0 and nothing new it waits up to wait for a publish, so that a watcher on
// this store hears of a revocation at once.
func (s *Store) Revocations(ctx context.Context, cursor string, now time.Time, wait time.Duration) ([]revocation.Event, string, error) {
	if cursor == "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.activeAfterLocked(0, now), strconv.FormatUint(s.seq, 10), nil
	}
	after, err := strconv.ParseUint(cursor, 10, 64)
	if err != nil {
		return nil, "", fmt.Errorf("read revocations: cursor %q: %w", cursor, auth.ErrInvalidInput)
	}
	s.mu.Lock()
	evs, next, notify := s.activeAfterLocked(after, now), s.seq, s.notify
	s.mu.Unlock()
	if len(evs) > 0 || next > after || wait <= 0 {
		return evs, strconv.FormatUint(max(next, after), 10), nil
	}

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-notify:
	case <-timer.C:
	case <-ctx.Done():
		return nil, cursor, fmt.Errorf("read revocations: %w", ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.activeAfterLocked(after, now), strconv.FormatUint(max(s.seq, after), 10), nil
}

// activeAfterLocked returns the events with seq > after and Until > now, in
// publish order.
func (s *Store) activeAfterLocked(after uint64, now time.Time) []revocation.Event {
	i := sort.Search(len(s.events), func(i int) bool { return s.events[i].seq > after })
	var out []revocation.Event
	for _, se := range s.events[i:] {
		if se.ev.Until.After(now) {
			out = append(out, se.ev)
		}
	}
	return out
}

// Revoked reports whether an event of kind with key is active at now.
func (s *Store) Revoked(_ context.Context, kind, key string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked[revKey{kind, key}].After(now), nil
}

// DeleteExpiredRevocations purges events whose Until is not after now.
func (s *Store) DeleteExpiredRevocations(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteExpiredRevocationsLocked(now), nil
}

func (s *Store) deleteExpiredRevocationsLocked(now time.Time) int {
	s.eventsGone.sweep()
	kept := s.events[:0]
	for _, se := range s.events {
		if se.ev.Until.After(now) { // gone from Until on
			kept = append(kept, se)
			s.eventsGone.keep(se.ev.Until)
		}
	}
	n := len(s.events) - len(kept)
	clear(s.events[len(kept):])
	s.events = kept
	for k, until := range s.revoked {
		if !until.After(now) {
			delete(s.revoked, k)
		}
	}
	return n
}
