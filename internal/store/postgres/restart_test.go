package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/peers"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/tcpproxy"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// linkedStore is a migrated store whose connections run through a link
// that the test cuts, in front of PostgreSQL or of PgBouncer.
type linkedStore struct {
	*postgres.Store
	link *tcpproxy.Proxy
}

// linkTargets are the two places a pool restart cuts connections: the
// server itself and PgBouncer (transaction pooling) in front of it.
// open's params are key, value pairs added to the store's DSN.
var linkTargets = []struct {
	name string
	open func(t *testing.T, params ...string) linkedStore
}{
	{"PostgreSQL", func(t *testing.T, params ...string) linkedStore {
		dsn := pgtest.MigratedDSN(t)
		return openLinked(t, dsn, dsn, params...)
	}},
	{"PgBouncer", func(t *testing.T, params ...string) linkedStore {
		pooled, direct := pgtest.MigratedBouncerDSN(t)
		return openLinked(t, pooled, direct, params...)
	}},
}

// openLinked opens a store on dsn, with params (key, value pairs) added,
// through a link to dsn's host, with a fixture: user u1, its session s1
// and its refresh token r1.
func openLinked(t *testing.T, dsn, direct string, params ...string) linkedStore {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	link := tcpproxy.New(t, u.Host)
	u.Host = link.Addr()
	q := u.Query()
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	u.RawQuery = q.Encode()
	s := pgtest.Open(t, u.String(), postgres.WithMigrateDSN(direct))
	ctx := context.Background()
	now := time.Now()
	if err := s.CreateUser(ctx, auth.User{ID: "u1", Username: "alice", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := s.CreateSession(ctx, session.Record{ID: "s1", UserID: "u1", CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if err := s.CreateRefresh(ctx, token.Refresh{Hash: "r1", FamilyID: "f1", UserID: "u1", ClientID: "c",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatalf("CreateRefresh: %v", err)
	}
	return linkedStore{s, link}
}

// fillPool leaves every connection the pool may open idle in it, each
// used (and so reset by pgx) a moment ago: pgx pings a pooled connection
// before reuse only after a second idle, so these are handed out as they
// are, as a busy instance's are.
func fillPool(t *testing.T, db *sql.DB) {
	t.Helper()
	n := db.Stats().MaxOpenConnections
	if n <= 0 {
		t.Fatal("the store's pool has no connection limit")
	}
	ctx := context.Background()
	// Start from an empty pool: drop what an earlier step left, dead or not.
	db.SetMaxIdleConns(0)
	db.SetMaxIdleConns(n)
	for range 2 { // the first round opens them, the second reuses them
		txs := make([]*sql.Tx, n)
		for i := range txs {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatalf("fill the pool: %v", err)
			}
			txs[i] = tx
		}
		for _, tx := range txs {
			if err := tx.Rollback(); err != nil {
				t.Fatalf("fill the pool: %v", err)
			}
		}
	}
	if got := db.Stats().Idle; got != n {
		t.Fatalf("idle connections after filling the pool = %d, want %d", got, n)
	}
}

// restart cuts every connection of s's pool, as a PgBouncer restart does,
// after filling the pool: every pooled connection is dead.
func (s linkedStore) restart(t *testing.T) {
	t.Helper()
	fillPool(t, s.DB())
	s.link.Stop()
	s.link.Start()
}

// reads are the calls of the request paths that run again after meeting
// a dead connection: the session lookup, the user lookup (userinfo,
// refresh), a list (a user's sessions), and the session's last-seen
// update, a write whose second run leaves what the first did.
func reads(s *postgres.Store) []struct {
	name string
	call func(context.Context) error
} {
	return []struct {
		name string
		call func(context.Context) error
	}{
		{"Session", func(ctx context.Context) error { _, err := s.Session(ctx, "s1"); return err }},
		{"UserByID", func(ctx context.Context) error { _, err := s.UserByID(ctx, "u1"); return err }},
		{"UserSessions", func(ctx context.Context) error {
			l, err := s.UserSessions(ctx, "u1")
			if err == nil && len(l) != 1 {
				err = fmt.Errorf("%d sessions, want 1", len(l))
			}
			return err
		}},
		{"TouchSession", func(ctx context.Context) error {
			now := time.Now()
			return s.TouchSession(ctx, "s1", now, now.Add(time.Hour))
		}},
	}
}

// TestReadsSurviveAPoolRestart: after every pooled connection was cut
// (PgBouncer or PostgreSQL restarted), reads meet connections the server
// closed; nothing ran on them, so each read runs again on another
// connection and succeeds, whether requests come one after another or
// together. The dead connections are dropped, not handed out again.
func TestReadsSurviveAPoolRestart(t *testing.T) {
	for _, target := range linkTargets {
		t.Run(target.name, func(t *testing.T) {
			s := target.open(t)
			ctx := context.Background()
			for _, r := range reads(s.Store) {
				t.Run(r.name+"/InARow", func(t *testing.T) {
					s.restart(t)
					n := s.DB().Stats().MaxOpenConnections
					for i := range n {
						if err := r.call(ctx); err != nil {
							t.Fatalf("%s #%d after the restart: %v, want success", r.name, i+1, err)
						}
						if i == 0 {
							// The first call met every dead connection in turn.
							if got := s.DB().Stats().OpenConnections; got != 1 {
								t.Fatalf("open connections after the first %s = %d, want 1 (the dead ones dropped)", r.name, got)
							}
						}
					}
				})
				t.Run(r.name+"/Together", func(t *testing.T) {
					s.restart(t)
					n := s.DB().Stats().MaxOpenConnections
					errs := make(chan error, n)
					var wg sync.WaitGroup
					for range n {
						wg.Go(func() { errs <- r.call(ctx) })
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						if err != nil {
							t.Errorf("%s concurrently after the restart: %v, want success", r.name, err)
						}
					}
				})
			}
		})
	}
}

// TestTransactionSurvivesAPoolRestart: a transaction whose BEGIN meets a
// dead connection ran nothing; it begins again on another connection and
// commits (a refresh rotation, the write of every refresh).
func TestTransactionSurvivesAPoolRestart(t *testing.T) {
	for _, target := range linkTargets {
		t.Run(target.name, func(t *testing.T) {
			s := target.open(t)
			s.restart(t)
			now := time.Now()
			if _, err := s.RotateRefresh(context.Background(), "r1", now,
				token.Refresh{Hash: "r2", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatalf("RotateRefresh after the restart: %v, want success", err)
			}
			if _, err := s.Refresh(context.Background(), "r2"); err != nil {
				t.Fatalf("the rotated token: %v", err)
			}
		})
	}
}

// TestServerGoneAfterARestartFailsClosed: when the server does not come
// back, the dead pooled connections are run through and the first fresh
// connection fails: the call answers auth.ErrUnavailable at once, with the
// failed connect, not after retrying until the call timeout.
func TestServerGoneAfterARestartFailsClosed(t *testing.T) {
	for _, target := range linkTargets {
		t.Run(target.name, func(t *testing.T) {
			s := target.open(t)
			s.SetTimeout(time.Minute) // reaching it would show a retry loop
			calls := reads(s.Store)
			calls = append(calls, struct {
				name string
				call func(context.Context) error
			}{"RotateRefresh", func(ctx context.Context) error {
				_, err := s.RotateRefresh(ctx, "r1", time.Now(), token.Refresh{Hash: "r3"})
				return err
			}})
			for _, c := range calls {
				t.Run(c.name, func(t *testing.T) {
					fillPool(t, s.DB())
					s.link.Stop()
					defer s.link.Start()
					err := c.call(context.Background())
					var ce *pgconn.ConnectError
					if !errors.Is(err, auth.ErrUnavailable) || !errors.As(err, &ce) || errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("%s with the server gone = %v, want ErrUnavailable from the failed connect", c.name, err)
					}
				})
			}
		})
	}
}

// TestRetriedCallIsObservedOnce: the store latency histogram counts store
// calls, so a read that ran again on another connection is one call.
func TestRetriedCallIsObservedOnce(t *testing.T) {
	s := linkTargets[0].open(t)
	var (
		mu  sync.Mutex
		ops []string
	)
	s.SetObserver(func(op string, _ time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		ops = append(ops, op)
	})
	s.restart(t)
	mu.Lock()
	ops = nil
	mu.Unlock()
	if _, err := s.Session(context.Background(), "s1"); err != nil {
		t.Fatalf("Session after the restart: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := fmt.Sprint(ops), "[load session]"; got != want {
		t.Fatalf("observed calls = %s, want %s", got, want)
	}
}

// TestDeadConnIsNarrow: only the ways a statement meets a connection that
// was already closed count as a dead connection (run again on another
// one); a failed connect, even one that read EOF (a pooler that accepts
// and hangs up), a timeout, a canceled call and the server's own errors
// do not, so that a database that is down fails at once.
func TestDeadConnIsNarrow(t *testing.T) {
	sysErr := func(op string, errno syscall.Errno) error {
		return fmt.Errorf("pgx: %w", &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, errno)})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"UnexpectedEOF", fmt.Errorf("load session: %w", io.ErrUnexpectedEOF), true},
		{"EOF", io.EOF, true},
		{"ConnClosed", fmt.Errorf("begin: %w", pgconn.ErrConnClosed), true},
		{"UseOfClosedConn", &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}, true},
		{"ConnectionReset", sysErr("read", syscall.ECONNRESET), true},
		{"BrokenPipe", sysErr("write", syscall.EPIPE), true},
		{"ConnectHangUp", connectThroughHangUp(t), false},
		{"ConnectRefused", sysErr("dial", syscall.ECONNREFUSED), false},
		{"ReadTimeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, false},
		{"Deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"Canceled", context.Canceled, false},
		{"AdminShutdown", &pgconn.PgError{Code: "57P01", Severity: "FATAL"}, false},
		{"Nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := postgres.DeadConn(tt.err); got != tt.want {
				t.Fatalf("DeadConn(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// connectThroughHangUp returns pgx's error for a connection attempt that
// the listener accepts and closes at once (a link to a server that is
// gone): a ConnectError that wraps an EOF or a reset, as a statement on
// a dead connection fails.
func connectThroughHangUp(t *testing.T) error {
	t.Helper()
	link := tcpproxy.New(t, "127.0.0.1:1") // nothing listens on port 1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, "postgres://postgres@"+link.Addr()+"/test?sslmode=disable")
	if err == nil {
		conn.Close(ctx)
		t.Fatal("connect through a link to nothing succeeded")
	}
	var ce *pgconn.ConnectError
	hangUp := errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
	if !errors.As(err, &ce) || !hangUp {
		t.Fatalf("connect through a link to nothing = %v, want a ConnectError wrapping EOF or a reset", err)
	}
	return err
}

// newSession is a session of u1 with id, the same for the same id, as
// session.Manager.Create makes one (its ID is fresh); the store keeps
// expired sessions until they are purged.
func newSession(id string) session.Record {
	now := time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)
	return session.Record{ID: id, UserID: "u1", CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour),
		IP: "192.0.2.1", UserAgent: "test", Method: "password", AMR: []string{"pwd"}}
}

// sameSession reports whether got is want as stored (times in
// microseconds).
func sameSession(got, want session.Record) bool {
	same := func(a, b time.Time) bool { return a.UnixMicro() == b.UnixMicro() }
	return got.ID == want.ID && got.UserID == want.UserID && same(got.CreatedAt, want.CreatedAt) &&
		same(got.LastSeenAt, want.LastSeenAt) && same(got.IdleExpiresAt, want.IdleExpiresAt) &&
		same(got.ExpiresAt, want.ExpiresAt) && got.IP == want.IP && got.UserAgent == want.UserAgent &&
		got.Method == want.Method && fmt.Sprint(got.AMR) == fmt.Sprint(want.AMR)
}

// sessionWrite is a session write of a login or a logout, on the i-th
// session of a test step: prepare runs before the cut, call after it, and
// check verifies the store afterwards.
type sessionWrite struct {
	name    string
	prepare func(t *testing.T, s *postgres.Store, id string)
	call    func(ctx context.Context, s *postgres.Store, id string) error
	check   func(t *testing.T, s *postgres.Store, id string)
}

// sessionWrites are the two session writes a login and a logout make:
// storing the new session (a fresh ID) and deleting one by its ID.
var sessionWrites = []sessionWrite{
	{
		name:    "CreateSession",
		prepare: func(*testing.T, *postgres.Store, string) {},
		call: func(ctx context.Context, s *postgres.Store, id string) error {
			return s.CreateSession(ctx, newSession(id))
		},
		check: func(t *testing.T, s *postgres.Store, id string) {
			t.Helper()
			if _, err := s.Session(context.Background(), id); err != nil {
				t.Errorf("session %s after CreateSession: %v, want it stored", id, err)
			}
		},
	},
	{
		name: "DeleteSession",
		prepare: func(t *testing.T, s *postgres.Store, id string) {
			t.Helper()
			if err := s.CreateSession(context.Background(), newSession(id)); err != nil {
				t.Fatalf("CreateSession: %v", err)
			}
		},
		call: func(ctx context.Context, s *postgres.Store, id string) error { return s.DeleteSession(ctx, id) },
		check: func(t *testing.T, s *postgres.Store, id string) {
			t.Helper()
			if _, err := s.Session(context.Background(), id); !errors.Is(err, auth.ErrNotFound) {
				t.Errorf("session %s after DeleteSession: %v, want it gone", id, err)
			}
		},
	},
}

// TestSessionWritesSurviveAPoolRestart: after every pooled connection was
// cut, a login's and a logout's session write (CreateSession,
// DeleteSession) meets a dead connection, runs again on another one and
// succeeds from the first call, one after another or together; they are
// the writes whose second run is safe (sqldb.insertFresh, deleteByKey).
func TestSessionWritesSurviveAPoolRestart(t *testing.T) {
	for _, target := range linkTargets {
		t.Run(target.name, func(t *testing.T) {
			s := target.open(t)
			ctx := context.Background()
			for _, w := range sessionWrites {
				t.Run(w.name+"/InARow", func(t *testing.T) {
					n := s.DB().Stats().MaxOpenConnections
					ids := make([]string, n)
					for i := range ids {
						ids[i] = fmt.Sprintf("row-%s-%d", w.name, i)
						w.prepare(t, s.Store, ids[i])
					}
					s.restart(t)
					for i, id := range ids {
						if err := w.call(ctx, s.Store, id); err != nil {
							t.Fatalf("%s #%d after the restart: %v, want success", w.name, i+1, err)
						}
						if i == 0 {
							if got := s.DB().Stats().OpenConnections; got != 1 {
								t.Fatalf("open connections after the first %s = %d, want 1 (the dead ones dropped)", w.name, got)
							}
						}
					}
					for _, id := range ids {
						w.check(t, s.Store, id)
					}
				})
				t.Run(w.name+"/Together", func(t *testing.T) {
					n := s.DB().Stats().MaxOpenConnections
					ids := make([]string, n)
					for i := range ids {
						ids[i] = fmt.Sprintf("together-%s-%d", w.name, i)
						w.prepare(t, s.Store, ids[i])
					}
					s.restart(t)
					errs := make(chan error, n)
					var wg sync.WaitGroup
					for _, id := range ids {
						wg.Go(func() { errs <- w.call(ctx, s.Store, id) })
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						if err != nil {
							t.Errorf("%s concurrently after the restart: %v, want success", w.name, err)
						}
					}
					for _, id := range ids {
						w.check(t, s.Store, id)
					}
				})
			}
		})
	}
}

// loseAnswer runs call with every connection of s's pool idle and used a
// moment ago (no ping before reuse), the answer to the first statement it
// sends lost on the way back, and checks that an answer was lost. With
// the store opened in a one-round-trip exec mode (lostAnswerMode), that
// answer is the one to a statement the server ran.
func (s linkedStore) loseAnswer(t *testing.T, call func() error) error {
	t.Helper()
	fillPool(t, s.DB())
	s.link.LoseNextAnswer()
	err := call()
	if !s.link.AnswerLost() {
		t.Fatal("no answer was lost during the call")
	}
	return err
}

// lostAnswerMode is the DSN parameter under which each statement is one
// round trip, answered only once the server ran it (default_query_exec_mode
// exec; the store's default first describes a new query text on each
// connection, and losing that answer would lose a statement never run).
var lostAnswerMode = []string{"default_query_exec_mode", "exec"}

// TestSessionWriteWhoseAnswerIsLost: the server ran the statement, but the
// connection died before its answer came back, so the store runs it again
// on another connection. A login's CreateSession then finds its own row
// (the ID is fresh: only the first run can have stored it) and a logout's
// DeleteSession finds nothing left to delete: both succeed, not
// auth.ErrConflict or auth.ErrNotFound, and the store holds what one run
// leaves. Without a fault, a taken ID is still auth.ErrConflict and a
// missing session still auth.ErrNotFound; after a cut, a taken ID whose
// row is another session is still auth.ErrConflict.
func TestSessionWriteWhoseAnswerIsLost(t *testing.T) {
	const (
		none = iota
		lose // the answer to the call's statement is lost
		cut  // every pooled connection is dead (restart)
	)
	tests := []struct {
		name    string
		prepare func(t *testing.T, s *postgres.Store, id string)
		fault   int
		call    func(ctx context.Context, s *postgres.Store, id string) error
		want    error // nil: success
		check   func(t *testing.T, s *postgres.Store, id string)
	}{
		{"CreateSession", func(*testing.T, *postgres.Store, string) {}, lose,
			func(ctx context.Context, s *postgres.Store, id string) error {
				return s.CreateSession(ctx, newSession(id))
			},
			nil, func(t *testing.T, s *postgres.Store, id string) {
				t.Helper()
				got, err := s.Session(context.Background(), id)
				if want := newSession(id); err != nil || !sameSession(got, want) {
					t.Errorf("stored session = %+v, %v; want %+v", got, err, want)
				}
			}},
		{"DeleteSession", sessionWrites[1].prepare, lose, sessionWrites[1].call, nil, sessionWrites[1].check},
		{"CreateSession/TakenID", func(*testing.T, *postgres.Store, string) {}, none,
			func(ctx context.Context, s *postgres.Store, _ string) error {
				return s.CreateSession(ctx, newSession("s1"))
			},
			auth.ErrConflict, nil},
		{"CreateSession/TakenIDAfterACut", func(*testing.T, *postgres.Store, string) {}, cut,
			func(ctx context.Context, s *postgres.Store, _ string) error {
				return s.CreateSession(ctx, newSession("s1"))
			},
			auth.ErrConflict, nil},
		{"DeleteSession/Missing", func(*testing.T, *postgres.Store, string) {}, none,
			sessionWrites[1].call, auth.ErrNotFound, nil},
	}
	for _, target := range linkTargets {
		t.Run(target.name, func(t *testing.T) {
			s := target.open(t, lostAnswerMode...)
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ctx := context.Background()
					id := fmt.Sprintf("lost-%d", i)
					tt.prepare(t, s.Store, id)
					call := func() error { return tt.call(ctx, s.Store, id) }
					var err error
					switch tt.fault {
					case lose:
						err = s.loseAnswer(t, call)
					case cut:
						s.restart(t)
						err = call()
					default:
						fillPool(t, s.DB()) // live connections only
						err = call()
					}
					if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
						t.Fatalf("%s = %v, want %v", tt.name, err, tt.want)
					}
					if tt.check != nil {
						tt.check(t, s.Store, id)
					}
				})
			}
		})
	}
}

// keyedDelete is a DELETE of one row by its key: put stores the row for
// the user uid (created first), del deletes it, and gone reports whether
// it is gone. missing is what del answers for a row that is not there.
type keyedDelete struct {
	name    string
	put     func(ctx context.Context, s *postgres.Store, uid string) error
	del     func(ctx context.Context, s *postgres.Store, uid string) error
	gone    func(ctx context.Context, s *postgres.Store, uid string) (bool, error)
	missing error // nil: success
}

// isNotFound is gone for a read that answers auth.ErrNotFound once the row
// is gone.
func isNotFound(err error) (bool, error) {
	if errors.Is(err, auth.ErrNotFound) {
		return true, nil
	}
	return false, err
}

const testIssuer = "https://idp.example"

// keyedDeletes are the store's deletes of one row by its key (the
// sqldb.deleteByKey ones besides DeleteSession).
var keyedDeletes = []keyedDelete{
	{"DeleteIdentity",
		func(ctx context.Context, s *postgres.Store, uid string) error {
			return s.CreateIdentity(ctx, user.Identity{Issuer: testIssuer, Subject: "sub-" + uid, UserID: uid, CreatedAt: time.Now()})
		},
		func(ctx context.Context, s *postgres.Store, uid string) error {
			return s.DeleteIdentity(ctx, testIssuer, "sub-"+uid)
		},
		func(ctx context.Context, s *postgres.Store, uid string) (bool, error) {
			_, err := s.IdentityBySubject(ctx, testIssuer, "sub-"+uid)
			return isNotFound(err)
		},
		auth.ErrNotFound},
	{"DeleteCredential",
		func(ctx context.Context, s *postgres.Store, uid string) error {
			return s.AddCredential(ctx, mfa.Credential{ID: []byte("cred-" + uid), UserID: uid, Name: "key",
				Kind: mfa.AMRHardware, Data: []byte("{}"), CreatedAt: time.Now()})
		},
		func(ctx context.Context, s *postgres.Store, uid string) error {
			return s.DeleteCredential(ctx, uid, []byte("cred-"+uid))
		},
		func(ctx context.Context, s *postgres.Store, uid string) (bool, error) {
			l, err := s.Credentials(ctx, uid)
			return len(l) == 0, err
		},
		auth.ErrNotFound},
	{"DeleteTOTP",
		func(ctx context.Context, s *postgres.Store, uid string) error {
			now := time.Now()
			return s.PutTOTP(ctx, mfa.TOTP{UserID: uid, Secret: []byte("sealed"), CreatedAt: now, ConfirmedAt: now})
		},
		func(ctx context.Context, s *postgres.Store, uid string) error { return s.DeleteTOTP(ctx, uid) },
		func(ctx context.Context, s *postgres.Store, uid string) (bool, error) {
			_, err := s.TOTP(ctx, uid)
			return isNotFound(err)
		},
		auth.ErrNotFound},
	{"DeleteUser",
		func(context.Context, *postgres.Store, string) error { return nil },
		func(ctx context.Context, s *postgres.Store, uid string) error { return s.DeleteUser(ctx, uid) },
		func(ctx context.Context, s *postgres.Store, uid string) (bool, error) {
			_, err := s.UserByID(ctx, uid)
			return isNotFound(err)
		},
		auth.ErrNotFound},
	{"DeletePeer",
		func(ctx context.Context, s *postgres.Store, uid string) error {
			now := time.Now()
			return s.PutPeer(ctx, peers.Record{ID: "peer-" + uid, Host: "h", Listen: ":8080", SeenAt: now, ExpiresAt: now.Add(time.Hour)})
		},
		func(ctx context.Context, s *postgres.Store, uid string) error { return s.DeletePeer(ctx, "peer-"+uid) },
		func(ctx context.Context, s *postgres.Store, uid string) (bool, error) {
			l, err := s.Peers(ctx, time.Now())
			return !slices.ContainsFunc(l, func(r peers.Record) bool { return r.ID == "peer-"+uid }), err
		},
		nil},
}

// TestDeleteByKeyWhoseAnswerIsLost: the server ran a DELETE of one row by
// its key, but the connection died before its answer came back, so the
// store runs it again on another connection, which finds nothing left to
// delete: success, not auth.ErrNotFound (or auth.ErrUnavailable), and the
// row is gone. Without a fault, a missing row is still what it was.
func TestDeleteByKeyWhoseAnswerIsLost(t *testing.T) {
	for _, target := range linkTargets {
		t.Run(target.name, func(t *testing.T) {
			s := target.open(t, lostAnswerMode...)
			for _, d := range keyedDeletes {
				for _, lose := range []bool{true, false} {
					name := d.name
					if !lose {
						name += "/Missing"
					}
					t.Run(name, func(t *testing.T) {
						ctx := context.Background()
						uid := "del-" + strings.ReplaceAll(name, "/", "-")
						now := time.Now()
						if err := s.CreateUser(ctx, auth.User{ID: uid, Username: uid, CreatedAt: now, UpdatedAt: now}); err != nil {
							t.Fatalf("CreateUser: %v", err)
						}
						call := func() error { return d.del(ctx, s.Store, uid) }
						var err error
						want := d.missing
						if lose {
							if err := d.put(ctx, s.Store, uid); err != nil {
								t.Fatalf("put the row: %v", err)
							}
							err, want = s.loseAnswer(t, call), nil
						} else {
							if d.name == "DeleteUser" {
								uid += "-none"
							}
							fillPool(t, s.DB()) // live connections only
							err = call()
						}
						if want == nil && err != nil || !errors.Is(err, want) {
							t.Fatalf("%s = %v, want %v", name, err, want)
						}
						if gone, err := d.gone(ctx, s.Store, uid); err != nil || !gone {
							t.Fatalf("row gone after %s: %v, %v; want true", name, gone, err)
						}
					})
				}
			}
		})
	}
}
