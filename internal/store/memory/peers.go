package memory

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/peers"
)

var _ peers.Store = (*Store)(nil)

// PutPeer stores r, replacing the record of r.ID.
func (s *Store) PutPeer(_ context.Context, r peers.Record) error {
	r.Settings = maps.Clone(r.Settings)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers == nil {
		s.peers = map[string]peers.Record{}
	}
	s.peers[r.ID] = r
	return nil
}

// Peers returns the records live at now, ordered by ID, and forgets the
// expired ones.
func (s *Store) Peers(_ context.Context, now time.Time) ([]peers.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]peers.Record, 0, len(s.peers))
	for id, r := range s.peers {
		if !r.ExpiresAt.After(now) {
			delete(s.peers, id)
			continue
		}
		r.Settings = maps.Clone(r.Settings)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b peers.Record) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeletePeer removes the record of id.
func (s *Store) DeletePeer(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.peers, id)
	return nil
}
