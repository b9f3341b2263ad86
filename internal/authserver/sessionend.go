package authserver

import (
	"context"
	"sync"
	"time"
)

const (
	// sessionEndTimeout bounds one SessionEnded call run from the queue.
	sessionEndTimeout = 30 * time.Second
	// sessionEndsReported is the queue length from which the worker logs
	// what it is working through (a restart replays every session that
	// ended in the last hour).
	sessionEndsReported = 100
)

// sessionEnds is the queue of sessions whose apps' grants are still to be
// ended: each ID once, in arrival order.
type sessionEnds struct {
	mu     sync.Mutex
	ids    []string
	queued map[string]struct{}
	wake   chan struct{} // one buffered signal: the queue is not empty
}

func newSessionEnds() *sessionEnds {
	return &sessionEnds{queued: map[string]struct{}{}, wake: make(chan struct{}, 1)}
}

// add queues id unless it is already waiting.
func (q *sessionEnds) add(id string) {
	q.mu.Lock()
	if _, dup := q.queued[id]; !dup {
		q.queued[id] = struct{}{}
		q.ids = append(q.ids, id)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pop takes the oldest waiting ID. A session that ends again (the feed
// repeats an event this instance published) while its ID is being worked
// on is queued again: SessionEnded finds nothing the second time.
func (q *sessionEnds) pop() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.ids) == 0 {
		return "", false
	}
	id := q.ids[0]
	q.ids[0] = "" // the backing array must not keep it alive
	q.ids = q.ids[1:]
	if len(q.ids) == 0 {
		q.ids = nil // let a burst's array go
	}
	delete(q.queued, id)
	return id, true
}

func (q *sessionEnds) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ids)
}

// EndSessionLater queues SessionEnded for sessionID and returns at once.
// The revocation watcher calls it for every session event, and its first
// read after a start replays every session that ended in the last hour:
// thousands of events on a busy site. One SessionEnded at a time, from
// RunSessionEnds, keeps that replay from taking every store connection
// (SQLite has one writer) away from logins and session lookups.
func (s *Server) EndSessionLater(sessionID string) {
	if s.Logouts == nil || sessionID == "" {
		return
	}
	s.ends.add(sessionID)
}

// RunSessionEnds works through the sessions EndSessionLater queued, one at
// a time, until ctx ends. The call in flight then runs to its end (its
// store writes and the sid denials belong together); what is still queued
// is for FinishSessionEnds, and else not lost: the events stay in the
// revocation feed for an hour, and every instance replays them when it
// starts.
func (s *Server) RunSessionEnds(ctx context.Context) {
	if s.Logouts == nil {
		return
	}
	for {
		s.endQueued(ctx, true)
		select {
		case <-ctx.Done():
			return
		case <-s.ends.wake:
		}
	}
}

// FinishSessionEnds works through what is still queued until ctx ends: a
// process closing its stores (a CLI command that disabled a user has no
// RunSessionEnds) ends the apps' grants of the sessions it ended first.
// Without Logouts nothing is ever queued.
func (s *Server) FinishSessionEnds(ctx context.Context) {
	s.endQueued(ctx, false)
}

// endQueued empties the queue, or stops early when ctx ends. With detach,
// each call runs on a context of its own that ctx ending does not cut
// short; without, ctx bounds the calls too.
func (s *Server) endQueued(ctx context.Context, detach bool) {
	if n := s.ends.len(); n >= sessionEndsReported {
		start := time.Now()
		s.log().Info("ending the apps' grants of ended sessions", "sessions", n)
		defer func() {
			s.log().Info("ended the apps' grants of ended sessions", "duration", time.Since(start).Round(time.Millisecond).String())
		}()
	}
	for ctx.Err() == nil {
		id, ok := s.ends.pop()
		if !ok {
			return
		}
		cctx := ctx
		if detach {
			cctx = context.WithoutCancel(ctx)
		}
		cctx, cancel := context.WithTimeout(cctx, sessionEndTimeout)
		err := s.SessionEnded(cctx, id)
		cancel()
		if err != nil {
			s.log().Warn("end the apps' grants of a session", "error", err.Error())
		}
	}
}
