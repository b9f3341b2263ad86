package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/session"
)

// CreateSession stores r; auth.ErrConflict when r.ID exists.
func (s *Store) CreateSession(_ context.Context, r session.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maybePurgeLocked()
	if _, ok := s.sessions[r.ID]; ok {
		return fmt.Errorf("create session: %w", auth.ErrConflict)
	}
	if len(s.sessions) >= s.maxSessions {
		if now := s.now(); s.sessionsGone.due(now) {
			s.deleteExpiredSessionsLocked(now)
		}
		if len(s.sessions) >= s.maxSessions {
			return fmt.Errorf("create session: %w", full("sessions", s.maxSessions))
		}
	}
	s.sessions[r.ID] = r
	s.sessionsGone.note(gone(r))
	ids := s.byUser[r.UserID]
	if ids == nil {
		ids = make(map[string]struct{})
		s.byUser[r.UserID] = ids
	}
	ids[r.ID] = struct{}{}
	return nil
}

// Session returns the session with id; auth.ErrNotFound when absent.
func (s *Store) Session(_ context.Context, id string) (session.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.sessions[id]
	if !ok {
		return session.Record{}, fmt.Errorf("load session: %w", auth.ErrNotFound)
	}
	return r, nil
}

// TouchSession sets LastSeenAt and IdleExpiresAt; auth.ErrNotFound when the
// session is gone.
func (s *Store) TouchSession(_ context.Context, id string, lastSeen, idleExpiresAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.sessions[id]
	if !ok {
		return fmt.Errorf("touch session: %w", auth.ErrNotFound)
	}
	r.LastSeenAt, r.IdleExpiresAt = lastSeen, idleExpiresAt
	s.sessions[id] = r
	s.sessionsGone.note(gone(r)) // a shorter idle expiry goes sooner
	return nil
}

// DeleteSession removes one session; auth.ErrNotFound when absent.
func (s *Store) DeleteSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.deleteLocked(id) {
		return fmt.Errorf("delete session: %w", auth.ErrNotFound)
	}
	return nil
}

// UserSessions lists userID's sessions in no particular order.
func (s *Store) UserSessions(_ context.Context, userID string) ([]session.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]session.Record, 0, len(s.byUser[userID]))
	for id := range s.byUser[userID] {
		out = append(out, s.sessions[id])
	}
	return out, nil
}

// DeleteUserSessions removes every session of userID except keepID and
// returns the removed IDs.
func (s *Store) DeleteUserSessions(_ context.Context, userID, keepID string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var removed []string
	for id := range s.byUser[userID] {
		if id != keepID && s.deleteLocked(id) {
			removed = append(removed, id)
		}
	}
	return removed, nil
}

// DeleteExpiredSessions removes sessions whose idle or absolute expiry is
// before now.
func (s *Store) DeleteExpiredSessions(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteExpiredSessionsLocked(now), nil
}

func (s *Store) deleteExpiredSessionsLocked(now time.Time) int {
	s.sessionsGone.sweep()
	n := 0
	for id, r := range s.sessions {
		if r.IdleExpiresAt.Before(now) || r.ExpiresAt.Before(now) {
			s.deleteLocked(id)
			n++
			continue
		}
		s.sessionsGone.keep(gone(r))
	}
	return n
}

// gone is the first instant at which deleteExpiredSessionsLocked drops r:
// just after its idle or absolute expiry, whichever comes first.
func gone(r session.Record) time.Time {
	exp := r.ExpiresAt
	if r.IdleExpiresAt.Before(exp) {
		exp = r.IdleExpiresAt
	}
	return exp.Add(time.Nanosecond)
}

// deleteLocked removes id from the session map and its user's index and
// reports whether it existed.
func (s *Store) deleteLocked(id string) bool {
	r, ok := s.sessions[id]
	if !ok {
		return false
	}
	delete(s.sessions, id)
	if ids := s.byUser[r.UserID]; ids != nil {
		delete(ids, id)
		if len(ids) == 0 {
			delete(s.byUser, r.UserID)
		}
	}
	return true
}
