package sqldbtest

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
)

// PurgeSelects are the row searches of the purges whose table grows with
// traffic and that run every 5 minutes on every instance, as sqldb's purge
// runs them (with the placeholders of the "?" dialect). Each must search an
// index on its expiry column, not scan the table. Expired sessions are
// not listed: their idle expiry moves with every session touch, and an
// index on it would be rewritten on each.
var PurgeSelects = []struct{ Table, Query string }{
	{"revocations", `SELECT seq FROM revocations WHERE until <= ? LIMIT ?`},
	{"session_grants", `SELECT family_id FROM session_grants WHERE created_at < ? LIMIT ?`},
	{"oidc_logout_jtis", `SELECT provider, jti FROM oidc_logout_jtis WHERE expires_at <= ? LIMIT ?`},
	{"oidc_login_sessions", `SELECT session_id FROM oidc_login_sessions WHERE expires_at <= ? LIMIT ?`},
	{"logout_outbox", `SELECT id FROM logout_outbox WHERE deadline < ? LIMIT ?`},
	{"authorization_codes", `SELECT hash FROM authorization_codes WHERE expires_at <= ? LIMIT ?`},
	{"refresh_families", `SELECT id FROM refresh_families WHERE expires_at <= ? ORDER BY expires_at, id LIMIT ?`},
	{"refresh_family_revocations", `SELECT family_id FROM refresh_family_revocations WHERE revoked_at <= ? LIMIT ?`},
}

// ClientDeletes are the statements of sqldb's DeleteClient whose table grows
// with traffic (a row per app token granted in a browser session, a row per
// queued back-channel logout, a consent per user of the client, a code per
// authorization of the last minute), with the placeholders of the "?"
// dialect. Each must search an index on client_id (migrations 16 and 17),
// not read the whole table inside the transaction that holds the client's
// row.
var ClientDeletes = []struct{ Table, Query string }{
	{"session_grants", `DELETE FROM session_grants WHERE client_id = ?`},
	{"logout_outbox", `DELETE FROM logout_outbox WHERE client_id = ?`},
	{"consents", `DELETE FROM consents WHERE client_id = ?`},
	{"authorization_codes", `DELETE FROM authorization_codes WHERE client_id = ?`},
}

// ColumnSearches are the statements that find the rows of one user, client
// or refresh family by a column that is not the table's primary key (or
// not its leading column), on tables that grow with traffic, with the
// placeholders of the "?" dialect and arguments for them. Each must search
// an index whose leading column is Column, not read the whole table.
//
// The DELETEs of a user's rows are the ones PostgreSQL's and SQLite's
// ON DELETE CASCADE run when a user (or a refresh family) is deleted, one
// per referencing table: every foreign key of the schema is listed here.
var ColumnSearches = []struct {
	Table, Column, Query string
	Args                 []any
}{
	// RevokeClientFamilies: deleting a client and changing its secret
	// (migration 17).
	{"refresh_families", "client_id", `UPDATE refresh_families SET revoked_at = ?
			 WHERE client_id = ? AND revoked_at IS NULL AND expires_at > ? RETURNING id, expires_at, no_refresh`,
		[]any{int64(1), "web", int64(1)}},
	// UserSessionGrants: the sessions view and RP-initiated logout
	// (migration 17).
	{"session_grants", "user_id",
		`SELECT family_id, session_id, sid, client_id, user_id, created_at FROM session_grants WHERE user_id = ? ORDER BY created_at, family_id`,
		[]any{"u1"}},
	// RevokeUserFamilies: disabling or deleting a user, a password change,
	// logout everywhere.
	{"refresh_families", "user_id", `UPDATE refresh_families SET revoked_at = ?
			 WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? RETURNING id, expires_at, no_refresh`,
		[]any{int64(1), "u1", int64(1)}},
	// ON DELETE CASCADE of users (id).
	{"sessions", "user_id", `DELETE FROM sessions WHERE user_id = ?`, []any{"u1"}},
	{"refresh_families", "user_id", `DELETE FROM refresh_families WHERE user_id = ?`, []any{"u1"}},
	{"identities", "user_id", `DELETE FROM identities WHERE user_id = ?`, []any{"u1"}},
	{"authorization_codes", "user_id", `DELETE FROM authorization_codes WHERE user_id = ?`, []any{"u1"}}, // migration 17
	{"consents", "user_id", `DELETE FROM consents WHERE user_id = ?`, []any{"u1"}},
	{"mfa_totp", "user_id", `DELETE FROM mfa_totp WHERE user_id = ?`, []any{"u1"}},
	{"mfa_totp_steps", "user_id", `DELETE FROM mfa_totp_steps WHERE user_id = ?`, []any{"u1"}},
	{"mfa_recovery_codes", "user_id", `DELETE FROM mfa_recovery_codes WHERE user_id = ?`, []any{"u1"}},
	{"webauthn_credentials", "user_id", `DELETE FROM webauthn_credentials WHERE user_id = ?`, []any{"u1"}},
	{"oidc_login_sessions", "user_id", `DELETE FROM oidc_login_sessions WHERE user_id = ?`, []any{"u1"}}, // migration 17
	// ON DELETE CASCADE of refresh_families (id).
	{"refresh_tokens", "family_id", `DELETE FROM refresh_tokens WHERE family_id = ?`, []any{"f1"}},
}

// RunColumnSearches runs searches on every ColumnSearches entry, each a
// subtest that fails unless the store's plan searches an index on its
// column, and fails when a foreign key of the schema (the table and column
// rows foreignKeys selects on db) has no entry: the cascade of a new
// foreign key must be indexed too.
func RunColumnSearches(t *testing.T, db *sql.DB, foreignKeys string, searches func(t *testing.T, table, column, query string, args []any)) {
	t.Helper()
	listed := map[string]bool{}
	for _, q := range ColumnSearches {
		listed[q.Table+"."+q.Column] = true
		t.Run(strings.Fields(q.Query)[0]+" "+q.Table+"."+q.Column, func(t *testing.T) {
			searches(t, q.Table, q.Column, q.Query, q.Args)
		})
	}
	rows, err := db.QueryContext(context.Background(), foreignKeys)
	if err != nil {
		t.Fatalf("foreign keys: %v", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatalf("scan foreign key: %v", err)
		}
		n++
		if !listed[table+"."+column] {
			t.Errorf("foreign key %s.%s: its cascade is not in sqldbtest.ColumnSearches", table, column)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("foreign keys: %v", err)
	}
	if n == 0 {
		t.Fatal("no foreign key found in the schema")
	}
}

// AuditTypeListings are listings of the audit trail by event type
// (`gatehouse audit --type`, the admin API's and console's type filter):
// a first page, a later page (the (time, id) cursor) and a time range.
// Run sqldb.ListAuditQuery on each Filter for ListAudit's statement. Each
// must search audit_events_type_time (migration 18) in ListAudit's order:
// the time index would read every event of every other type, newest
// first, until it found a page of a rare one.
var AuditTypeListings = []struct {
	Name   string
	Filter audit.Filter
}{
	{"first page", audit.Filter{Type: audit.RefreshReuse}},
	{"cursor page", audit.Filter{Type: audit.RefreshReuse,
		Before: audit.Cursor{Time: time.Unix(1_700_000_000, 0), ID: 42}}},
	{"since", audit.Filter{Type: audit.RefreshReuse, Since: time.Unix(1_700_000_000, 0)}},
	{"since, until and cursor", audit.Filter{Type: audit.RefreshReuse, Since: time.Unix(1_700_000_000, 0),
		Until: time.Unix(1_700_086_400, 0), Before: audit.Cursor{Time: time.Unix(1_700_003_600, 0), ID: 42}, Limit: 50}},
}
