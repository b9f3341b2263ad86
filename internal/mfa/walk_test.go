package mfa_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
)

// storedRecoveryStore is a main store for the recovery-code test and the
// rows of mfa_recovery_codes as the database holds them, read past the
// store (what a copy of the database shows).
type storedRecoveryStore struct {
	store interface {
		mfa.Store
		mfa.StepStore
		CreateUser(ctx context.Context, u auth.User) error
	}
	rows func(t *testing.T, userID string) []string // each row's user_id|code_hash
}

// storedRecoveryStores are SQLite and PostgreSQL, each with a reader of
// its own database connection.
var storedRecoveryStores = []struct {
	name string
	open func(t *testing.T) storedRecoveryStore
}{
	{"sqlite", func(t *testing.T) storedRecoveryStore {
		path := filepath.Join(t.TempDir(), "g.db")
		s, err := sqlite.Open(t.Context(), "sqlite://"+path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return storedRecoveryStore{store: s, rows: func(t *testing.T, userID string) []string {
			t.Helper()
			db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rs, err := db.QueryContext(t.Context(), `SELECT user_id, code_hash FROM mfa_recovery_codes WHERE user_id = ?`, userID)
			if err != nil {
				t.Fatalf("read mfa_recovery_codes: %v", err)
			}
			defer rs.Close()
			var out []string
			for rs.Next() {
				var uid, hash string
				if err := rs.Scan(&uid, &hash); err != nil {
					t.Fatal(err)
				}
				out = append(out, uid+"|"+hash)
			}
			if err := rs.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		}}
	}},
	{"postgres", func(t *testing.T) storedRecoveryStore {
		dsn := pgtest.DSN(t)
		s := pgtest.Open(t, dsn)
		return storedRecoveryStore{store: s, rows: func(t *testing.T, userID string) []string {
			t.Helper()
			conn, err := pgx.Connect(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.WithoutCancel(t.Context()))
			rs, err := conn.Query(t.Context(), `SELECT user_id::text, code_hash::text FROM mfa_recovery_codes WHERE user_id = $1`, userID)
			if err != nil {
				t.Fatalf("read mfa_recovery_codes: %v", err)
			}
			defer rs.Close()
			var out []string
			for rs.Next() {
				var uid, hash string
				if err := rs.Scan(&uid, &hash); err != nil {
					t.Fatal(err)
				}
				out = append(out, uid+"|"+hash)
			}
			if err := rs.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		}}
	}},
}

// TestRecoveryCodesStoredHashedOnly reads the database behind the store:
// the 10 codes a user is shown (xxxx-xxxx-xxxx-xxxx, base32, all
// different) are kept only as SHA-256 hex digests, none of which is or
// contains a code in any spelling, and a new set replaces every row
// (contract section 9: "stored hashed"; docs/mfa.md).
func TestRecoveryCodesStoredHashedOnly(t *testing.T) {
	format := regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)
	hexDigest := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for _, st := range storedRecoveryStores {
		t.Run(st.name, func(t *testing.T) {
			db := st.open(t)
			ctx := t.Context()
			u := auth.User{ID: "u-hashed", Username: "alice", CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := db.store.CreateUser(ctx, u); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			s := mfa.NewService(db.store, db.store)
			var seen []string
			for round := range 2 {
				codes, err := s.NewRecoveryCodes(ctx, u.ID)
				if err != nil {
					t.Fatalf("NewRecoveryCodes: %v", err)
				}
				if len(codes) != 10 {
					t.Fatalf("round %d: %d codes, want 10", round, len(codes))
				}
				distinct := map[string]bool{}
				for _, c := range codes {
					if !format.MatchString(c) {
						t.Errorf("code %q is not xxxx-xxxx-xxxx-xxxx in base32", c)
					}
					distinct[c] = true
				}
				if len(distinct) != len(codes) {
					t.Errorf("round %d: %d distinct codes of %d", round, len(distinct), len(codes))
				}
				rows := db.rows(t, u.ID)
				if len(rows) != len(codes) {
					t.Fatalf("round %d: %d rows in mfa_recovery_codes, want %d (a new set replaces the old)", round, len(rows), len(codes))
				}
				seen = append(seen, codes...)
				for _, row := range rows {
					_, hash, _ := strings.Cut(row, "|")
					if !hexDigest.MatchString(hash) {
						t.Errorf("stored code_hash %q is not a SHA-256 hex digest", hash)
					}
					for _, c := range seen {
						for _, spelling := range []string{c, strings.ReplaceAll(c, "-", ""), strings.ToUpper(strings.ReplaceAll(c, "-", ""))} {
							if strings.Contains(row, spelling) {
								t.Fatalf("a stored row contains a recovery code (%d characters)", len(spelling))
							}
						}
					}
				}
			}
		})
	}
}

// A TOTP that is active is not replaced by a new enrolment (409, delete it
// first), and of two enrolments begun one after the other (a double click,
// two tabs) the later is the one in progress: a code of the earlier key
// does not confirm it, a code of the later does (docs/mfa.md, "Changing
// factors").
func TestTOTPEnrolmentWhileOneIsActiveOrInProgress(t *testing.T) {
	f := newFixture(t)
	sl, err := seal.New(mfa.SealKey("an encryption key of at least 32 bytes!"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := mfa.NewService(f.store, f.store, mfa.WithSealer(sl), mfa.WithClock(f.clock.Now))
	ctx := t.Context()
	first, err := s.EnrolTOTP(ctx, f.user)
	if err != nil {
		t.Fatalf("first EnrolTOTP: %v", err)
	}
	later, err := s.EnrolTOTP(ctx, f.user)
	if err != nil {
		t.Fatalf("second EnrolTOTP while one is in progress: %v", err)
	}
	if first.Secret == later.Secret {
		t.Fatal("two enrolments gave the same secret")
	}
	if err := s.ConfirmTOTP(ctx, f.user.ID, mfatest.TOTPCode(t, first.Secret, f.clock.Now())); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("ConfirmTOTP with the replaced enrolment's code = %v, want ErrInvalidCode", err)
	}
	if err := s.ConfirmTOTP(ctx, f.user.ID, mfatest.TOTPCode(t, later.Secret, f.clock.Now())); err != nil {
		t.Fatalf("ConfirmTOTP with the later enrolment's code: %v", err)
	}
	if _, err := s.EnrolTOTP(ctx, f.user); !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("EnrolTOTP while a TOTP is active = %v, want auth.ErrConflict (409)", err)
	}
	f.clock.Advance(time.Minute)
	if err := s.VerifyTOTP(ctx, f.user.ID, mfatest.TOTPCode(t, later.Secret, f.clock.Now())); err != nil {
		t.Fatalf("the active TOTP after a refused enrolment: %v", err)
	}
	if err := s.DeleteTOTP(ctx, f.user.ID); err != nil {
		t.Fatalf("DeleteTOTP: %v", err)
	}
	if _, err := s.EnrolTOTP(ctx, f.user); err != nil {
		t.Fatalf("EnrolTOTP after the active one was deleted: %v", err)
	}
}

// The sealed TOTP secret is bound to its user (associated data, docs/mfa.md
// "Secrets at rest"): a row copied to another user in the database does not
// open for that user, so alice's codes never sign bob in; and it opens only
// under the keys.encryption_key it was sealed with.
func TestTOTPSecretBoundToItsUserAndKey(t *testing.T) {
	f := newFixture(t)
	s := f.service(t)
	ctx := t.Context()
	secret := enrolled(t, f, s)
	bob := auth.User{ID: "u2", Username: "bob", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := f.store.CreateUser(ctx, bob); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	row, err := f.store.TOTP(ctx, f.user.ID)
	if err != nil {
		t.Fatalf("TOTP: %v", err)
	}
	copied := row
	copied.UserID = bob.ID
	if err := f.store.PutTOTP(ctx, copied); err != nil {
		t.Fatalf("PutTOTP (copy to bob): %v", err)
	}
	if got, err := f.store.TOTP(ctx, bob.ID); err != nil || !got.Confirmed() {
		if err := f.store.ConfirmTOTP(ctx, bob.ID, copied.CreatedAt, f.clock.Now()); err != nil {
			t.Fatalf("ConfirmTOTP (copy to bob): %v", err)
		}
	}
	f.clock.Advance(time.Minute)
	if err := s.VerifyTOTP(ctx, bob.ID, mfatest.TOTPCode(t, secret, f.clock.Now())); err == nil {
		t.Fatal("alice's sealed secret copied to bob accepted alice's code for bob")
	}
	other, err := seal.New(mfa.SealKey("another encryption key of 32 bytes or more"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := mfa.NewService(f.store, f.store, mfa.WithSealer(other), mfa.WithClock(f.clock.Now)).VerifyTOTP(ctx, f.user.ID, mfatest.TOTPCode(t, secret, f.clock.Now())); err == nil {
		t.Fatal("a secret sealed under one keys.encryption_key opened under another")
	}
	if err := s.VerifyTOTP(ctx, f.user.ID, mfatest.TOTPCode(t, secret, f.clock.Now())); err != nil {
		t.Fatalf("alice's own code: %v", err)
	}
}
