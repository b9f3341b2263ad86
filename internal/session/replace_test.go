package session_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/session"
)

// racedStore runs beforeCreate before storing a session. With
// goneIsDeleted, its DeleteSession answers nil for a session that is
// already gone, as the SQL stores do once the DELETE ran again after a
// dead connection (the run whose answer was lost may have deleted it).
type racedStore struct {
	session.Store
	beforeCreate  func(ctx context.Context)
	goneIsDeleted bool
}

func (s *racedStore) CreateSession(ctx context.Context, r session.Record) error {
	s.beforeCreate(ctx)
	return s.Store.CreateSession(ctx, r)
}

func (s *racedStore) DeleteSession(ctx context.Context, id string) error {
	err := s.Store.DeleteSession(ctx, id)
	if s.goneIsDeleted && errors.Is(err, auth.ErrNotFound) {
		return nil
	}
	return err
}

// TestSuccessorOfASessionEndedMeanwhileIsEnded: a session that a
// revocation ended before its successor was written (a password change's
// ReplaceSession, a step-up's StepUpSession) must not live on in its
// successor, also over a store whose DeleteSession cannot tell a session
// it deleted from one already gone (racedStore.goneIsDeleted): the successor is
// ended and the caller signed out (auth.ErrUnauthenticated), no cookie set.
func TestSuccessorOfASessionEndedMeanwhileIsEnded(t *testing.T) {
	replace := func(m *session.Manager, w http.ResponseWriter, r *http.Request, old session.Record) (session.Record, error) {
		return m.ReplaceSession(w, r, old)
	}
	stepUp := func(m *session.Manager, w http.ResponseWriter, r *http.Request, old session.Record) (session.Record, error) {
		return m.StepUpSession(w, r, old, []string{"pwd", "otp", "mfa"}, nil)
	}
	for _, tt := range []struct {
		name string
		call func(*session.Manager, http.ResponseWriter, *http.Request, session.Record) (session.Record, error)
	}{{"ReplaceSession", replace}, {"StepUpSession", stepUp}} {
		for _, goneIsDeleted := range []bool{false, true} {
			name := tt.name + "/DeleteSessionNotFound"
			if goneIsDeleted {
				name = tt.name + "/DeleteSessionGoneIsDeleted"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv(t)
				cookie, old := e.login("")
				// A revocation of the user ends old as the request starts
				// writing the successor.
				revoke := func(ctx context.Context) {
					if _, err := e.store.DeleteUserSessions(ctx, e.user.ID, ""); err != nil {
						t.Fatalf("revoke: %v", err)
					}
				}
				st := &racedStore{Store: e.store, beforeCreate: revoke, goneIsDeleted: goneIsDeleted}
				pub := &announced{}
				m := session.NewManager(st, session.WithTimeouts(idle, absolute), session.WithClock(e.clock.Now),
					session.WithCookie(session.Cookie{Name: "gh", SameSite: http.SameSiteLaxMode}), session.WithPublisher(pub))
				w := httptest.NewRecorder()
				_, err := tt.call(m, w, request(cookie), old)
				if !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("%s of a session revoked meanwhile = %v, want auth.ErrUnauthenticated", tt.name, err)
				}
				if len(w.Result().Cookies()) != 0 {
					t.Errorf("%s set cookies %v", tt.name, w.Result().Cookies())
				}
				recs, err := e.store.UserSessions(t.Context(), e.user.ID)
				if err != nil || len(recs) != 0 {
					t.Fatalf("sessions after %s = %d, %v; want none (the successor ended)", tt.name, len(recs), err)
				}
			})
		}
	}
}
