// Package sqlite is gatehouse's embedded store: every store interface on one
// SQLite file through modernc.org/sqlite (pure Go, no cgo), so a single
// binary runs with no other process. The SQL itself lives in store/sqldb;
// this package opens the file the way one writer and many readers need it
// (WAL, busy timeout, BEGIN IMMEDIATE, one write connection), maps SQLite
// errors onto auth's sentinels and carries the SQLite migrations.
package sqlite
