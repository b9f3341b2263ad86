package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
)

// Configuration errors of the keys exit 2 (contract section 1) with one
// line naming the key at fault, and change nothing: a keys.encryption_key
// that does not open the stored keys, or none at all, and `keys rotate`
// with HS256, whose secret is tokens.hmac_secret.
func TestKeysConfigErrorsExitTwo(t *testing.T) {
	const sealed = "keys: {encryption_key: 0123456789abcdef0123456789abcdef-right}\n"
	tests := []struct {
		name        string
		yaml, wrong string // the config the keys are made with, and the one refused ("-": the same)
		args        []string
		want        string
	}{
		{"wrong encryption key", sealed, "keys: {encryption_key: 0123456789abcdef0123456789abcdef-WRONG}\n",
			[]string{"keys", "list"}, "keys.encryption_key"},
		{"wrong encryption key and another algorithm", sealed,
			"keys: {encryption_key: 0123456789abcdef0123456789abcdef-WRONG}\ntokens: {algorithm: EdDSA}\n",
			[]string{"keys", "jwks"}, "keys.encryption_key"},
		{"no encryption key", sealed, "", []string{"keys", "rotate"}, "keys.encryption_key"},
		{"rotate HS256", "tokens: {algorithm: HS256, hmac_secret: 0123456789abcdef0123456789abcdef-hs}\n", "-",
			[]string{"keys", "rotate"}, "tokens.hmac_secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t, tt.yaml)
			body, err := os.ReadFile(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := c.ok("", "keys", "list")
			if tt.wrong != "-" {
				base := strings.TrimSuffix(string(body), tt.yaml)
				if err := os.WriteFile(c.cfg, []byte(base+tt.wrong), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errOut := c.run("", tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr %q", code, errOut)
			}
			if lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n"); len(lines) != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q, want one line naming %s", errOut, tt.want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if err := os.WriteFile(c.cfg, body, 0o600); err != nil {
				t.Fatal(err)
			}
			if after := c.ok("", "keys", "list"); after != before {
				t.Errorf("keys changed by a refused command:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// `keys list` shows the pending key of a scheduled rotation (keys.rotate_every)
// with the time it becomes active, `keys jwks` publishes it, and `keys
// rotate` makes that key active instead of making another (docs/tokens.md).
func TestKeysListShowsThePendingKey(t *testing.T) {
	c := newCLI(t, "")
	c.ok("", "keys", "list") // creates the first key
	st := sqlitetest.Open(t, filepath.Join(filepath.Dir(c.cfg), "gh.db"))
	ctx := context.Background()
	stored, err := st.Keys(ctx)
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored keys = %d, %v; want the first one", len(stored), err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	due := time.Now().Add(keys.PublishAhead).UTC().Truncate(time.Second)
	next := keys.Key{ID: "next-key-test-kid", Algorithm: keys.ES256, Private: pkcs8, Public: pub,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond), ActivatedAt: due, Pending: true}
	if err := st.AddPendingKey(ctx, stored[0].ID, next); err != nil {
		t.Fatal(err)
	}

	list := c.ok("", "keys", "list")
	var line string
	for l := range strings.Lines(list) {
		if strings.HasPrefix(l, next.ID) {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) != 6 || f[2] != "pending" || f[4] != due.Format(time.RFC3339) || f[5] != "-" {
		t.Errorf("keys list line of the pending key = %q, want state pending, activated %s, retires -\n%s", line, due.Format(time.RFC3339), list)
	}
	if jwks := c.ok("", "keys", "jwks"); !strings.Contains(jwks, `"kid":"`+next.ID+`"`) {
		t.Errorf("keys jwks = %s, want the pending key published", jwks)
	}
	if out := c.ok("", "keys", "rotate"); !strings.Contains(out, next.ID+" is active") {
		t.Errorf("keys rotate = %q, want the pending key %s activated", out, next.ID)
	}
	if list := c.ok("", "keys", "list"); strings.Contains(list, "pending") || strings.Count(list, "\n") != 3 {
		t.Errorf("keys list after rotate = %s, want the active and the verifying key, none pending", list)
	}
}

// `keys list` with HS256 shows its one key, derived from tokens.hmac_secret,
// without made-up times: it has no creation or activation time, so those
// columns say "-" (as RETIRES does), not Go's zero time 0001-01-01T00:00:00Z.
func TestKeysListHS256ShowsNoZeroTimes(t *testing.T) {
	c := newCLI(t, "tokens: {algorithm: HS256, hmac_secret: 0123456789abcdef0123456789abcdef-hs}\n")
	list := c.ok("", "keys", "list")
	if strings.Contains(list, "0001-01-01") {
		t.Errorf("keys list shows the zero time:\n%s", list)
	}
	lines := strings.Split(strings.TrimSuffix(list, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("keys list = %q, want the header and the HS256 key", list)
	}
	if f := strings.Fields(lines[1]); len(f) != 6 || f[1] != "HS256" || f[2] != "active" || f[3] != "-" || f[4] != "-" || f[5] != "-" {
		t.Errorf("keys list line = %q, want HS256 active - - -", lines[1])
	}
}
