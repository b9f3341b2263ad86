package memory

// FailureSweeps is how many times s has swept its throttle keys.
func (s *Store) FailureSweeps() int { return s.sweeps(&s.failuresIdle) }

// SessionSweeps is how many times s has swept its sessions.
func (s *Store) SessionSweeps() int { return s.sweeps(&s.sessionsGone) }

// RevocationSweeps is how many times s has swept its revocation events.
func (s *Store) RevocationSweeps() int { return s.sweeps(&s.eventsGone) }

func (s *Store) sweeps(g *sweepGate) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return g.sweeps
}
