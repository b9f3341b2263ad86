// Package sqldb is gatehouse's one SQL implementation of every store
// interface (users, sessions, refresh tokens, signing keys, audit,
// revocations, external identities) over database/sql. The SQL text is
// written once with "?" placeholders; a Dialect supplies what differs between
// SQLite and PostgreSQL — placeholder style, error classification, migrations
// — so that store/sqlite and store/postgres stay thin (Authelia's layout).
//
// Timestamps are BIGINT unix microseconds UTC (zero time <-> 0 or NULL),
// roles and audit details are JSON text.
package sqldb
