package session_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/session"
)

// announced records the session IDs a Manager announced as ended.
type announced struct {
	mu  sync.Mutex
	ids []string
}

func (a *announced) Publish(_ context.Context, ev revocation.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ev.Kind == revocation.KindSession {
		a.ids = append(a.ids, ev.Key)
	}
	return nil
}

func (a *announced) has(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Contains(a.ids, id)
}

// A step-up hands what carry moves to the successor before the old session
// ends, and a session end racing it cannot leave that on a session nobody
// holds: whenever the step-up fails after carry, the successor is ended
// and announced (the announcement is what ends its apps' grants), even
// when a revocation had already deleted it before carry ran.
func TestStepUpSessionCarriesBeforeTheOldSessionEnds(t *testing.T) {
	errCarry := errors.New("carry failed")
	tests := []struct {
		name string
		// during runs inside carry: what happens concurrently after the
		// successor was written
		during func(ctx context.Context, st session.Store, old, successor session.Record) error
		want   error // nil: the step-up succeeds
	}{
		{"nothing ends meanwhile", func(context.Context, session.Store, session.Record, session.Record) error { return nil }, nil},
		{"the old session is ended meanwhile", func(ctx context.Context, st session.Store, old, _ session.Record) error {
			return st.DeleteSession(ctx, old.ID)
		}, auth.ErrUnauthenticated},
		{"the successor is revoked as soon as written", func(ctx context.Context, st session.Store, _, successor session.Record) error {
			return st.DeleteSession(ctx, successor.ID)
		}, auth.ErrUnauthenticated},
		{"carry fails", func(context.Context, session.Store, session.Record, session.Record) error { return errCarry }, errCarry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			pub := &announced{}
			m := session.NewManager(e.store, session.WithTimeouts(idle, absolute), session.WithClock(e.clock.Now),
				session.WithCookie(session.Cookie{Name: "gh", SameSite: http.SameSiteLaxMode}), session.WithPublisher(pub))
			cookie, old := e.login("")
			e.clock.Advance(idle / 2)

			var carried session.Record
			w := httptest.NewRecorder()
			rec, err := m.StepUpSession(w, request(cookie), old, []string{"pwd", "otp", "mfa"}, func(ctx context.Context, successor session.Record) error {
				carried = successor
				if _, err := e.store.Session(ctx, old.ID); err != nil {
					t.Errorf("old session gone before carry: %v", err)
				}
				return tt.during(ctx, e.store, old, successor)
			})
			if carried.ID == "" || carried.ID == old.ID {
				t.Fatalf("carry got successor %q (old %q), want a new session", carried.ID, old.ID)
			}
			if _, err := e.store.Session(t.Context(), old.ID); !errors.Is(err, auth.ErrNotFound) {
				t.Errorf("old session after the step-up: %v, want it ended", err)
			}
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("StepUpSession error = %v, want %v", err, tt.want)
				}
				if _, err := e.store.Session(t.Context(), carried.ID); !errors.Is(err, auth.ErrNotFound) {
					t.Errorf("successor of a failed step-up: %v, want it ended", err)
				}
				if !pub.has(carried.ID) {
					t.Errorf("successor of a failed step-up not announced: what carry moved would outlive it")
				}
				if len(w.Result().Cookies()) != 0 {
					t.Errorf("failed step-up set cookies %v", w.Result().Cookies())
				}
				return
			}
			if err != nil {
				t.Fatalf("StepUpSession: %v", err)
			}
			if rec.ID != carried.ID || !slices.Equal(rec.AMR, []string{"pwd", "otp", "mfa"}) || rec.Method != old.Method ||
				!rec.CreatedAt.After(old.CreatedAt) {
				t.Errorf("successor %+v, want the carried one with the new amr, old's method and a new login time", rec)
			}
			if !pub.has(old.ID) || pub.has(rec.ID) {
				t.Errorf("announced %v, want the old session only", pub.ids)
			}
			if _, err := e.store.Session(t.Context(), rec.ID); err != nil {
				t.Errorf("successor: %v", err)
			}
		})
	}
}
