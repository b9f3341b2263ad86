package token

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// cacheEnv is a Verifier with a cache and no deny-list (so that only the
// cache decides what Forget drops), with an issuer on the same clock.
type cacheEnv struct {
	clock  *clocktest.Clock
	issuer *Issuer
	v      *Verifier
}

func newCacheEnv(t *testing.T, size int, opts ...Option) cacheEnv {
	t.Helper()
	clock := clocktest.New(time.Now().UTC().Truncate(time.Second))
	ks, err := keys.NewSet(t.Context(), nil, keys.HS256, keys.WithClock(clock.Now),
		keys.WithHMACSecret([]byte("an-hmac-secret-of-at-least-32-bytes!!")))
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]Option{WithClock(clock.Now), WithCacheSize(size)}, opts...)
	return cacheEnv{clock: clock, issuer: NewIssuer(ks, opts...), v: NewVerifier(ks, nil, opts...)}
}

// verify issues a token for s and verifies it (which caches it).
func (e cacheEnv) verify(t *testing.T, s Subject) (string, Claims) {
	t.Helper()
	raw, c, err := e.issuer.Issue(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.Verify(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	return raw, c
}

func TestCacheBounded(t *testing.T) {
	e := newCacheEnv(t, 3)
	for i := range 20 {
		e.verify(t, Subject{UserID: "u" + strconv.Itoa(i)})
	}
	if got, max := e.v.cache.Len(), 3; got > max {
		t.Fatalf("entries = %d, want at most %d", got, max)
	}
}

// Forget drops exactly what a revocation names, through the tag index.
func TestCacheForget(t *testing.T) {
	subjects := []Subject{
		{UserID: "u1", SessionID: "s1"},
		{UserID: "u1", SessionID: "s2"},
		{UserID: "u2", SessionID: "s3"},
		{UserID: "u2"},
	}
	tests := []struct {
		name, kind string
		key        func(cs []Claims) string
		left       int
	}{
		{"jti", "jti", func(cs []Claims) string { return cs[1].ID }, 3},
		{"sid", "sid", func([]Claims) string { return "s1" }, 3},
		{"user", "user", func([]Claims) string { return "u2" }, 2},
		{"keys", "keys", func([]Claims) string { return "" }, 0},
		{"session", "session", func([]Claims) string { return "s1" }, 4}, // sessions are not tokens
		{"unknown sid", "sid", func([]Claims) string { return "s9" }, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCacheEnv(t, 10)
			var cs []Claims
			for _, s := range subjects {
				_, c := e.verify(t, s)
				cs = append(cs, c)
			}
			e.v.Forget(tt.kind, tt.key(cs))
			if got, want := e.v.cache.Len(), tt.left; got != want {
				t.Errorf("entries after Forget(%s) = %d, want %d", tt.name, got, want)
			}
		})
	}
}

// A cached verification dies at the token's exp even while the leeway
// still accepts the token: the cache never outlives exp.
func TestCacheEntryDiesAtExp(t *testing.T) {
	e := newCacheEnv(t, 10, WithLeeway(time.Minute), WithTTL(10*time.Minute))
	raw, _ := e.verify(t, Subject{UserID: "u1"})
	e.clock.Advance(10*time.Minute - time.Second)
	if got := e.v.cache.Len(); got != 1 {
		t.Fatalf("entries before exp = %d, want 1", got)
	}
	e.clock.Advance(2 * time.Second)
	if _, err := e.v.Verify(t.Context(), raw); err != nil {
		t.Fatalf("Verify within leeway: %v", err)
	}
	if got := e.v.cache.Len(); got != 0 {
		t.Fatalf("entries after exp = %d, want 0 (not served, not cached again)", got)
	}
}

// Verifications, revocations and key changes at once, for the race
// detector.
func TestCacheConcurrentUse(t *testing.T) {
	e := newCacheEnv(t, 50)
	raws := make([]string, 20)
	for i := range raws {
		raws[i], _ = e.verify(t, Subject{UserID: "u" + strconv.Itoa(i%4), SessionID: "s" + strconv.Itoa(i%3)})
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				if _, err := e.v.Verify(t.Context(), raws[(w+i)%len(raws)]); err != nil {
					t.Error(err)
					return
				}
				switch i % 50 {
				case 10:
					e.v.Forget(kindSID, "s"+strconv.Itoa(i%3))
				case 20:
					e.v.Forget(kindUser, "u"+strconv.Itoa(w))
				case 30:
					e.v.Forget(kindKeys, "")
				}
			}
		})
	}
	wg.Wait()
}

// While the watcher is stale the cache is neither read nor filled; once
// fresh again it is used.
func TestVerifierBypassesUntrustedCache(t *testing.T) {
	trusted := false
	e := newCacheEnv(t, 10, WithCacheTrust(func() bool { return trusted }))
	raw, _, err := e.issuer.Issue(Subject{UserID: "u1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		trusted bool
		entries int
	}{{false, 0}, {true, 1}} {
		trusted = tt.trusted
		if _, err := e.v.Verify(t.Context(), raw); err != nil {
			t.Fatal(err)
		}
		if got, want := e.v.cache.Len(), tt.entries; got != want {
			t.Errorf("trusted=%v: cache entries = %d, want %d", tt.trusted, got, want)
		}
	}
}
