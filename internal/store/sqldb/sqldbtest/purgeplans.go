package sqldbtest

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
// queued back-channel logout), with the placeholders of the "?" dialect.
// Each must search an index on client_id (migration 16), not read the whole
// table inside the transaction that holds the client's row.
var ClientDeletes = []struct{ Table, Query string }{
	{"session_grants", `DELETE FROM session_grants WHERE client_id = ?`},
	{"logout_outbox", `DELETE FROM logout_outbox WHERE client_id = ?`},
}
