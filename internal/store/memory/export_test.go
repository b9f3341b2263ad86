package memory

// FailureSweeps is how many times s has swept its throttle keys.
func (s *Store) FailureSweeps() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failureSweeps
}
