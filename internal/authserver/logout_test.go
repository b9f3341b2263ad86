package authserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
)

// signalLookup passes Lookup to a real client registry and signals each
// answer, so that a test knows when a delivery attempt is under way.
type signalLookup struct {
	authserver.ClientLookup
	looked chan struct{}
}

func (s signalLookup) Lookup(ctx context.Context, id string) (client.Client, error) {
	c, err := s.ClientLookup.Lookup(ctx, id)
	select {
	case s.looked <- struct{}{}:
	default: // the test waits for the first attempt only
	}
	return c, err
}

// A delivery is dropped only when there is nothing to deliver: the client
// is gone or has no back-channel logout URI. A client lookup that fails
// because the store does not answer is a failed attempt, retried with
// backoff until the 10-minute deadline (contract §8), like an app that
// answers 500.
func TestBackchannelLogoutDroppedOnlyWithoutReceiver(t *testing.T) {
	tests := []struct {
		name      string
		registry  func(t *testing.T) *client.Registry
		wantRetry bool
	}{
		{"ClientStoreUnavailable", func(t *testing.T) *client.Registry {
			st := sqlitetest.New(t)
			_ = st.Close() // every later call fails with auth.ErrUnavailable
			return client.NewRegistry(st, nil)
		}, true},
		{"ClientDeleted", func(t *testing.T) *client.Registry {
			return client.NewRegistry(sqlitetest.New(t), nil)
		}, false},
		{"ClientWithoutBackchannelLogoutURI", func(t *testing.T) *client.Registry {
			return client.NewRegistry(sqlitetest.New(t), []client.Client{{ID: "web", Type: client.Public}})
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			logouts := sqlitetest.New(t)
			now := time.Now()
			if err := logouts.AddSessionGrant(ctx, authserver.SessionGrant{
				FamilyID: "f1", SessionID: "s1", ClientID: "web", UserID: "u1", CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			if _, err := logouts.EndSession(ctx, "s1", now, now.Add(authserver.LogoutRetryFor)); err != nil {
				t.Fatal(err)
			}
			lookup := signalLookup{ClientLookup: tt.registry(t), looked: make(chan struct{}, 1)}
			s := authserver.New(authserver.Deps{Logouts: logouts, Clients: lookup, Now: func() time.Time { return now }})

			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); s.RunLogouts(rctx, "sender") }()
			select {
			case <-lookup.looked:
			case <-time.After(5 * time.Second):
				t.Fatal("no delivery attempted within 5s")
			}
			cancel()
			<-done // the attempt is recorded before RunLogouts returns

			// Five minutes on, inside the retry window, with the client
			// store back: is the delivery due again?
			due, err := logouts.ClaimLogouts(ctx, "other", now.Add(5*time.Minute), time.Minute, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(due) == 1; got != tt.wantRetry {
				t.Errorf("delivery due again = %v, want %v", got, tt.wantRetry)
			}
		})
	}
}

// A session that expires is never ended through SessionEnded, so nothing
// took its grants: PurgeExpired drops them once the session cannot be live
// any more (sessions.absolute_timeout after the grant, and a day's margin),
// and keeps every grant whose session may still be.
func TestPurgeExpiredDropsGrantsOfSessionsThatCannotBeLive(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.New(t)
	now := time.Now()
	for _, g := range []authserver.SessionGrant{
		{FamilyID: "f-expired", SessionID: "s-expired", CreatedAt: now.Add(-49 * time.Hour)},
		{FamilyID: "f-margin", SessionID: "s-margin", CreatedAt: now.Add(-47 * time.Hour)},
		{FamilyID: "f-live", SessionID: "s-live", CreatedAt: now.Add(-time.Hour)},
	} {
		g.ClientID, g.UserID = "web", "u1"
		if err := st.AddSessionGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	srv := authserver.New(authserver.Deps{Logouts: st, SessionLifetime: 24 * time.Hour, Now: func() time.Time { return now }})
	if n, err := srv.PurgeExpired(ctx); err != nil || n != 1 {
		t.Fatalf("PurgeExpired = %d, %v; want the one grant older than the session lifetime and a day", n, err)
	}
	apps, err := srv.SessionApps(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := apps["s-expired"]; ok || len(apps) != 2 {
		t.Errorf("grants left = %v; want those of s-margin and s-live", apps)
	}

	kept := authserver.New(authserver.Deps{Logouts: st, Now: func() time.Time { return now.Add(1000 * time.Hour) }})
	if n, err := kept.PurgeExpired(ctx); err != nil || n != 0 {
		t.Errorf("PurgeExpired without a session lifetime = %d, %v; want grants kept", n, err)
	}
}
