// Package clienttest is the conformance suite every client.Store backend
// runs: round trips of every field, conflicts, listing, deletion and secret
// rotation.
package clienttest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
)

// RunStoreTests runs the client.Store conformance suite. newStore must
// return an empty store of its own and register its cleanup with t.Cleanup.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) client.Store) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[client.Store]{
		{Name: "CreateThenGetReturnsEveryField", Run: testRoundTrip},
		{Name: "CreateWithTakenIDConflicts", Run: testConflict},
		{Name: "MissingClientIsNotFound", Run: testMissing},
		{Name: "ListReturnsEveryClientByID", Run: testList},
		{Name: "DeleteRemovesOnlyThatClient", Run: testDelete},
		{Name: "SetSecretReplacesHashAndTokenSIDStillRead", Run: testSetSecret},
		{Name: "ConcurrentSecretSetsFromOneTokenSIDHaveOneWinner", Run: testSetSecretConcurrent},
	})
}

// Sample returns a fully populated client with ID id.
func Sample(id string) client.Client {
	now := storetest.Now()
	return client.Client{
		ID: id, Name: "Orders " + id, Type: client.Confidential, SecretHash: client.HashSecret("s-" + id),
		RedirectURIs:           []string{"https://app.example.com/cb", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example.com/bye"},
		GrantTypes:             []string{client.GrantAuthorizationCode, client.GrantRefreshToken},
		Scopes:                 []string{"openid", "orders:read"}, FirstParty: true,
		BackchannelLogoutURI: "https://app.example.com/bcl", Audience: []string{"orders"}, Roles: []string{"svc"},
		CreatedAt: now, UpdatedAt: now, TokenSID: "cc-" + id, Registration: "reg-" + id,
	}
}

func mustCreate(t *testing.T, s client.Store, c client.Client) {
	t.Helper()
	if err := s.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("CreateClient(%s): %v", c.ID, err)
	}
}

func testRoundTrip(t *testing.T, s client.Store) {
	want := Sample("web")
	mustCreate(t, s, want)
	got, err := s.Client(context.Background(), "web")
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Client = %+v\nwant    %+v", got, want)
	}
	// Empty lists come back empty, not nil-vs-empty surprises.
	bare := client.Client{ID: "bare", Type: client.Public, GrantTypes: []string{"authorization_code"}, CreatedAt: want.CreatedAt, UpdatedAt: want.UpdatedAt}
	mustCreate(t, s, bare)
	got, err = s.Client(context.Background(), "bare")
	if err != nil || len(got.RedirectURIs) != 0 || got.FirstParty || got.SecretHash != "" {
		t.Fatalf("Client(bare) = %+v, %v", got, err)
	}
}

func testConflict(t *testing.T, s client.Store) {
	mustCreate(t, s, Sample("web"))
	if err := s.CreateClient(context.Background(), Sample("web")); !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("second CreateClient error = %v, want ErrConflict", err)
	}
}

func testMissing(t *testing.T, s client.Store) {
	ctx := context.Background()
	if _, err := s.Client(ctx, "nope"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("Client(missing) error = %v, want ErrNotFound", err)
	}
	if err := s.DeleteClient(ctx, "nope"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("DeleteClient(missing) error = %v, want ErrNotFound", err)
	}
	if err := s.SetClientSecret(ctx, "nope", "h", "", "cc-h", time.Now()); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("SetClientSecret(missing) error = %v, want ErrNotFound", err)
	}
}

func testList(t *testing.T, s client.Store) {
	for _, id := range []string{"zeta", "alpha", "mid"} {
		mustCreate(t, s, Sample(id))
	}
	got, err := s.ListClients(context.Background())
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if !reflect.DeepEqual(ids, []string{"alpha", "mid", "zeta"}) {
		t.Fatalf("ListClients IDs = %v", ids)
	}
}

func testDelete(t *testing.T, s client.Store) {
	ctx := context.Background()
	mustCreate(t, s, Sample("one"))
	mustCreate(t, s, Sample("two"))
	if err := s.DeleteClient(ctx, "one"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if _, err := s.Client(ctx, "one"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("deleted client error = %v, want ErrNotFound", err)
	}
	if _, err := s.Client(ctx, "two"); err != nil {
		t.Errorf("other client: %v", err)
	}
}

func testSetSecret(t *testing.T, s client.Store) {
	ctx := context.Background()
	mustCreate(t, s, Sample("svc"))
	later := time.Now().UTC().Add(time.Minute).Truncate(time.Microsecond)
	// Another rotation replaced the token sid read: nothing changes.
	if err := s.SetClientSecret(ctx, "svc", "lost-hash", "cc-stale", "cc-lost", later); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("SetClientSecret(stale token sid) error = %v, want ErrNotFound", err)
	}
	if err := s.SetClientSecret(ctx, "svc", "new-hash", "cc-svc", "cc-new", later); err != nil {
		t.Fatalf("SetClientSecret: %v", err)
	}
	got, err := s.Client(ctx, "svc")
	if err != nil || got.SecretHash != "new-hash" || got.TokenSID != "cc-new" || !got.UpdatedAt.Equal(later) {
		t.Fatalf("after rotation = %+v, %v", got, err)
	}
}

// testSetSecretConcurrent: rotations that all read the same token sid and
// store at once: exactly one replaces it, the others are auth.ErrNotFound
// (the rotation then reads the client again), so no rotation's secret is
// stored over another's unnoticed and the stored pair is the winner's.
func testSetSecretConcurrent(t *testing.T, s client.Store) {
	ctx := context.Background()
	mustCreate(t, s, Sample("svc"))
	later := time.Now().UTC().Add(time.Minute).Truncate(time.Microsecond)
	var (
		mu       sync.Mutex
		winners  []int
		notFound int
	)
	storetest.Together(storetest.Workers, func(i int) {
		err := s.SetClientSecret(ctx, "svc", fmt.Sprintf("hash-%d", i), "cc-svc", fmt.Sprintf("cc-%d", i), later)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			winners = append(winners, i)
		case errors.Is(err, auth.ErrNotFound):
			notFound++
		default:
			t.Errorf("SetClientSecret: %v, want nil or auth.ErrNotFound", err)
		}
	})
	if len(winners) != 1 || notFound != storetest.Workers-1 {
		t.Fatalf("%d concurrent SetClientSecret from one token sid: winners %v, %d ErrNotFound; want 1 winner and %d",
			storetest.Workers, winners, notFound, storetest.Workers-1)
	}
	got, err := s.Client(ctx, "svc")
	w := winners[0]
	if err != nil || got.SecretHash != fmt.Sprintf("hash-%d", w) || got.TokenSID != fmt.Sprintf("cc-%d", w) {
		t.Fatalf("after the race = %+v, %v; want the winner's hash and token sid (%d)", got, err, w)
	}
}
