package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
)

// An older gatehouse on a database a newer one migrated (docs/deploy.md,
// "Downgrades are refused"): serve (with or without --no-migrate),
// gatehouse migrate and every command that opens the store exit 1 at once,
// without retrying, with a message naming both schema versions, and leave
// the database file as it was.
func TestOlderBinaryRefusesNewerSchema(t *testing.T) {
	c := newCLI(t, "listen: 127.0.0.1:0\nadmin_listen: ''\n")
	if code, _, stderr := c.run("", "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, stderr)
	}
	db := filepath.Join(filepath.Dir(c.cfg), "gh.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, "sqlite://"+db)
	if err != nil {
		t.Fatal(err)
	}
	_, latest, err := s.MigrationVersion(ctx)
	if err == nil {
		// What a newer gatehouse's migrate leaves: one more applied version.
		_, err = s.DB().ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1)`, latest+1)
	}
	if err == nil {
		_, err = s.DB().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	before := bundleReadStoreFiles(t, db)
	for _, args := range [][]string{{"serve"}, {"serve", "--no-migrate"}, {"migrate"}, {"user", "list"}, {"user", "add", "bob", "--password-stdin"}, {"keys", "rotate"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stderr strings.Builder
			err := run(ctx, append(args, "-c", c.cfg), func(string) string { return "" },
				strings.NewReader("correct horse battery staple\n"), io.Discard, &stderr)
			if ctx.Err() != nil {
				t.Fatalf("still running after 10s (retrying a newer schema?)")
			}
			code := exitCode(err, &stderr)
			want := "sqlite schema version " + strconv.FormatInt(latest+1, 10) + ", this gatehouse knows up to " + strconv.FormatInt(latest, 10) +
				": the store's schema is newer than this gatehouse"
			if code != 1 || !strings.Contains(stderr.String(), want) {
				t.Errorf("exit %d (want 1), stderr %q (want it to contain %q)", code, stderr.String(), want)
			}
			if after := bundleReadStoreFiles(t, db); !bytes.Equal(after, before) {
				t.Errorf("the database files changed (%d bytes before, %d after)", len(before), len(after))
			}
		})
	}
}

// bundleReadStoreFiles is the content of a SQLite database and its WAL,
// when there is one.
func bundleReadStoreFiles(t *testing.T, db string) []byte {
	t.Helper()
	var all []byte
	for _, name := range []string{db, db + "-wal"} {
		b, err := os.ReadFile(name)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}
