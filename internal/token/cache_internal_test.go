package token

import (
	"crypto/sha256"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
)

func TestCacheBounded(t *testing.T) {
	c := newCache(3)
	exp := time.Now().Add(time.Hour)
	for i := range 10 {
		c.put(sha256.Sum256([]byte(strconv.Itoa(i))), cacheEntry{exp: exp})
	}
	if got, want := len(c.m), 3; got != want {
		t.Fatalf("entries = %d, want %d", got, want)
	}
}

func TestCacheForget(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	entries := []auth.Principal{
		{Subject: "u1", SessionID: "s1", TokenID: "j1"},
		{Subject: "u1", SessionID: "s2", TokenID: "j2"},
		{Subject: "u2", SessionID: "s3", TokenID: "j3"},
	}
	tests := []struct {
		kind, key string
		left      int
	}{
		{"jti", "j2", 2},
		{"sid", "s1", 2},
		{"user", "u1", 1},
		{"keys", "", 0},
		{"session", "s1", 3}, // sessions are not tokens
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			c := newCache(10)
			for i, p := range entries {
				c.put(sha256.Sum256([]byte{byte(i)}), cacheEntry{p: p, exp: exp})
			}
			c.forget(tt.kind, tt.key)
			if got, want := len(c.m), tt.left; got != want {
				t.Errorf("entries after forget(%s) = %d, want %d", tt.kind, got, want)
			}
		})
	}
}

// While the watcher is stale the cache is neither read nor filled; once
// fresh again it is used.
func TestVerifierBypassesUntrustedCache(t *testing.T) {
	ks, err := keys.NewSet(t.Context(), nil, keys.HS256, keys.WithHMACSecret([]byte("an-hmac-secret-of-at-least-32-bytes!!")))
	if err != nil {
		t.Fatal(err)
	}
	trusted := false
	v := NewVerifier(ks, nil, WithCacheSize(10), WithCacheTrust(func() bool { return trusted }))
	raw, _, err := NewIssuer(ks).Issue(Subject{UserID: "u1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		trusted bool
		entries int
	}{{false, 0}, {true, 1}} {
		trusted = tt.trusted
		if _, err := v.Verify(t.Context(), raw); err != nil {
			t.Fatal(err)
		}
		if got, want := len(v.cache.m), tt.entries; got != want {
			t.Errorf("trusted=%v: cache entries = %d, want %d", tt.trusted, got, want)
		}
	}
}
