package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Dialect is what differs between SQL backends. The zero value of every
// optional field means "not needed".
type Dialect struct {
	// Name is used in error messages ("sqlite", "postgres").
	Name string
	// Goose is the goose dialect of the migrations.
	Goose goose.Dialect
	// Migrations holds the numbered goose SQL files at its root.
	Migrations fs.FS
	// DollarPlaceholders rewrites "?" to "$1", "$2", … (PostgreSQL).
	DollarPlaceholders bool
	// Classify maps a driver error to auth.ErrConflict (unique violation),
	// auth.ErrNotFound (foreign key to a missing row) or auth.ErrUnavailable
	// (the database did not answer), or returns nil when it is none of them.
	Classify func(error) error
	// DeadConn reports whether err says that the connection a statement
	// went out on was already dead: the server, a pooler in front of it or
	// the network closed it while it sat in the pool (a PgBouncer restart),
	// and the statement met the closed socket. The driver has closed that
	// connection and database/sql drops it, so a read or a BEGIN that fails
	// so runs again on another one (retryLimit). It must not match a timeout,
	// a canceled context, an error the server answered or a failed
	// connection attempt: a database that is down or slow fails the call at
	// once, as before. nil means never (SQLite has no connection to lose).
	DeadConn func(error) bool
	// LockRevocations, when set, runs inside the transaction that publishes a
	// revocation before the INSERT. PostgreSQL needs it so that sequence
	// order equals commit order and a reader's cursor never skips a row that
	// commits late; SQLite has one writer and needs nothing.
	LockRevocations string
	// LockUser, when set, is run first, with the user ID as its argument,
	// by a transaction that replaces a set of the user's rows (DELETE, then
	// INSERT). Under PostgreSQL's read committed two such transactions each
	// delete only what was committed before them and both insert, leaving
	// both sets; the user row's lock makes the second wait and then delete
	// the first one's rows. SQLite has one writer and needs nothing.
	LockUser string
	// LockClient, when set, replaces the SELECT by which a transaction that
	// writes a row naming a stored client (AddConsent, CreateRefresh) finds
	// that client and its registration, with its ID as argument, so that it
	// also locks the client row against deletion until the transaction
	// ends. Without the lock, under read committed, DeleteClient deletes
	// only the consents committed before it and a consent saved meanwhile
	// outlives its client, and a family stored meanwhile is missed by the
	// revocation that follows the deletion. SQLite has one writer and needs
	// nothing.
	LockClient string
	// MigrationLocker, when set, returns a goose locker so that instances
	// starting together migrate one at a time. It must hold no session
	// state (a pooler may run each statement on another server session).
	MigrationLocker func(ctx context.Context, db *sql.DB) (lock.Locker, error)
}

// Store implements every gatehouse store interface over database/sql.
// store/sqlite and store/postgres embed it.
type Store struct {
	read, write *sql.DB
	d           Dialect
	closed      atomic.Bool
	rebound     sync.Map // query text -> dialect query text
	observe     func(op string, d time.Duration)
	timeout     time.Duration
}

// DefaultTimeout bounds every store call (a statement, or a transaction with
// all its statements, including the wait for a connection and for locks):
// a database that stops answering, or a lock another session never
// releases, fails the call with auth.ErrUnavailable (503) instead of hanging
// its request. It equals SQLite's busy_timeout and PostgreSQL's connect
// timeout; Redis calls get 2 s per command.
const DefaultTimeout = 5 * time.Second

// PurgeBatch is the most rows one purge statement deletes: a purge deletes
// a backlog batch by batch, each a short statement of its own, so that it
// fits in the call timeout and lets other writers in between (SQLite has
// one writer).
const PurgeBatch = 500

// New returns a Store that runs reads on read and writes and transactions on
// write; they may be the same pool. SQLite passes a single-connection write
// pool so that writers queue in the process instead of failing with
// SQLITE_BUSY. The Store owns both pools: Close closes them.
func New(read, write *sql.DB, d Dialect) *Store {
	if d.Classify == nil {
		d.Classify = func(error) error { return nil }
	}
	return &Store{read: read, write: write, d: d, timeout: DefaultTimeout}
}

// SetTimeout replaces DefaultTimeout; 0 or less means no bound beyond the
// caller's context. Call it before use.
func (db *Store) SetTimeout(d time.Duration) { db.timeout = d }

// bound gives ctx the store's call timeout.
func (db *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if db.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, db.timeout)
}

// DB returns the pool used for writes, for callers that need raw access
// (bulk seeding in benchmarks, ad-hoc maintenance).
func (db *Store) DB() *sql.DB { return db.write }

// Rebind returns query with placeholders in the dialect's style.
func (db *Store) Rebind(query string) string {
	if !db.d.DollarPlaceholders {
		return query
	}
	if q, ok := db.rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	q := b.String()
	db.rebound.Store(query, q)
	return q
}

// Ping checks that the database answers; the error wraps auth.ErrUnavailable
// when it does not.
func (db *Store) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return db.wrap(db.d.Name+" ping", err)
	}
	if db.read != db.write {
		if err := db.read.PingContext(ctx); err != nil {
			return db.wrap(db.d.Name+" ping", err)
		}
	}
	return nil
}

// Close closes the pools. Every later call fails with auth.ErrUnavailable.
func (db *Store) Close() error {
	db.closed.Store(true)
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Migrate applies every pending migration (goose up). It is safe to call on
// an up-to-date database and from several instances at once: with a
// MigrationLocker they take turns; without one (SQLite, whose processes may
// share a file) a migration another process applied first fails here on
// its tables, and Migrate carries on from what that process applied for as
// long as the schema version moves. A database a newer gatehouse migrated
// is ErrSchemaNewer, before and after goose's up (which finds nothing to do
// on one): a newer instance may migrate while this one waits for the lock.
func (db *Store) Migrate(ctx context.Context) error {
	p, err := db.provider(ctx)
	if err != nil {
		return err
	}
	before, err := db.refuseNewer(ctx, p)
	if err != nil {
		return err
	}
	for {
		_, upErr := p.Up(ctx)
		if upErr == nil {
			break
		}
		now, err := db.refuseNewer(ctx, p)
		if err != nil || now <= before {
			// Nobody else made progress: the failure is this migration's own.
			return errors.Join(db.wrap("migrate "+db.d.Name, upErr), err)
		}
		before = now
	}
	_, err = db.refuseNewer(ctx, p)
	return err
}

// MigrateTo applies the pending migrations up to and including version
// (goose up-to), under the same lock as Migrate. It builds the schema of an
// earlier release, which upgrade tests fill with that release's rows before
// Migrate; gatehouse itself always migrates to the latest version.
func (db *Store) MigrateTo(ctx context.Context, version int64) error {
	p, err := db.provider(ctx)
	if err != nil {
		return err
	}
	if _, err := db.refuseNewer(ctx, p); err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return db.wrap("migrate "+db.d.Name, err)
	}
	return nil
}

// refuseNewer returns the database's schema version, or ErrSchemaNewer when
// the database has a migration this binary does not know.
func (db *Store) refuseNewer(ctx context.Context, p *goose.Provider) (int64, error) {
	current, latest, err := db.versions(ctx, p)
	if err != nil {
		return 0, err
	}
	return current, db.newer(current, latest)
}

// newer is ErrSchemaNewer, with both versions, when current is past latest.
func (db *Store) newer(current, latest int64) error {
	if current > latest {
		return fmt.Errorf("%s schema version %d, this gatehouse knows up to %d: %w", db.d.Name, current, latest, ErrSchemaNewer)
	}
	return nil
}

// ErrSchemaNewer: the database was migrated by a newer gatehouse than this
// one (a downgrade, or an old instance starting during a rolling upgrade).
// Its tables and rules are unknown to this binary, which must not run on
// them; migrations are never undone automatically.
var ErrSchemaNewer = errors.New("the store's schema is newer than this gatehouse: it was migrated by a newer version; run that version or a later one")

// ErrSchemaBehind: migrations this binary needs are not applied (serve
// --no-migrate before gatehouse migrate ran).
var ErrSchemaBehind = errors.New("the store's schema is older than this gatehouse: run gatehouse migrate")

// CheckSchema reports whether the database is at exactly the schema version
// this binary knows: ErrSchemaNewer or ErrSchemaBehind (with both versions
// in the message) when it is not.
func (db *Store) CheckSchema(ctx context.Context) error {
	current, latest, err := db.MigrationVersion(ctx)
	switch {
	case err != nil:
		return err
	case current > latest:
		return db.newer(current, latest)
	case current < latest:
		return fmt.Errorf("%s schema version %d, this gatehouse needs %d: %w", db.d.Name, current, latest, ErrSchemaBehind)
	}
	return nil
}

// MigrationVersion returns the applied schema version and the newest version
// the binary knows; they differ when Migrate has work to do.
func (db *Store) MigrationVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := db.provider(ctx)
	if err != nil {
		return 0, 0, err
	}
	return db.versions(ctx, p)
}

// versions is p's schema version of the database and the latest it knows.
func (db *Store) versions(ctx context.Context, p *goose.Provider) (current, latest int64, err error) {
	current, latest, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, db.wrap("migration version", err)
	}
	return current, latest, nil
}

func (db *Store) provider(ctx context.Context) (*goose.Provider, error) {
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if db.d.MigrationLocker != nil {
		l, err := db.d.MigrationLocker(ctx, db.write)
		if err != nil {
			return nil, db.wrap("migration lock", err)
		}
		opts = append(opts, goose.WithLocker(l))
	}
	p, err := goose.NewProvider(db.d.Goose, db.write, db.d.Migrations, opts...)
	if err != nil {
		return nil, fmt.Errorf("load %s migrations: %w", db.d.Name, err)
	}
	return p, nil
}

// SetObserver makes every store call report its operation name and
// latency to fn (Prometheus' store latency histogram). Call it before use.
func (db *Store) SetObserver(fn func(op string, d time.Duration)) { db.observe = fn }

// timed reports the latency of op since start to the observer, if any.
func (db *Store) timed(op string, start time.Time) {
	if db.observe != nil {
		db.observe(op, time.Since(start))
	}
}

// unlimitedRetries is retryLimit for a pool without a connection limit.
// Such a pool keeps at most its idle limit of connections between calls
// (database/sql's default is 2) for a restart to kill; 10, the PostgreSQL
// store's pool size, covers any idle limit a caller is likely to set, and
// each retry on a dead connection costs one failed write and read, not a
// wait.
const unlimitedRetries = 10

// deadConn reports whether err is the dialect's dead connection (DeadConn).
func (db *Store) deadConn(err error) bool {
	return err != nil && db.d.DeadConn != nil && db.d.DeadConn(err)
}

// retryLimit is how many times a call on pool runs again after meeting a
// dead connection: as many as the pool can hold connections. A restart can
// have killed every one of them, and each is dropped when met, so a call
// meets at most that many before it gets a fresh connection, whose failure
// to connect (a server still down) ends the call. The call timeout bounds
// the retries too. Read only once a call has met a dead connection.
func retryLimit(pool *sql.DB) int {
	if n := pool.Stats().MaxOpenConnections; n > 0 {
		return n
	}
	return unlimitedRetries
}

// onLiveConn runs call on pool, and again while it fails on a dead
// connection (DeadConn), at most retryLimit times: the one place a store
// call is run again, for the calls that ran nothing when they failed so (a
// read, a BEGIN) or whose second run is provably their first (execSame,
// deleteByKey, insertFresh).
func onLiveConn[T any](db *Store, pool *sql.DB, call func() (T, error)) (T, error) {
	v, err := call()
	for retries := 0; db.deadConn(err) && retries < retryLimit(pool); retries++ {
		v, err = call()
	}
	return v, err
}

// tx runs fn in a write transaction and commits when fn returns nil. fn
// must run its statements with the ctx it is given, which carries the
// call timeout. Errors from fn and from the driver come back wrapped by
// wrap(op, …).
//
// A BEGIN that meets a dead connection ran nothing, so it runs again on
// another connection (retryLimit). Once BEGIN succeeded nothing is run
// again: fn may have side effects, and a COMMIT that fails on a dead
// connection may have committed.
func (db *Store) tx(ctx context.Context, op string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	defer db.timed(op, time.Now())
	if db.closed.Load() {
		return db.wrap(op, sql.ErrConnDone)
	}
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tx, err := onLiveConn(db, db.write, func() (*sql.Tx, error) { return db.write.BeginTx(ctx, nil) })
	if err != nil {
		return db.wrap(op, err)
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return db.wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return db.wrap(op, err)
	}
	return nil
}

// lockUser takes the lock of the dialect's LockUser on userID in tx.
func (db *Store) lockUser(ctx context.Context, tx *sql.Tx, userID string) error {
	if db.d.LockUser == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, db.Rebind(db.d.LockUser), userID)
	return err
}

// lockClient finds stored client id in tx with the dialect's LockClient
// (a plain SELECT without one) and returns its registration; sql.ErrNoRows
// when it is not stored.
func (db *Store) lockClient(ctx context.Context, tx *sql.Tx, id string) (string, error) {
	q := db.d.LockClient
	if q == "" {
		q = `SELECT registration FROM oauth_clients WHERE id = ?`
	}
	var reg string
	err := tx.QueryRowContext(ctx, db.Rebind(q), id).Scan(&reg)
	return reg, err
}

// exec runs one write statement and returns the number of affected rows.
// A statement that meets a dead connection is not run again, unlike reads
// and BEGIN: the error may come after the server ran it (the connection
// died before the answer), and running an INSERT or a conditional UPDATE
// twice is not the same as once. The call fails closed (auth.ErrUnavailable)
// and the caller may retry the request. That holds for every write whose
// second run would answer otherwise than its first, which only the caller
// could tell apart from a failure: a second factor's one-time step or code
// (a conditional UPDATE whose second run counts no row, read as a replayed
// code), a refresh rotation (a transaction: a COMMIT cut in flight may have
// committed), a counter (attempts = attempts + 1 would count twice).
// Statements whose second run is provably the first one's are run again:
// execSame, deleteByKey, insertFresh.
func (db *Store) exec(ctx context.Context, op, query string, args ...any) (int64, error) {
	n, _, err := db.execOn(ctx, op, false, query, args...)
	return n, err
}

// execSame is execOne for a statement that leaves the same rows, and
// counts the same ones, whether it runs once or twice (an UPDATE that sets
// fixed values by primary key): like a read, it runs again on another
// connection when it meets a dead one.
func (db *Store) execSame(ctx context.Context, op, query string, args ...any) error {
	n, _, err := db.execOn(ctx, op, true, query, args...)
	return db.one(op, n, err)
}

// deleteByKey is execOne for a DELETE of one row by its primary key
// (which a condition on the row's owner may narrow, never widen): it
// leaves the same rows whether it runs once or twice, so it runs again on
// another connection when it meets a dead one, like execSame. But only the
// run that deleted the row counts it, and the run that met the dead
// connection may have deleted it before the connection died. So once the
// statement ran again, zero rows means "deleted, or already gone" and is
// success: the caller asked for the row to be gone, and it is. Only a
// statement that ran once answers auth.ErrNotFound for zero rows.
func (db *Store) deleteByKey(ctx context.Context, op, query string, args ...any) error {
	n, again, err := db.execOn(ctx, op, true, query, args...)
	if again && err == nil && n == 0 {
		return nil
	}
	return db.one(op, n, err)
}

// insertFresh runs an INSERT of a row whose primary key is fresh: a random
// value drawn for this call (a session ID: 256 bits from the session
// manager), which no other call can store. It runs again on another
// connection when it meets a dead one. Once it ran again, a unique
// violation (auth.ErrConflict) can only mean that the run that met the
// dead connection stored the row before the connection died, with the same
// arguments: success, when stored confirms that the row under the key is
// the one this call wrote (so that a caller that did reuse a key still
// gets auth.ErrConflict). A first run's conflict is auth.ErrConflict.
func (db *Store) insertFresh(ctx context.Context, op string, stored func(context.Context) bool, query string, args ...any) error {
	_, again, err := db.execOn(ctx, op, true, query, args...)
	if again && errors.Is(err, auth.ErrConflict) && stored(ctx) {
		return nil
	}
	return err
}

// execOn is exec, running the statement again after a dead connection
// (onLiveConn) when again is set; ranAgain reports whether it did.
func (db *Store) execOn(ctx context.Context, op string, again bool, query string, args ...any) (n int64, ranAgain bool, err error) {
	defer db.timed(op, time.Now())
	ctx, cancel := db.bound(ctx)
	defer cancel()
	q := db.Rebind(query)
	runs := 0
	run := func() (sql.Result, error) {
		runs++
		return db.write.ExecContext(ctx, q, args...)
	}
	var res sql.Result
	if again {
		res, err = onLiveConn(db, db.write, run)
	} else {
		res, err = run()
	}
	if err != nil {
		return 0, runs > 1, db.wrap(op, err)
	}
	n, err = res.RowsAffected()
	if err != nil {
		return 0, runs > 1, db.wrap(op, err)
	}
	return n, runs > 1, nil
}

// execOne is exec for statements that must touch exactly one row; zero rows
// is auth.ErrNotFound.
func (db *Store) execOne(ctx context.Context, op, query string, args ...any) error {
	n, err := db.exec(ctx, op, query, args...)
	return db.one(op, n, err)
}

// one is the result of a statement that must touch exactly one row: err,
// or auth.ErrNotFound when it touched none.
func (db *Store) one(op string, n int64, err error) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return db.wrap(op, sql.ErrNoRows)
	}
	return nil
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// row is a *sql.Row whose call timeout ends with its Scan.
type row struct {
	*sql.Row
	cancel context.CancelFunc
}

func (r row) Scan(dest ...any) error {
	defer r.cancel()
	return r.Row.Scan(dest...)
}

// queryRow reads one row with the read pool; the caller must Scan it. A
// read that meets a dead connection runs again on another one
// (retryLimit): reading twice is reading once. The driver (pgx) reads the
// first row before QueryRowContext returns, so that failure shows in Err
// before any Scan.
func (db *Store) queryRow(ctx context.Context, op, query string, args ...any) row {
	defer db.timed(op, time.Now())
	ctx, cancel := db.bound(ctx)
	q := db.Rebind(query)
	r, _ := onLiveConn(db, db.read, func() (*sql.Row, error) {
		r := db.read.QueryRowContext(ctx, q, args...)
		return r, r.Err() // Scan reports it
	})
	return row{r, cancel}
}

// queryAll reads every row of query with scan, on the read pool. A query
// that meets a dead connection runs again on another one, as in queryRow;
// one that fails after rows came back is not (its connection was alive).
func queryAll[T any](ctx context.Context, db *Store, op string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	defer db.timed(op, time.Now())
	ctx, cancel := db.bound(ctx)
	defer cancel()
	q := db.Rebind(query)
	rows, err := onLiveConn(db, db.read, func() (*sql.Rows, error) { return db.read.QueryContext(ctx, q, args...) })
	if err != nil {
		return nil, db.wrap(op, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, db.wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap(op, err)
	}
	return out, nil
}

// purge deletes the rows of table for which where holds, at most PurgeBatch
// per statement, until a batch comes back short, and returns how many it
// deleted. key lists the table's primary key columns ("id", "a, b");
// table, key and where are constants of this package, never input.
func (db *Store) purge(ctx context.Context, op, table, key, where string, args ...any) (int, error) {
	q := `DELETE FROM ` + table + ` WHERE (` + key + `) IN (SELECT ` + key + ` FROM ` + table +
		` WHERE ` + where + ` LIMIT ?)`
	total := 0
	for {
		n, err := db.exec(ctx, op, q, append(args[:len(args):len(args)], PurgeBatch)...)
		total += int(n)
		if err != nil || n < PurgeBatch {
			return total, err
		}
	}
}
