package token

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
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

// The cache is keyed by the signature alone (cacheKey), so a token that
// carries a cached token's signature over other bytes must not be served
// from it: every such forgery is refused and the genuine entry stays.
func TestCacheRefusesForeignSignedPart(t *testing.T) {
	e := newCacheEnv(t, 10)
	raw, _ := e.verify(t, Subject{UserID: "u1", Roles: []string{"user"}})
	other, _, err := e.issuer.Issue(Subject{UserID: "admin", Roles: []string{"admin"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	signed, sig := raw[:strings.LastIndexByte(raw, '.')], raw[strings.LastIndexByte(raw, '.')+1:]
	header, payload, _ := strings.Cut(signed, ".")
	claims, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	escalated := strings.Replace(string(claims), `"sub":"u1"`, `"sub":"admin"`, 1)
	if escalated == string(claims) {
		t.Fatalf("no sub member to replace in %s", claims)
	}
	forgeries := map[string]string{
		"another token's header and payload": other[:strings.LastIndexByte(other, '.')] + "." + sig,
		"payload with another subject":       header + "." + base64.RawURLEncoding.EncodeToString([]byte(escalated)) + "." + sig,
		"payload with a byte more":           signed + "A." + sig,
		"an extra segment":                   signed + "." + sig[:8] + "." + sig,
	}
	for name, forged := range forgeries {
		t.Run(name, func(t *testing.T) {
			if _, err := e.v.Verify(t.Context(), forged); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("Verify(forgery) = %v, want ErrUnauthenticated", err)
			}
			if got := e.v.cache.Len(); got != 1 {
				t.Fatalf("entries = %d, want 1 (the genuine token's)", got)
			}
			p, err := e.v.Verify(t.Context(), raw)
			if err != nil || p.Subject != "u1" {
				t.Fatalf("genuine token after the forgery: %+v, %v", p, err)
			}
		})
	}
}

// An entry keeps the signed part in memory of its own, never the signature
// nor the request's Authorization value it was sliced from.
func TestCacheEntryHoldsNoSignature(t *testing.T) {
	e := newCacheEnv(t, 10)
	raw, _, err := e.issuer.Issue(Subject{UserID: "u1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	header := "Bearer " + raw // as credential hands it over: a slice of the header value
	if _, err := e.v.Verify(t.Context(), header[len("Bearer "):]); err != nil {
		t.Fatal(err)
	}
	key, signed, ok := cacheKey(raw)
	if !ok {
		t.Fatal("cacheKey refused a compact JWS")
	}
	entry, ok := e.v.cache.Get(key)
	if !ok {
		t.Fatal("verified token not cached")
	}
	if entry.signed != signed {
		t.Errorf("entry's signed part = %q, want %q", entry.signed, signed)
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(header)))
	if at := uintptr(unsafe.Pointer(unsafe.StringData(entry.signed))); at >= start && at < start+uintptr(len(header)) {
		t.Error("entry's signed part points into the Authorization value: it keeps the signature alive")
	}
}

// cacheKey caches only compact JWS with a signature.
func TestCacheKeyNeedsASignature(t *testing.T) {
	for _, raw := range []string{"", "opaque-token", "a.b.", "."} {
		if _, _, ok := cacheKey(raw); ok {
			t.Errorf("cacheKey(%q) ok, want refused", raw)
		}
	}
	if _, signed, ok := cacheKey("h.p.s"); !ok || signed != "h.p" {
		t.Errorf(`cacheKey("h.p.s") = %q, %v; want "h.p", true`, signed, ok)
	}
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
