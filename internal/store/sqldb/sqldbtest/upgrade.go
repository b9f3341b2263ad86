package sqldbtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// release010Schema is the schema version of gatehouse 0.1.0, the first
// release: its database has migration 1 alone.
const release010Schema = 1

// RunUpgradeTests checks that a database an earlier release filled keeps
// its data through today's migrations. newEmpty must return a store on an
// empty database that has not been migrated, closed in t.Cleanup.
func RunUpgradeTests(t *testing.T, newEmpty func(t *testing.T) Store) {
	t.Run("Release010DataSurvivesTheUpgrade", func(t *testing.T) {
		testUpgradeFrom010(t, newEmpty(t))
	})
	t.Run("FamiliesKeepTheirClientRegistrationThroughMigration15", func(t *testing.T) {
		testUpgradeClientRegistrations(t, newEmpty(t))
	})
}

// testUpgradeClientRegistrations: migration 15 gives every stored client a
// registration and every family the registration it was granted to. A
// family a stored client got since it was registered is that client's and
// keeps refreshing for it; one older than the client was an earlier
// registration's (a client deleted and registered again under its ID) and
// is no registration's; one of a client not stored (a config client) has
// none, as a config client's new families do, and keeps refreshing for it.
func testUpgradeClientRegistrations(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.MigrateTo(ctx, 14); err != nil {
		t.Fatalf("MigrateTo(14): %v", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	us := func(t time.Time) int64 { return t.UnixMicro() }
	const family = `INSERT INTO refresh_families (id, user_id, client_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`
	const tok = `INSERT INTO refresh_tokens (hash, family_id, user_id, client_id, scope, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (id, username, username_key, roles, disabled, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{"u-alice", "alice", "alice", `[]`, false, "", us(now), us(now)}},
		{`INSERT INTO oauth_clients (id, type, created_at, updated_at) VALUES (?, ?, ?, ?)`,
			[]any{"app", "public", us(now.Add(-time.Hour)), us(now.Add(-time.Hour))}},
		{family, []any{"fam-app", "u-alice", "app", us(now), us(now.Add(720 * time.Hour))}},
		{tok, []any{"rt-app", "fam-app", "u-alice", "app", "", us(now), us(now.Add(336 * time.Hour))}},
		{family, []any{"fam-earlier", "u-alice", "app", us(now.Add(-2 * time.Hour)), us(now.Add(720 * time.Hour))}},
		{tok, []any{"rt-earlier", "fam-earlier", "u-alice", "app", "", us(now), us(now.Add(336 * time.Hour))}},
		{family, []any{"fam-config", "u-alice", "config-app", us(now), us(now.Add(720 * time.Hour))}},
		{tok, []any{"rt-config", "fam-config", "u-alice", "config-app", "", us(now), us(now.Add(336 * time.Hour))}},
	} {
		if _, err := s.DB().ExecContext(ctx, s.Rebind(q.sql), q.args...); err != nil {
			t.Fatalf("schema 14 row: %s: %v", q.sql, err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate from schema 14: %v", err)
	}
	app, err := s.Client(ctx, "app")
	if err != nil || app.Registration == "" {
		t.Fatalf("Client(app) after the upgrade = registration %q, %v; want one", app.Registration, err)
	}
	for _, tt := range []struct{ hash, want string }{{"rt-app", app.Registration}, {"rt-config", ""}} {
		r, err := s.Refresh(ctx, tt.hash)
		if err != nil || r.ClientRegistration != tt.want {
			t.Errorf("Refresh(%s) after the upgrade = registration %q, %v; want %q", tt.hash, r.ClientRegistration, err, tt.want)
		}
		next := token.Refresh{Hash: tt.hash + "-next", IssuedAt: now.Add(time.Second), ExpiresAt: now.Add(336 * time.Hour)}
		if _, err := s.RotateRefresh(ctx, tt.hash, now.Add(time.Second), next); err != nil {
			t.Errorf("RotateRefresh(%s) after the upgrade: %v", tt.hash, err)
		}
	}
	if r, err := s.Refresh(ctx, "rt-earlier"); err != nil || r.ClientRegistration == "" || r.ClientRegistration == app.Registration {
		t.Errorf("Refresh(rt-earlier) after the upgrade = registration %q, %v; want neither app's %q nor a config client's", r.ClientRegistration, err, app.Registration)
	}
	// The client gets new families under its registration.
	fresh := token.Refresh{Hash: "rt-fresh", FamilyID: "fam-fresh", UserID: "u-alice", ClientID: "app", ClientRegistration: app.Registration,
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(time.Hour)}
	if err := s.CreateRefresh(ctx, fresh); err != nil {
		t.Errorf("CreateRefresh for the upgraded client: %v", err)
	}
}

// testUpgradeFrom010 builds 0.1.0's schema with the migrations up to its
// version, writes rows as 0.1.0 wrote them (its columns only), migrates to
// the latest version and reads them back through today's store: users log
// in with their stored hash, a session stays valid, a live refresh token
// still rotates and a used one is still a replay, the signing key survives
// and is still the active one, and the audit trail is kept.
func testUpgradeFrom010(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.MigrateTo(ctx, release010Schema); err != nil {
		t.Fatalf("MigrateTo(%d): %v", release010Schema, err)
	}
	if current, _, err := s.MigrationVersion(ctx); err != nil || current != release010Schema {
		t.Fatalf("MigrationVersion after MigrateTo = %d, %v; want %d", current, err, release010Schema)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	us := func(t time.Time) int64 { return t.UnixMicro() }
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (id, username, username_key, roles, disabled, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{"u-alice", "Alice", "alice", `["user","admin"]`, false, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", us(now), us(now)}},
		{`INSERT INTO users (id, username, username_key, roles, disabled, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{"u-carol", "carol", "carol", `[]`, true, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$Y2Fyb2w", us(now), us(now)}},
		{`INSERT INTO sessions (id, user_id, created_at, last_seen_at, idle_expires_at, expires_at, ip, user_agent, method) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{"sess-hash", "u-alice", us(now), us(now), us(now.Add(30 * time.Minute)), us(now.Add(24 * time.Hour)), "192.0.2.1", "curl/8", "password"}},
		{`INSERT INTO refresh_families (id, user_id, client_id, created_at, expires_at, rotated_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, NULL)`,
			[]any{"fam-1", "u-alice", "gatehouse", us(now), us(now.Add(720 * time.Hour)), us(now)}},
		{`INSERT INTO refresh_tokens (hash, family_id, user_id, client_id, scope, issued_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{"rt-used", "fam-1", "u-alice", "gatehouse", "", us(now), us(now.Add(336 * time.Hour)), us(now)}},
		{`INSERT INTO refresh_tokens (hash, family_id, user_id, client_id, scope, issued_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
			[]any{"rt-live", "fam-1", "u-alice", "gatehouse", "", us(now), us(now.Add(336 * time.Hour))}},
		{`INSERT INTO signing_keys (id, algorithm, private, public, encrypted, created_at, activated_at, retires_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
			[]any{"kid-1", "ES256", []byte("private-der"), []byte("public-der"), false, us(now), us(now)}},
		{`UPDATE key_state SET active_id = ? WHERE id = 1`, []any{"kid-1"}},
		{`INSERT INTO audit_events (time, type, user_id, username, ip, request_id, details) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			[]any{us(now), "user.created", "u-alice", "Alice", "", "", `{"via":"cli"}`}},
	} {
		if _, err := s.DB().ExecContext(ctx, s.Rebind(q.sql), q.args...); err != nil {
			t.Fatalf("0.1.0 row: %s: %v", q.sql, err)
		}
	}

	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate from 0.1.0's schema: %v", err)
	}
	if err := s.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema after the upgrade: %v", err)
	}

	alice, err := s.UserByName(ctx, "alice")
	if err != nil {
		t.Fatalf("UserByName(alice) after the upgrade: %v", err)
	}
	if alice.ID != "u-alice" || alice.Username != "Alice" || alice.Disabled ||
		!slices.Equal(alice.Roles, []string{"user", "admin"}) || alice.PasswordHash != "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA" {
		t.Errorf("alice after the upgrade = %+v, want her id, name, roles and password hash, enabled", alice)
	}
	if carol, err := s.UserByName(ctx, "carol"); err != nil || !carol.Disabled {
		t.Errorf("carol after the upgrade = %+v, %v; want her, still disabled", carol, err)
	}
	sess, err := s.Session(ctx, "sess-hash")
	if err != nil || sess.UserID != "u-alice" || !sess.ExpiresAt.Equal(now.Add(24*time.Hour)) || sess.Method != "password" {
		t.Errorf("Session after the upgrade = %+v, %v; want alice's, expiring at %v", sess, err, now.Add(24*time.Hour))
	}
	next := token.Refresh{Hash: "rt-next", IssuedAt: now.Add(time.Second), ExpiresAt: now.Add(336 * time.Hour)}
	if prev, err := s.RotateRefresh(ctx, "rt-live", now.Add(time.Second), next); err != nil || prev.FamilyID != "fam-1" || prev.UserID != "u-alice" {
		t.Errorf("RotateRefresh(0.1.0's live token) = %+v, %v; want family fam-1 of alice", prev, err)
	}
	if _, err := s.RotateRefresh(ctx, "rt-used", now.Add(2*time.Second), token.Refresh{Hash: "rt-other", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); !errors.Is(err, auth.ErrReused) {
		t.Errorf("RotateRefresh(0.1.0's used token) error = %v, want auth.ErrReused", err)
	}
	ks, err := s.Keys(ctx)
	if err != nil {
		t.Fatalf("Keys after the upgrade: %v", err)
	}
	var found bool
	for _, k := range ks {
		if k.ID == "kid-1" {
			found = true
			if k.Algorithm != "ES256" || string(k.Private) != "private-der" || string(k.Public) != "public-der" || k.Pending || !k.RetiresAt.IsZero() {
				t.Errorf("0.1.0's signing key after the upgrade = %+v, want it unchanged and not retiring", k)
			}
		}
	}
	if !found {
		t.Errorf("Keys after the upgrade = %+v, want 0.1.0's kid-1", ks)
	}
	// The active key is still 0.1.0's: a rotation that expects it wins.
	kid2 := keys.Key{ID: "kid-2", Algorithm: "ES256", Private: []byte("p2"), Public: []byte("q2"), CreatedAt: now, ActivatedAt: now}
	if err := s.RotateKey(ctx, "kid-1", kid2, now.Add(10*time.Minute)); err != nil {
		t.Errorf("RotateKey from 0.1.0's active key after the upgrade: %v", err)
	}
	evs, err := s.ListAudit(ctx, audit.Filter{Type: "user.created"})
	if err != nil || len(evs) != 1 || evs[0].Username != "Alice" || evs[0].Details["via"] != "cli" {
		t.Errorf("ListAudit(user.created) after the upgrade = %+v, %v; want 0.1.0's event", evs, err)
	}
}
