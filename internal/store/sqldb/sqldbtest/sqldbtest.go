package sqldbtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/audit/audittest"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/authserver/authservertest"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/client/clienttest"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/keys/keystest"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctest"
	"github.com/gatehouse-auth/gatehouse/internal/peers"
	"github.com/gatehouse-auth/gatehouse/internal/peers/peerstest"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/revocation/revocationtest"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/session/sessiontest"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqldb"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/token/tokentest"
	"github.com/gatehouse-auth/gatehouse/internal/user"
	"github.com/gatehouse-auth/gatehouse/internal/user/identitytest"
	"github.com/gatehouse-auth/gatehouse/internal/user/usertest"
)

// Store is what a SQL backend offers: every store interface plus the
// lifecycle methods of *sqldb.Store.
type Store interface {
	user.Store
	session.Store
	token.RefreshStore
	keys.Store
	audit.Store
	revocation.Store
	user.IdentityStore
	mfa.Store
	mfa.StepStore
	client.Store
	authserver.Store
	authserver.LogoutStore
	oidc.LogoutStore
	peers.Store
	Migrate(ctx context.Context) error
	MigrateTo(ctx context.Context, version int64) error
	MigrationVersion(ctx context.Context) (current, latest int64, err error)
	CheckSchema(ctx context.Context) error
	Ping(ctx context.Context) error
	Close() error
	DB() *sql.DB
	Rebind(query string) string
	SetTimeout(d time.Duration)
}

// RunStoreTests runs every conformance suite and the SQL-specific tests
// against stores from newStore, which must return a migrated, empty store of
// its own and close it in t.Cleanup. The suites run in parallel with each
// other (each test has its own store): creating and migrating a PostgreSQL
// schema per test is mostly waiting.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("User", func(t *testing.T) {
		t.Parallel()
		usertest.RunStoreTests(t, func(t *testing.T) user.Store { return newStore(t) })
	})
	t.Run("Session", func(t *testing.T) {
		t.Parallel()
		sessiontest.RunStoreTests(t, func(t *testing.T) session.Store { return sessionsWithUsers{newStore(t)} })
	})
	t.Run("Refresh", func(t *testing.T) {
		t.Parallel()
		tokentest.RunRefreshStoreTests(t, func(t *testing.T) token.RefreshStore { return newStore(t) })
	})
	t.Run("Keys", func(t *testing.T) {
		t.Parallel()
		keystest.RunStoreTests(t, func(t *testing.T) keys.Store { return newStore(t) })
	})
	t.Run("Audit", func(t *testing.T) {
		t.Parallel()
		audittest.RunStoreTests(t, func(t *testing.T) audit.Store { return newStore(t) })
	})
	t.Run("Revocation", func(t *testing.T) {
		t.Parallel()
		revocationtest.RunStoreTests(t, func(t *testing.T) revocation.Store { return newStore(t) })
	})
	t.Run("Identity", func(t *testing.T) {
		t.Parallel()
		identitytest.RunIdentityStoreTests(t, func(t *testing.T) user.IdentityStore { return newStore(t) })
	})
	t.Run("MFA", func(t *testing.T) {
		t.Parallel()
		mfatest.RunStoreTests(t, func(t *testing.T) mfa.Store { return newStore(t) })
	})
	t.Run("TOTPStep", func(t *testing.T) {
		t.Parallel()
		mfatest.RunStepStoreTests(t, func(t *testing.T) mfa.StepStore { return newStore(t) })
	})
	t.Run("Client", func(t *testing.T) {
		t.Parallel()
		clienttest.RunStoreTests(t, func(t *testing.T) client.Store { return newStore(t) })
	})
	t.Run("AuthServer", func(t *testing.T) {
		t.Parallel()
		authservertest.RunStoreTests(t, func(t *testing.T) authserver.Store { return newStore(t) })
	})
	t.Run("Logout", func(t *testing.T) {
		t.Parallel()
		authservertest.RunLogoutStoreTests(t, func(t *testing.T) authserver.LogoutStore { return newStore(t) })
	})
	t.Run("OIDCLogout", func(t *testing.T) {
		t.Parallel()
		oidctest.RunLogoutStoreTests(t, func(t *testing.T) oidc.LogoutStore { return newStore(t) })
	})
	t.Run("Peers", func(t *testing.T) {
		t.Parallel()
		peerstest.RunStoreTests(t, func(t *testing.T) peers.Store { return newStore(t) })
	})
	t.Run("SQL", func(t *testing.T) {
		t.Parallel()
		runSQLTests(t, newStore)
	})
}

func runSQLTests(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"MigrateTwiceIsUpToDate", testMigrateTwice},
		{"SchemaNewerThanTheBinaryIsRefused", testSchemaNewer},
		{"MigrationKeepsTheOldestLinkOfAnIssuer", testDuplicateLinksMigrated},
		{"DeleteUserRemovesTheirSessions", testSessionCascade},
		{"SessionOfUnknownUserIsNotFound", testSessionUnknownUser},
		{"RevokeUnknownFamilyIsNotFound", testRevokeUnknownFamily},
		{"SuccessorInAnotherFamilyIsRefused", testSuccessorOtherFamily},
		{"DeleteClientDropsItsConsentsAndCodes", testDeleteClientDropsGrants},
		{"ConsentRacingItsClientsDeletionDoesNotOutliveIt", testConsentRacingDeleteClient},
		{"RefreshFamilyNeedsItsClientRegistration", testFamilyNeedsClientRegistration},
		{"RefreshFamilyRacingItsClientsDeletionDoesNotOutliveIt", testFamilyRacingDeleteClient},
		{"MalformedRevocationCursorIsInvalid", testBadCursor},
		{"ClosedStoreIsUnavailable", testClosed},
		{"WriteStuckBehindALockIsUnavailable", testStuckWrite},
		{"PurgeDeletesABacklogLargerThanABatch", testPurgeBacklog},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newStore(t))
		})
	}
}

// sessionsWithUsers adapts a SQL store to sessiontest, whose sessions name
// users it never creates: sessions reference users (and die with them), so
// CreateSession first creates the user through the same store.
type sessionsWithUsers struct{ Store }

func (s sessionsWithUsers) CreateSession(ctx context.Context, r session.Record) error {
	if err := createUser(ctx, s.Store, r.UserID); err != nil {
		return err
	}
	return s.Store.CreateSession(ctx, r)
}

// createUser creates user id unless it exists.
func createUser(ctx context.Context, s user.Store, id string) error {
	now := time.Now()
	err := s.CreateUser(ctx, auth.User{ID: id, Username: id, CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, auth.ErrConflict) {
		return nil
	}
	return err
}

func mustUser(t *testing.T, s Store, id string) {
	t.Helper()
	if err := createUser(context.Background(), s, id); err != nil {
		t.Fatalf("CreateUser(%s): %v", id, err)
	}
}

func newSession(id, userID string) session.Record {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return session.Record{
		ID: id, UserID: userID, CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour), Method: "password",
	}
}

func testMigrateTwice(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	current, latest, err := s.MigrationVersion(ctx)
	if err != nil {
		t.Fatalf("MigrationVersion: %v", err)
	}
	if current != latest || current < 1 {
		t.Fatalf("MigrationVersion = %d of %d, want up to date", current, latest)
	}
}

// testSchemaNewer: a database a newer gatehouse migrated (a downgrade, or
// an old instance restarting during a rolling upgrade) has tables and rules
// this binary does not know. Migrate must say so instead of finding nothing
// to do and letting the instance serve on an unknown schema.
func testSchemaNewer(t *testing.T, s Store) {
	ctx := context.Background()
	_, latest, err := s.MigrationVersion(ctx)
	if err != nil {
		t.Fatalf("MigrationVersion: %v", err)
	}
	if _, err := s.DB().ExecContext(ctx, s.Rebind(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)`),
		latest+1, true); err != nil {
		t.Fatalf("record a newer migration: %v", err)
	}
	err = s.Migrate(ctx)
	if !errors.Is(err, sqldb.ErrSchemaNewer) {
		t.Fatalf("Migrate on a newer schema error = %v, want sqldb.ErrSchemaNewer", err)
	}
	if errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("Migrate on a newer schema error = %v: not a store outage (serve would retry it forever)", err)
	}
	if err := s.CheckSchema(ctx); !errors.Is(err, sqldb.ErrSchemaNewer) {
		t.Fatalf("CheckSchema on a newer schema error = %v, want sqldb.ErrSchemaNewer", err)
	}
}

// testDuplicateLinksMigrated: a database from before migration 9 (the
// unique index on identities (user_id, issuer)) may hold two links of one
// user to one issuer, made by two simultaneous link_by_email logins. The
// migration must not fail on it (the instance would not start): it keeps
// the oldest link of each user and issuer (by created_at, then subject),
// removes the others and records each removal as oidc.unlinked
// (reason=duplicate_issuer, via=migration) for the administrator.
func testDuplicateLinksMigrated(t *testing.T, s Store) {
	ctx := context.Background()
	// The users first, on the current schema (CreateUser writes columns
	// of later migrations); then back to version 8, as the Downs of
	// migrations 18, 17, 16, 15, 14, 13, 12, 11, 10 and 9 leave it (goose refuses to apply 9 below an
	// applied later one).
	for _, id := range []string{"alice", "bob"} {
		mustUser(t, s, id)
	}
	for _, q := range []string{
		`DROP INDEX audit_events_type_time`,
		`DELETE FROM goose_db_version WHERE version_id = 18`,
		`DROP INDEX oidc_login_sessions_user_id`,
		`DROP INDEX session_grants_user_id`,
		`DROP INDEX authorization_codes_user_id`,
		`DROP INDEX authorization_codes_client_id`,
		`DROP INDEX consents_client_id`,
		`DROP INDEX refresh_families_client_id`,
		`DELETE FROM goose_db_version WHERE version_id = 17`,
		`DROP INDEX logout_outbox_client_id`,
		`DROP INDEX session_grants_client_id`,
		`DELETE FROM goose_db_version WHERE version_id = 16`,
		`ALTER TABLE refresh_families DROP COLUMN client_registration`,
		`ALTER TABLE oauth_clients DROP COLUMN registration`,
		`DELETE FROM goose_db_version WHERE version_id = 15`,
		`ALTER TABLE session_grants DROP COLUMN sid`,
		`DELETE FROM goose_db_version WHERE version_id = 14`,
		`DROP TABLE pending_signing_key`,
		`DELETE FROM goose_db_version WHERE version_id = 13`,
		`DROP TABLE peers`,
		`DELETE FROM goose_db_version WHERE version_id = 12`,
		`ALTER TABLE users DROP COLUMN revocations`,
		`DELETE FROM goose_db_version WHERE version_id = 11`,
		`ALTER TABLE oauth_clients DROP COLUMN token_sid`,
		`ALTER TABLE refresh_families DROP COLUMN no_refresh`,
		`DELETE FROM goose_db_version WHERE version_id = 10`,
		`CREATE INDEX identities_user_id ON identities (user_id)`,
		`DROP INDEX identities_user_issuer`,
		`DELETE FROM goose_db_version WHERE version_id = 9`,
	} {
		if _, err := s.DB().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	const a, b, c = "https://a.example", "https://b.example", "https://c.example"
	links := []struct {
		issuer, subject, userID string
		created                 time.Time
	}{
		{a, "s-new", "alice", t0.Add(time.Hour)},
		{a, "s-old", "alice", t0},
		{a, "s-newer", "alice", t0.Add(2 * time.Hour)},
		{b, "s-b", "alice", t0.Add(time.Hour)},
		{c, "s-2", "alice", t0}, // same time: the lower subject stays
		{c, "s-1", "alice", t0},
		{a, "s-bob", "bob", t0.Add(time.Hour)},
	}
	for _, l := range links {
		id := user.Identity{Issuer: l.issuer, Subject: l.subject, UserID: l.userID, Provider: "corp", CreatedAt: l.created, LastLogin: l.created}
		if err := s.CreateIdentity(ctx, id); err != nil {
			t.Fatalf("CreateIdentity(%s %s): %v", l.issuer, l.subject, err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate over duplicate links: %v", err)
	}
	if err := s.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema after the migration: %v", err)
	}
	kept := func(userID string) []string {
		t.Helper()
		ids, err := s.UserIdentities(ctx, userID)
		if err != nil {
			t.Fatalf("UserIdentities(%s): %v", userID, err)
		}
		out := []string{}
		for _, id := range ids {
			out = append(out, id.Issuer+" "+id.Subject)
		}
		slices.Sort(out)
		return out
	}
	if got, want := kept("alice"), []string{a + " s-old", b + " s-b", c + " s-1"}; !slices.Equal(got, want) {
		t.Errorf("alice's links after the migration = %v, want %v", got, want)
	}
	if got, want := kept("bob"), []string{a + " s-bob"}; !slices.Equal(got, want) {
		t.Errorf("bob's links after the migration = %v, want %v", got, want)
	}
	evs, err := s.ListAudit(ctx, audit.Filter{Type: "oidc.unlinked"})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	removed := []string{}
	for _, e := range evs {
		if e.UserID != "alice" || e.Username != "alice" || e.Details["reason"] != "duplicate_issuer" ||
			e.Details["via"] != "migration" || e.Details["provider"] != "corp" || e.Time.IsZero() {
			t.Errorf("oidc.unlinked event = %+v, want alice's, reason duplicate_issuer, via migration, provider corp, a time", e)
		}
		removed = append(removed, e.Details["issuer"]+" "+e.Details["subject"])
	}
	slices.Sort(removed)
	if want := []string{a + " s-new", a + " s-newer", c + " s-2"}; !slices.Equal(removed, want) {
		t.Errorf("oidc.unlinked events name %v, want %v", removed, want)
	}
	// The index holds from now on.
	if err := s.CreateIdentity(ctx, user.Identity{Issuer: b, Subject: "s-b2", UserID: "alice", CreatedAt: t0, LastLogin: t0}); !errors.Is(err, user.ErrIssuerLinked) {
		t.Errorf("a second link of an issuer after the migration: %v, want user.ErrIssuerLinked", err)
	}
}

func testSessionCascade(t *testing.T, s Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	mustUser(t, s, "bob")
	for _, r := range []session.Record{newSession("a1", "alice"), newSession("a2", "alice"), newSession("b1", "bob")} {
		if err := s.CreateSession(ctx, r); err != nil {
			t.Fatalf("CreateSession(%s): %v", r.ID, err)
		}
	}
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	for _, id := range []string{"a1", "a2"} {
		if _, err := s.Session(ctx, id); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("Session(%s) of deleted user error = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := s.Session(ctx, "b1"); err != nil {
		t.Fatalf("Session(b1) of other user: %v", err)
	}
}

func testSessionUnknownUser(t *testing.T, s Store) {
	if err := s.CreateSession(context.Background(), newSession("s1", "ghost")); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("CreateSession(unknown user) error = %v, want ErrNotFound", err)
	}
}

func testRevokeUnknownFamily(t *testing.T, s Store) {
	if err := s.RevokeFamily(context.Background(), "nope", time.Now()); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("RevokeFamily(unknown) error = %v, want ErrNotFound", err)
	}
}

// A client registered again under a deleted client's ID must not inherit
// what the deleted one was given: its consents, pending codes, the record
// of the browser sessions it got tokens in (which /account shows and
// back-channel logout follows) and its queued logouts go with it, so the
// new registrant is never told the old one's users (sub, sid).
func testDeleteClientDropsGrants(t *testing.T, s Store) {
	ctx := context.Background()
	mustUser(t, s, "u1")
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, id := range []string{"gone", "kept"} {
		if err := s.CreateClient(ctx, client.Client{ID: id, Type: client.Public, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		if err := s.AddConsent(ctx, authserver.Consent{UserID: "u1", ClientID: id, Scopes: []string{"openid"}, GrantedAt: now}); err != nil {
			t.Fatalf("AddConsent: %v", err)
		}
		if err := s.CreateCode(ctx, authserver.Code{Hash: id + "-code", ClientID: id, UserID: "u1", RedirectURI: "https://a.example/cb",
			Challenge: "c", FamilyID: id + "-fam", AuthTime: now, IssuedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatalf("CreateCode: %v", err)
		}
		for _, sess := range []string{"s-live", "s-ended"} {
			if err := s.AddSessionGrant(ctx, authserver.SessionGrant{FamilyID: id + "-" + sess, SessionID: sess, ClientID: id,
				UserID: "u1", CreatedAt: now}); err != nil {
				t.Fatalf("AddSessionGrant: %v", err)
			}
		}
	}
	// s-ended ended before the deletion: a logout is queued for each client.
	if _, err := s.EndSession(ctx, "s-ended", now, now.Add(10*time.Minute)); err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	if err := s.DeleteClient(ctx, "gone"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if _, err := s.Consent(ctx, "u1", "gone"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("consent to a deleted client: error = %v, want ErrNotFound", err)
	}
	if _, err := s.RedeemCode(ctx, "gone-code", now); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("code of a deleted client: error = %v, want ErrNotFound", err)
	}
	if _, err := s.Consent(ctx, "u1", "kept"); err != nil {
		t.Errorf("consent to another client: %v", err)
	}
	if _, err := s.RedeemCode(ctx, "kept-code", now); err != nil {
		t.Errorf("code of another client: %v", err)
	}
	grants, err := s.UserSessionGrants(ctx, "u1")
	if err != nil {
		t.Fatalf("UserSessionGrants: %v", err)
	}
	var granted []string
	for _, g := range grants {
		granted = append(granted, g.ClientID+"/"+g.SessionID)
	}
	if got, want := strings.Join(granted, " "), "kept/s-live"; got != want {
		t.Errorf("session grants after the deletion = %q, want %q (none of the deleted client)", got, want)
	}
	due, err := s.ClaimLogouts(ctx, "owner", now, time.Minute, 10)
	if err != nil {
		t.Fatalf("ClaimLogouts: %v", err)
	}
	var queued []string
	for _, d := range due {
		queued = append(queued, d.ClientID)
	}
	if got, want := strings.Join(queued, " "), "kept"; got != want {
		t.Errorf("queued logouts after the deletion = %q, want %q (none for the deleted client)", got, want)
	}
}

// A consent saved while its client is deleted ends as if one ran after
// the other: saved first, the deletion drops it; saved after, it is
// refused (auth.ErrNotFound). No consent of a deleted client remains for a
// client registered again under its ID to inherit.
func testConsentRacingDeleteClient(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	users := make([]string, storetest.Workers)
	for i := range users {
		users[i] = fmt.Sprintf("u%d", i)
		mustUser(t, s, users[i])
	}
	for round := range 5 {
		if err := s.CreateClient(ctx, client.Client{ID: "app", Type: client.Public, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatalf("round %d: CreateClient: %v", round, err)
		}
		storetest.Together(storetest.Workers, func(i int) {
			if i == 0 {
				if err := s.DeleteClient(ctx, "app"); err != nil {
					t.Errorf("round %d: DeleteClient: %v", round, err)
				}
				return
			}
			err := s.AddConsent(ctx, authserver.Consent{UserID: users[i], ClientID: "app", Scopes: []string{"openid"}, GrantedAt: now, StoredClient: true})
			if err != nil && !errors.Is(err, auth.ErrNotFound) {
				t.Errorf("round %d: AddConsent(%s): %v, want nil or ErrNotFound", round, users[i], err)
			}
		})
		for _, u := range users {
			if c, err := s.Consent(ctx, u, "app"); !errors.Is(err, auth.ErrNotFound) {
				t.Fatalf("round %d: consent of %s to the deleted client = %+v, %v; want ErrNotFound", round, u, c, err)
			}
		}
	}
	err := s.AddConsent(ctx, authserver.Consent{UserID: "u1", ClientID: "app", Scopes: []string{"openid"}, GrantedAt: now, StoredClient: true})
	if !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("AddConsent to a deleted client = %v, want ErrNotFound", err)
	}
	if _, err := s.Consent(ctx, "u1", "app"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("consent to a deleted client after a refused add: error = %v, want ErrNotFound", err)
	}
	// Registered again: it starts without consents, and gets new ones.
	if err := s.CreateClient(ctx, client.Client{ID: "app", Type: client.Public, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("CreateClient again: %v", err)
	}
	if got, err := s.UserConsents(ctx, "u1"); err != nil || len(got) != 0 {
		t.Errorf("consents of u1 to a client registered again = %+v, %v; want none", got, err)
	}
	if err := s.AddConsent(ctx, authserver.Consent{UserID: "u1", ClientID: "app", Scopes: []string{"openid"}, GrantedAt: now, StoredClient: true}); err != nil {
		t.Errorf("AddConsent to the client registered again: %v", err)
	}
}

// clientFamily is the first token of family id for client app,
// registration reg, of user u1.
func clientFamily(id, reg string, now time.Time) token.Refresh {
	return token.Refresh{Hash: id + "-h", FamilyID: id, UserID: "u1", ClientID: "app", ClientRegistration: reg,
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(time.Hour)}
}

// A family of a stored client records the registration it was granted to
// and is stored only while that registration is stored: a code redeemed
// (or a password grant run) while its client was deleted stores no family
// once the deletion has committed, and none for the client registered
// again under the same ID, which is another registration. A config
// client's family (no registration) needs no stored client.
func testFamilyNeedsClientRegistration(t *testing.T, s Store) {
	ctx := context.Background()
	mustUser(t, s, "u1")
	now := time.Now().UTC().Truncate(time.Microsecond)
	register := func(reg string) {
		t.Helper()
		if err := s.CreateClient(ctx, client.Client{ID: "app", Type: client.Public, Registration: reg, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatalf("CreateClient(%s): %v", reg, err)
		}
	}
	stored := func(id, reg string) {
		t.Helper()
		if err := s.CreateRefresh(ctx, clientFamily(id, reg, now)); err != nil {
			t.Fatalf("CreateRefresh(%s of registration %q): %v", id, reg, err)
		}
		if got, err := s.Refresh(ctx, id+"-h"); err != nil || got.ClientRegistration != reg {
			t.Errorf("Refresh(%s) = registration %q, %v; want %q", id, got.ClientRegistration, err, reg)
		}
	}
	refused := func(id, reg string) {
		t.Helper()
		if err := s.CreateRefresh(ctx, clientFamily(id, reg, now)); !errors.Is(err, auth.ErrRevoked) {
			t.Errorf("CreateRefresh(%s of registration %q) error = %v, want ErrRevoked", id, reg, err)
		}
		if got, err := s.Refresh(ctx, id+"-h"); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("Refresh(%s) after a refused CreateRefresh = %+v, %v; want ErrNotFound", id, got, err)
		}
		if f, err := s.Family(ctx, id); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("Family(%s) after a refused CreateRefresh = %+v, %v; want ErrNotFound", id, f, err)
		}
	}
	register("r1")
	if c, err := s.Client(ctx, "app"); err != nil || c.Registration != "r1" {
		t.Fatalf("Client(app) = registration %q, %v; want r1", c.Registration, err)
	}
	stored("f-live", "r1")
	if err := s.DeleteClient(ctx, "app"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	refused("f-late", "r1")
	register("r2")
	refused("f-old", "r1")
	stored("f-new", "r2")
	// A config client is in no store: its family has no registration.
	cfg := clientFamily("f-config", "", now)
	cfg.ClientID = "config-app"
	if err := s.CreateRefresh(ctx, cfg); err != nil {
		t.Errorf("CreateRefresh(config client's family): %v", err)
	}
}

// A family stored while its client is deleted ends as if one ran after
// the other: stored first, the revocation of the client's families that
// follows the deletion (token.Grants.RevokeClient) finds it; stored after,
// it is refused. No live family of a deleted client remains.
func testFamilyRacingDeleteClient(t *testing.T, s Store) {
	ctx := context.Background()
	mustUser(t, s, "u1")
	now := time.Now().UTC().Truncate(time.Microsecond)
	for round := range 5 {
		reg := fmt.Sprintf("r%d", round)
		if err := s.CreateClient(ctx, client.Client{ID: "app", Type: client.Public, Registration: reg, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatalf("round %d: CreateClient: %v", round, err)
		}
		storetest.Together(storetest.Workers, func(i int) {
			if i == 0 {
				if err := s.DeleteClient(ctx, "app"); err != nil {
					t.Errorf("round %d: DeleteClient: %v", round, err)
				}
				if _, err := s.RevokeClientFamilies(ctx, "app", now); err != nil {
					t.Errorf("round %d: RevokeClientFamilies: %v", round, err)
				}
				return
			}
			err := s.CreateRefresh(ctx, clientFamily(fmt.Sprintf("f%d-%d", round, i), reg, now))
			if err != nil && !errors.Is(err, auth.ErrRevoked) {
				t.Errorf("round %d: CreateRefresh: %v, want nil or ErrRevoked", round, err)
			}
		})
		fams, err := s.UserFamilies(ctx, "u1", now)
		if err != nil {
			t.Fatalf("round %d: UserFamilies: %v", round, err)
		}
		for _, f := range fams {
			if f.RevokedAt.IsZero() {
				t.Fatalf("round %d: family %s of the deleted client is live", round, f.ID)
			}
		}
	}
}

func testSuccessorOtherFamily(t *testing.T, s Store) {
	ctx := context.Background()
	mustUser(t, s, "u1")
	now := time.Now().UTC().Truncate(time.Microsecond)
	first := token.Refresh{Hash: "h0", FamilyID: "f1", UserID: "u1", IssuedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(time.Hour)}
	if err := s.CreateRefresh(ctx, first); err != nil {
		t.Fatalf("CreateRefresh: %v", err)
	}
	next := token.Refresh{Hash: "h1", FamilyID: "f2", UserID: "u1", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if _, err := s.RotateRefresh(ctx, "h0", now, next); !errors.Is(err, auth.ErrInvalidInput) {
		t.Fatalf("RotateRefresh(successor in other family) error = %v, want ErrInvalidInput", err)
	}
	// Refused means nothing happened: the token is still unused.
	got, err := s.Refresh(ctx, "h0")
	if err != nil || !got.UsedAt.IsZero() {
		t.Fatalf("Refresh(h0) = UsedAt %v, %v; want unused", got.UsedAt, err)
	}
}

func testBadCursor(t *testing.T, s Store) {
	for _, cursor := range []string{"x", "-1", "1.5"} {
		if _, _, err := s.Revocations(context.Background(), cursor, time.Now(), 0); !errors.Is(err, auth.ErrInvalidInput) {
			t.Errorf("Revocations(%q) error = %v, want ErrInvalidInput", cursor, err)
		}
	}
}

func testClosed(t *testing.T, s Store) {
	ctx := context.Background()
	mustUser(t, s, "u1")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	now := time.Now()
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"UserByID", func() error { _, err := s.UserByID(ctx, "u1"); return err }},
		{"CreateUser", func() error { return createUser(ctx, s, "u2") }},
		{"Session", func() error { _, err := s.Session(ctx, "s1"); return err }},
		{"RotateRefresh", func() error { _, err := s.RotateRefresh(ctx, "h", now, token.Refresh{Hash: "n"}); return err }},
		{"Revoked", func() error { _, err := s.Revoked(ctx, revocation.KindJTI, "j", now); return err }},
		{"Keys", func() error { _, err := s.Keys(ctx); return err }},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, auth.ErrUnavailable) {
				t.Fatalf("%s on closed store error = %v, want ErrUnavailable", tt.name, err)
			}
		})
	}
}

// testStuckWrite: a write that waits behind another writer which does not
// finish (a PostgreSQL row lock held by a stuck transaction, SQLite's one
// write connection held) must fail closed with auth.ErrUnavailable once the
// store's timeout passes, not hang its request for as long as the lock is
// held.
func testStuckWrite(t *testing.T, s Store) {
	ctx := context.Background()
	mustUser(t, s, "u1")
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("BeginTx: %v", err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	if _, err := tx.ExecContext(ctx, s.Rebind(`UPDATE users SET disabled = disabled WHERE id = ?`), "u1"); err != nil {
		t.Fatalf("lock u1: %v", err)
	}
	s.SetTimeout(200 * time.Millisecond)
	calls := []struct {
		name string
		call func() error
	}{
		{"DeleteUser", func() error { return s.DeleteUser(ctx, "u1") }},
		{"ReplaceRecoveryCodes", func() error { return s.ReplaceRecoveryCodes(ctx, "u1", []string{"h"}, time.Now()) }},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- tt.call() }()
			select {
			case err := <-done:
				if !errors.Is(err, auth.ErrUnavailable) {
					t.Fatalf("%s behind a held lock: error = %v, want ErrUnavailable", tt.name, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s still waiting behind a held lock after 30s (store timeout 200ms)", tt.name)
			}
		})
	}
}

// testPurgeBacklog: purges work in batches (each a short statement of its
// own, so that neither the store's timeout nor SQLite's one writer is held
// by a large backlog); every expired row still goes in one call.
func testPurgeBacklog(t *testing.T, s Store) {
	ctx := context.Background()
	mustUser(t, s, "u1")
	const expired = 2*sqldb.PurgeBatch + 7
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	for i := range expired {
		r := newSession(fmt.Sprintf("old%04d", i), "u1")
		r.IdleExpiresAt = past
		if err := s.CreateSession(ctx, r); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	if err := s.CreateSession(ctx, newSession("live", "u1")); err != nil {
		t.Fatalf("CreateSession(live): %v", err)
	}
	n, err := s.DeleteExpiredSessions(ctx, time.Now())
	if err != nil || n != expired {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want %d, nil", n, err, expired)
	}
	left, err := s.UserSessions(ctx, "u1")
	if err != nil || len(left) != 1 || left[0].ID != "live" {
		t.Fatalf("sessions left = %v, %v; want only live", left, err)
	}
}
