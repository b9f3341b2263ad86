package password_test

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// cheap keeps tests fast; the defaults are exercised by the benchmark.
var cheap = password.Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}

func newHasher(t *testing.T, p password.Params) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(p, 2)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashIsPHCArgon2id(t *testing.T) {
	h := newHasher(t, cheap)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=8192,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(enc) {
		t.Fatalf("hash %q is not a PHC argon2id string", enc)
	}
	again, _ := h.Hash(ctx, "correct horse battery staple")
	if again == enc {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
}

func TestVerify(t *testing.T) {
	h := newHasher(t, cheap)
	ctx := context.Background()
	enc, _ := h.Hash(ctx, "correct horse battery staple")
	tests := []struct {
		name     string
		password string
		want     bool
	}{
		{"right password", "correct horse battery staple", true},
		{"wrong password", "correct horse battery stapler", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, tt.password, enc)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.want {
				t.Fatalf("Verify = %v, want %v", ok, tt.want)
			}
			if rehash {
				t.Fatal("rehash requested with unchanged parameters")
			}
		})
	}
}

func TestVerifyAsksForRehashWhenParamsChange(t *testing.T) {
	ctx := context.Background()
	old := newHasher(t, cheap)
	enc, _ := old.Hash(ctx, "correct horse battery staple")
	stronger := newHasher(t, password.Params{MemoryKiB: 9 * 1024, Iterations: 2, Parallelism: 1})
	ok, rehash, err := stronger.Verify(ctx, "correct horse battery staple", enc)
	if err != nil || !ok {
		t.Fatalf("old hash no longer verifies: ok=%v err=%v", ok, err)
	}
	if !rehash {
		t.Fatal("no rehash requested after the parameters changed")
	}
	if _, rehash, _ := stronger.Verify(ctx, "wrong password here", enc); rehash {
		t.Fatal("rehash requested for a wrong password")
	}
}

func TestVerifyRejectsMalformedHashes(t *testing.T) {
	h := newHasher(t, cheap)
	for _, enc := range []string{
		"", "plain", "$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8192,t=1,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaA",
		// Trailing or surrounding text around a number: the PHC string is exact.
		"$argon2id$v=19x$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8192junk,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8192,t=1,p=1junk$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8192,t=1,p=1,x=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v= 19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=+8192,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=08192,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$t=1,m=8192,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8192,t=1,p=256$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if _, _, err := h.Verify(context.Background(), "x", enc); !errors.Is(err, password.ErrMalformedHash) {
			t.Errorf("Verify(%q) error = %v, want ErrMalformedHash", enc, err)
		}
	}
}

func TestCheckStrength(t *testing.T) {
	tests := []struct {
		name     string
		password string
		inputs   []string
		ok       bool
	}{
		{"too short", "aB3$x", nil, false},
		{"too long", strings.Repeat("correct horse ", 80), nil, false},
		{"most common", "password", nil, false},
		{"common with digits", "password123", nil, false},
		{"keyboard walk", "qwertyuiop", nil, false},
		{"the username", "alice-wonderland", []string{"alice-wonderland"}, false},
		{"passphrase", "correct horse battery staple", nil, true},
		{"random", "vT9#qL2!wZ7@", nil, true},
		// JSON (the login API, the admin API) turns invalid UTF-8 into
		// U+FFFD: a password set with it (gatehouse user add
		// --password-stdin) could never be typed there.
		{"not UTF-8", "correct\xff\xfehorse battery staple", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := password.CheckStrength(tt.password, tt.inputs...)
			if got := err == nil; got != tt.ok {
				t.Fatalf("CheckStrength ok = %v, want %v (err: %v)", got, tt.ok, err)
			}
			if err != nil && !errors.Is(err, password.ErrWeak) {
				t.Fatalf("error %v does not match ErrWeak", err)
			}
		})
	}
}

func BenchmarkHashDefaultParams(b *testing.B) {
	h, err := password.NewHasher(password.DefaultParams, 0)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// A flood beyond what max_wait allows is refused with an OverloadedError
// (never a wrong answer), and callers that were admitted still verify.
func TestHasherShedsFlood(t *testing.T) {
	h, err := password.NewHasher(cheap, 1, password.WithMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	const n = 32
	var (
		mu           sync.Mutex
		shed, passed int
		wg           sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			ok, _, err := h.Verify(context.Background(), "correct horse battery staple", enc)
			mu.Lock()
			defer mu.Unlock()
			var oe *auth.OverloadedError
			switch {
			case errors.As(err, &oe):
				if !errors.Is(err, auth.ErrOverloaded) || oe.RetryAfter <= 0 {
					t.Errorf("shed err = %v (retry after %v), want ErrOverloaded with a positive RetryAfter", err, oe.RetryAfter)
				}
				shed++
			case err != nil || !ok:
				t.Errorf("Verify = %v, %v; want true or overloaded", ok, err)
			default:
				passed++
			}
		})
	}
	wg.Wait()
	if shed == 0 || passed == 0 {
		t.Errorf("%d verifications: %d passed, %d shed; want some of each", n, passed, shed)
	}
	if err := h.VerifyDummy(context.Background(), "x"); err != nil {
		t.Errorf("VerifyDummy after the flood = %v, want nil", err)
	}
}

func TestDefaultMaxConcurrentLeavesCPUs(t *testing.T) {
	if got, want := password.DefaultMaxConcurrent(), max(1, runtime.GOMAXPROCS(0)/2); got != want {
		t.Errorf("DefaultMaxConcurrent() = %d, want %d", got, want)
	}
}

// One client (IP) cannot hold more than max_per_client logins in flight:
// the next is refused with an OverloadedError, after the shed delay, while
// other clients are still admitted; releasing a login frees its place.
func TestAdmitClientCapsLoginsPerClient(t *testing.T) {
	const delay = 50 * time.Millisecond
	h, err := password.NewHasher(cheap, 1, password.WithMaxPerClient(2), password.WithShedDelay(delay))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admit := func(client string) func() {
		t.Helper()
		release, err := h.AdmitClient(ctx, client)
		if err != nil {
			t.Fatalf("AdmitClient(%q) = %v, want admitted", client, err)
		}
		return release
	}
	r1, r2 := admit("192.0.2.1"), admit("192.0.2.1")
	t.Cleanup(r2)

	start := time.Now()
	_, err = h.AdmitClient(ctx, "192.0.2.1")
	held := time.Since(start)
	var oe *auth.OverloadedError
	if !errors.As(err, &oe) || !errors.Is(err, auth.ErrOverloaded) || oe.RetryAfter < time.Second {
		t.Fatalf("third login of one client = %v, want OverloadedError with Retry-After >= 1s", err)
	}
	if held < delay {
		t.Errorf("refusal answered after %v, want it held for the shed delay %v", held, delay)
	}

	t.Cleanup(admit("192.0.2.2")) // another client is not affected
	r1()
	t.Cleanup(admit("192.0.2.1")) // a released place is free again
}

// An IPv6 client holds a whole /64: its addresses share one
// max_per_client, as they share one login throttle count; per address, one
// client could take every hashing slot by rotating its source address.
func TestAdmitClientCountsIPv6Per64(t *testing.T) {
	h, err := password.NewHasher(cheap, 1, password.WithMaxPerClient(1), password.WithShedDelay(-1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	release, err := h.AdmitClient(ctx, "2001:db8:1:2::1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	if release, err := h.AdmitClient(ctx, "2001:db8:1:2::2"); !errors.Is(err, auth.ErrOverloaded) {
		if err == nil {
			release()
		}
		t.Errorf("second login from the same /64 = %v, want ErrOverloaded", err)
	}
	other, err := h.AdmitClient(ctx, "2001:db8:1:3::1")
	if err != nil {
		t.Fatalf("login from another /64 = %v, want admitted", err)
	}
	other()
}

// The shed delay is a hold, not a queue: a client that gives up (ctx done)
// gets its refusal at once; with no cap and no delay (negative options)
// any number of logins of one client are admitted.
func TestAdmitClientOptions(t *testing.T) {
	tests := []struct {
		name      string
		opts      []password.Option
		cancelled bool
		admitted  int // of 4 concurrent logins of one client
	}{
		{"cap 1, held refusals, client gone", []password.Option{password.WithMaxPerClient(1), password.WithShedDelay(time.Hour)}, true, 1},
		{"no cap", []password.Option{password.WithMaxPerClient(-1), password.WithShedDelay(-1)}, false, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := password.NewHasher(cheap, 1, append(tc.opts, password.WithMaxWait(time.Hour))...)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancelled {
				cancel()
			} else {
				t.Cleanup(cancel)
			}
			admitted := 0
			for range 4 {
				release, err := h.AdmitClient(ctx, "198.51.100.7")
				switch {
				case err == nil:
					admitted++
					t.Cleanup(release)
				case !errors.Is(err, auth.ErrOverloaded):
					t.Errorf("AdmitClient = %v, want nil or ErrOverloaded", err)
				}
			}
			if admitted != tc.admitted {
				t.Errorf("admitted %d of 4 logins, want %d", admitted, tc.admitted)
			}
		})
	}
}

// SetProcs asks for spare Ps when hashing starts, once per busy period,
// and gives them back after hashing has been idle for ProcsIdle.
func TestSetProcsWhileHashing(t *testing.T) {
	h, err := password.NewHasher(cheap, 2)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		calls []int
	)
	h.SetProcs(func(extra int) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, extra)
	})
	got := func() []int {
		mu.Lock()
		defer mu.Unlock()
		return append([]int(nil), calls...)
	}
	enc, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Verify(context.Background(), "correct horse battery staple", enc); err != nil {
		t.Fatal(err)
	}
	if c := got(); len(c) != 1 || c[0] != 2 {
		t.Fatalf("calls after two hashes = %v, want [2] (one per busy period, one P per slot)", c)
	}
	deadline := time.Now().Add(password.ProcsIdle + 10*time.Second)
	for len(got()) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if c := got(); len(c) != 2 || c[1] != 0 {
		t.Fatalf("calls after hashing went idle = %v, want [2 0]", c)
	}
}
