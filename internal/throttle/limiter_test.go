package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
	"github.com/gatehouse-auth/gatehouse/internal/throttle"
)

const (
	maxFailures = 3
	window      = 15 * time.Minute
)

var backends = []struct {
	name     string
	newStore func(t *testing.T) throttle.Store
}{
	{"Memory", func(t *testing.T) throttle.Store { return memory.New() }},
	{"Redis", func(t *testing.T) throttle.Store {
		url, prefix := redistest.New(t)
		return openRedis(t, url, prefix)
	}},
}

func openRedis(t *testing.T, url, prefix string) *redis.Store {
	t.Helper()
	s, err := redis.Open(context.Background(), url, redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatalf("redis.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newClock starts at the wall clock (Redis expires keys in real time) and
// moves only when told.
func newClock() *clocktest.Clock { return clocktest.New(time.Now().Truncate(time.Millisecond)) }

func newLimiter(store throttle.Store, c *clocktest.Clock) *throttle.Limiter {
	return throttle.NewLimiter(store, maxFailures, window, throttle.WithClock(c.Now))
}

func fail(t *testing.T, l *throttle.Limiter, user, ip string, times int) {
	t.Helper()
	for range times {
		if err := l.Failure(context.Background(), user, ip); err != nil {
			t.Fatalf("Failure(%s, %s): %v", user, ip, err)
		}
	}
}

// retryAfter returns 0 when Check allows, or the RetryAfter of its
// ThrottledError.
func retryAfter(t *testing.T, l *throttle.Limiter, user, ip string) time.Duration {
	t.Helper()
	err := l.Check(context.Background(), user, ip)
	if err == nil {
		return 0
	}
	var te *auth.ThrottledError
	if !errors.As(err, &te) || !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("Check(%s, %s) error = %v, want nil or *auth.ThrottledError", user, ip, err)
	}
	if te.RetryAfter <= 0 || te.RetryAfter%time.Second != 0 {
		t.Fatalf("RetryAfter = %v, want a positive whole number of seconds", te.RetryAfter)
	}
	return te.RetryAfter
}

func forEachBackend(t *testing.T, test func(t *testing.T, store throttle.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.newStore(t)) })
	}
}

// TestLocksAccountAndIPAfterMaxFailures: N failures of one account from one
// IP lock that pair; a success unlocks it.
func TestLocksAccountAndIPAfterMaxFailures(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		c := newClock()
		l := newLimiter(store, c)
		fail(t, l, "alice", "192.0.2.1", maxFailures-1)
		if got := retryAfter(t, l, "alice", "192.0.2.1"); got != 0 {
			t.Fatalf("after N-1 failures: throttled for %v, want allowed", got)
		}
		fail(t, l, "alice", "192.0.2.1", 1)
		if got, want := retryAfter(t, l, "alice", "192.0.2.1"), time.Second; got != want {
			t.Fatalf("after N failures: RetryAfter = %v, want %v", got, want)
		}
		if err := l.Success(context.Background(), "alice", "192.0.2.1"); err != nil {
			t.Fatalf("Success: %v", err)
		}
		if got := retryAfter(t, l, "alice", "192.0.2.1"); got != 0 {
			t.Fatalf("after a success: throttled for %v, want allowed", got)
		}
	})
}

// TestAccountLockNeedsFourTimesMaxFromOtherIPs: the real user on another IP
// is not locked out by someone guessing from elsewhere, until the guesses
// add up to 4×N across IPs; a success does not reset that count.
func TestAccountLockNeedsFourTimesMaxFromOtherIPs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		c := newClock()
		l := newLimiter(store, c)
		const owner = "198.51.100.7"
		for i := range 4*maxFailures - 1 {
			fail(t, l, "alice", fmt.Sprintf("192.0.2.%d", i), 1)
		}
		if got := retryAfter(t, l, "alice", owner); got != 0 {
			t.Fatalf("after 4N-1 failures from other IPs: owner throttled for %v, want allowed", got)
		}
		fail(t, l, "alice", "192.0.2.200", 1)
		if got := retryAfter(t, l, "alice", owner); got == 0 {
			t.Fatal("after 4N failures from other IPs: owner allowed, want the account locked")
		}
		if err := l.Success(context.Background(), "alice", owner); err != nil {
			t.Fatalf("Success: %v", err)
		}
		if got := retryAfter(t, l, "alice", "203.0.113.1"); got == 0 {
			t.Fatal("a success reset the account-wide count, want it kept")
		}
		if got := retryAfter(t, l, "bob", owner); got != 0 {
			t.Fatalf("another account throttled for %v, want allowed", got)
		}
	})
}

// TestWithoutAccountKeyNoLockFromElsewhere: with WithoutAccountKey (client
// secrets) failures from many other IPs never lock the holder's IP, while
// the account+IP and IP keys still lock the guessing addresses.
func TestWithoutAccountKeyNoLockFromElsewhere(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		c := newClock()
		l := throttle.NewLimiter(store, maxFailures, window, throttle.WithClock(c.Now), throttle.WithoutAccountKey())
		for i := range 10 * maxFailures {
			fail(t, l, "client:web", fmt.Sprintf("192.0.2.%d", i/maxFailures), 1)
		}
		if got := retryAfter(t, l, "client:web", "198.51.100.7"); got != 0 {
			t.Fatalf("the client's own IP throttled for %v after failures elsewhere, want allowed", got)
		}
		if got := retryAfter(t, l, "client:web", "192.0.2.0"); got == 0 {
			t.Fatal("a guessing IP after N failures: allowed, want throttled")
		}
		fail(t, l, "client:other", "203.0.113.9", 10*maxFailures)
		if got := retryAfter(t, l, "client:web", "203.0.113.9"); got == 0 {
			t.Fatal("an IP after 10N failures for another name: allowed, want the IP locked")
		}
	})
}

// TestIPLockStopsPasswordSpraying: one IP trying many accounts is locked
// after 10×N failures, for every account, while other IPs are not.
func TestIPLockStopsPasswordSpraying(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		c := newClock()
		l := newLimiter(store, c)
		const sprayer = "203.0.113.66"
		for i := range 10*maxFailures - 1 {
			fail(t, l, fmt.Sprintf("user%d", i), sprayer, 1)
		}
		if got := retryAfter(t, l, "victim", sprayer); got != 0 {
			t.Fatalf("after 10N-1 failures: throttled for %v, want allowed", got)
		}
		fail(t, l, "last", sprayer, 1)
		if got := retryAfter(t, l, "victim", sprayer); got == 0 {
			t.Fatal("after 10N failures from one IP: allowed, want the IP locked")
		}
		if got := retryAfter(t, l, "victim", "198.51.100.7"); got != 0 {
			t.Fatalf("another IP throttled for %v, want allowed", got)
		}
	})
}

// TestIPv6CountsPerSlash64: addresses of one /64 share the IP count, since
// one subscriber can use all of them.
func TestIPv6CountsPerSlash64(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		c := newClock()
		l := newLimiter(store, c)
		for i := range maxFailures {
			fail(t, l, "alice", fmt.Sprintf("2001:db8:1:2::%x", i+1), 1)
		}
		if got := retryAfter(t, l, "alice", "2001:db8:1:2:ffff::1"); got == 0 {
			t.Fatal("same /64: allowed, want locked")
		}
		if got := retryAfter(t, l, "alice", "2001:db8:1:3::1"); got != 0 {
			t.Fatalf("other /64: throttled for %v, want allowed", got)
		}
	})
}

// TestBackoffGrowsAndCapsAtWindow: each failure past the limit doubles the
// lock, up to the window; the remaining lock is rounded up to seconds.
func TestBackoffGrowsAndCapsAtWindow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		c := newClock()
		l := newLimiter(store, c)
		tests := []struct {
			failures int // total so far
			want     time.Duration
		}{
			{maxFailures, time.Second},
			{maxFailures + 1, 2 * time.Second},
			{maxFailures + 2, 4 * time.Second},
			{maxFailures + 5, 32 * time.Second},
			{maxFailures + 9, 512 * time.Second},
			{maxFailures + 10, window}, // 1024s, capped at 900s
			{maxFailures + 20, window},
		}
		done := 0
		for _, tt := range tests {
			fail(t, l, "alice", "192.0.2.1", tt.failures-done)
			done = tt.failures
			if got := retryAfter(t, l, "alice", "192.0.2.1"); got != tt.want {
				t.Fatalf("after %d failures: RetryAfter = %v, want %v", tt.failures, got, tt.want)
			}
		}
	})
}

// TestLockEndsAndWindowExpiryUnlocks: the remaining lock shrinks as time
// passes (rounded up), ends when it runs out, and failures that have left
// the window no longer count.
func TestLockEndsAndWindowExpiryUnlocks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		c := newClock()
		l := newLimiter(store, c)
		fail(t, l, "alice", "192.0.2.1", maxFailures+2) // 4s lock

		steps := []struct {
			advance time.Duration
			want    time.Duration
		}{
			{1500 * time.Millisecond, 3 * time.Second}, // 2.5s left → 3s
			{2 * time.Second, time.Second},             // 0.5s left → 1s
			{time.Second, 0},                           // lock over
		}
		for _, s := range steps {
			c.Advance(s.advance)
			if got := retryAfter(t, l, "alice", "192.0.2.1"); got != s.want {
				t.Fatalf("RetryAfter = %v, want %v", got, s.want)
			}
		}

		// Locked at the cap; only the window's passing frees the account.
		fail(t, l, "bob", "192.0.2.2", maxFailures+20)
		c.Advance(window - time.Second)
		if got, want := retryAfter(t, l, "bob", "192.0.2.2"), time.Second; got != want {
			t.Fatalf("just before the window ends: RetryAfter = %v, want %v", got, want)
		}
		c.Advance(2 * time.Second)
		if got := retryAfter(t, l, "bob", "192.0.2.2"); got != 0 {
			t.Fatalf("after the window: throttled for %v, want allowed", got)
		}
		// One new failure starts from scratch: far from the limit.
		fail(t, l, "bob", "192.0.2.2", 1)
		if got := retryAfter(t, l, "bob", "192.0.2.2"); got != 0 {
			t.Fatalf("one failure after the window: throttled for %v, want allowed", got)
		}
	})
}

// TestInstancesShareCountsThroughRedis: failures seen by two instances add
// up, so moving between instances does not reset anything.
func TestInstancesShareCountsThroughRedis(t *testing.T) {
	url, prefix := redistest.New(t)
	c := newClock()
	one := newLimiter(openRedis(t, url, prefix), c)
	two := newLimiter(openRedis(t, url, prefix), c)

	fail(t, one, "alice", "192.0.2.1", maxFailures-1)
	if got := retryAfter(t, two, "alice", "192.0.2.1"); got != 0 {
		t.Fatalf("after N-1 failures: throttled for %v, want allowed", got)
	}
	fail(t, two, "alice", "192.0.2.1", 1)
	for name, l := range map[string]*throttle.Limiter{"first": one, "second": two} {
		if got := retryAfter(t, l, "alice", "192.0.2.1"); got == 0 {
			t.Fatalf("%s instance: allowed after N failures split across instances", name)
		}
	}
}

// TestUnavailableStoreFailsClosed: when Redis does not answer, Check,
// Failure and Attempt fail with auth.ErrUnavailable — never allow, never throttle.
func TestUnavailableStoreFailsClosed(t *testing.T) {
	l := newLimiter(openRedis(t, "redis://127.0.0.1:1/0", "gatehouse-test:dead:"), newClock())
	ctx := context.Background()
	calls := map[string]func() error{
		"Check":   func() error { return l.Check(ctx, "alice", "192.0.2.1") },
		"Failure": func() error { return l.Failure(ctx, "alice", "192.0.2.1") },
		"Success": func() error { return l.Success(ctx, "alice", "192.0.2.1") },
		"Attempt": func() error { _, err := l.Attempt(ctx, "alice", "192.0.2.1"); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, auth.ErrUnavailable) || errors.Is(err, auth.ErrThrottled) {
				t.Fatalf("error = %v, want auth.ErrUnavailable", err)
			}
		})
	}
}

// attemptsAtOnce runs n Attempts of user from ip at once and returns the
// settle of each that went ahead and the RetryAfter of each refused one.
func attemptsAtOnce(t *testing.T, l *throttle.Limiter, user, ip string, n int) (ahead []func(context.Context, error) error, refused []time.Duration) {
	t.Helper()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			settle, err := l.Attempt(context.Background(), user, ip)
			mu.Lock()
			defer mu.Unlock()
			var te *auth.ThrottledError
			switch {
			case err == nil:
				ahead = append(ahead, settle)
			case errors.As(err, &te):
				refused = append(refused, te.RetryAfter)
			default:
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("Attempt: %v", errs)
	}
	return ahead, refused
}

// attempt runs one Attempt that must go ahead and returns its settle.
func attempt(t *testing.T, l *throttle.Limiter, user, ip string) func(context.Context, error) error {
	t.Helper()
	settle, err := l.Attempt(context.Background(), user, ip)
	if err != nil {
		t.Fatalf("Attempt(%s, %s): %v", user, ip, err)
	}
	return settle
}

// TestAttemptsAtOnceStopAtMaxFailures: attempts sent at once are counted
// before any is checked, so no more than N go ahead (a check followed by a
// later Failure would let them all through), the rest are refused without
// being counted, and the N lock the pair as N failures do.
func TestAttemptsAtOnceStopAtMaxFailures(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		c := newClock()
		l := newLimiter(store, c)
		const n = 20
		ahead, refused := attemptsAtOnce(t, l, "alice", "192.0.2.1", n)
		if len(ahead) != maxFailures || len(refused) != n-maxFailures {
			t.Fatalf("%d attempts at once: %d went ahead, %d refused; want %d ahead", n, len(ahead), len(refused), maxFailures)
		}
		// A refused attempt may read the count while another refused one
		// is still in it, so its RetryAfter may be longer, never shorter.
		for _, d := range refused {
			if d < time.Second {
				t.Fatalf("refused attempt RetryAfter = %v, want at least 1s", d)
			}
		}
		// Exactly N failures stayed: the lock of N, not of N plus the refused.
		if got, want := retryAfter(t, l, "alice", "192.0.2.1"), time.Second; got != want {
			t.Fatalf("after the attempts: RetryAfter = %v, want %v", got, want)
		}
	})
}

// TestAttemptWhenLockRunsOutLetsOneThrough: once a lock runs out, one
// attempt of those at once goes ahead, and its failure locks the pair for
// longer.
func TestAttemptWhenLockRunsOutLetsOneThrough(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		c := newClock()
		l := newLimiter(store, c)
		fail(t, l, "alice", "192.0.2.1", maxFailures)
		if _, err := l.Attempt(context.Background(), "alice", "192.0.2.1"); !errors.Is(err, auth.ErrThrottled) {
			t.Fatalf("Attempt while locked = %v, want auth.ErrThrottled", err)
		}
		c.Advance(time.Second)
		ahead, refused := attemptsAtOnce(t, l, "alice", "192.0.2.1", 5)
		if len(ahead) != 1 {
			t.Fatalf("5 attempts once the lock ran out: %d went ahead, want 1", len(ahead))
		}
		for _, d := range refused {
			if d < 2*time.Second {
				t.Fatalf("refused attempt RetryAfter = %v, want at least 2s", d)
			}
		}
		if got, want := retryAfter(t, l, "alice", "192.0.2.1"), 2*time.Second; got != want {
			t.Fatalf("after one more failure: RetryAfter = %v, want %v", got, want)
		}
	})
}

// TestSettleTakesBackWhatWasNotWrong: an attempt whose credential was
// right is taken back from every key (and the account+IP failures are
// cleared, as Success does), so successes never add up to a lock — not for
// the account+IP pair, and not account-wide or IP-wide, which Success does
// not clear. A wrong one stays counted; one whose check decided nothing is
// taken back.
func TestSettleTakesBackWhatWasNotWrong(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		c := newClock()
		l := newLimiter(store, c)
		ctx := context.Background()
		for i := range 10*maxFailures + 1 {
			ip := fmt.Sprintf("192.0.2.%d", i%4) // the account from several IPs
			if err := attempt(t, l, "alice", ip)(ctx, nil); err != nil {
				t.Fatalf("settle a right credential: %v", err)
			}
		}
		for _, ip := range []string{"192.0.2.0", "198.51.100.7"} {
			if got := retryAfter(t, l, "alice", ip); got != 0 {
				t.Fatalf("after right attempts only: %s throttled for %v, want allowed", ip, got)
			}
		}
		// Wrong ones stay counted: N of them lock the pair.
		for range maxFailures - 1 {
			if err := attempt(t, l, "bob", "192.0.2.1")(ctx, auth.ErrInvalidCredentials); err != nil {
				t.Fatalf("settle a wrong credential: %v", err)
			}
		}
		settle := attempt(t, l, "bob", "192.0.2.1")
		if got := retryAfter(t, l, "bob", "192.0.2.1"); got == 0 {
			t.Fatal("after N attempts: allowed, want locked")
		}
		if err := settle(ctx, errors.New("the check could not decide")); err != nil {
			t.Fatalf("settle an undecided check: %v", err)
		}
		if got := retryAfter(t, l, "bob", "192.0.2.1"); got != 0 {
			t.Fatalf("after taking the N-th back: throttled for %v, want allowed", got)
		}
	})
}

// TestAttemptsAtOnceAcrossInstances: the bound holds for attempts spread
// over instances sharing Redis.
func TestAttemptsAtOnceAcrossInstances(t *testing.T) {
	url, prefix := redistest.New(t)
	c := newClock()
	limiters := []*throttle.Limiter{newLimiter(openRedis(t, url, prefix), c), newLimiter(openRedis(t, url, prefix), c)}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		ahead int
	)
	for i := range 20 {
		wg.Go(func() {
			_, err := limiters[i%2].Attempt(context.Background(), "alice", "192.0.2.1")
			if err != nil && !errors.Is(err, auth.ErrThrottled) {
				t.Errorf("Attempt: %v", err)
			}
			if err == nil {
				mu.Lock()
				ahead++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ahead != maxFailures {
		t.Fatalf("20 attempts at once on two instances: %d went ahead, want %d", ahead, maxFailures)
	}
}

// TestSettleAfterTheClientLeft: a login whose client went away while it
// waited (for a hashing slot, a user lookup) is settled with the request's
// context already cancelled. It was not decided, so it must still be taken
// back: a user whose client times out during a login flood is not a
// guesser, and max_failures of those locked them out.
func TestSettleAfterTheClientLeft(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		l := newLimiter(store, newClock())
		for i := range maxFailures {
			ctx, cancel := context.WithCancel(context.Background())
			settle, err := l.Attempt(ctx, "alice", "192.0.2.1")
			if err != nil {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
			cancel() // the client leaves while its password waits for a slot
			_ = settle(ctx, fmt.Errorf("wait for password hashing slot: %w", ctx.Err()))
		}
		if got := retryAfter(t, l, "alice", "192.0.2.1"); got != 0 {
			t.Fatalf("after %d attempts whose clients left: throttled for %v, want allowed", maxFailures, got)
		}
	})
}

// A second factor counts under the password's keys and under one of its
// own: a right password clears only its own account+IP count, so whoever
// holds it cannot give it between wrong codes to get more than N of them
// from one IP; a right second factor (a complete login) clears both.
func TestForSecondFactorKeepsCountAPasswordClears(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		ctx := context.Background()
		clock := newClock()
		password := newLimiter(store, clock)
		code := throttle.NewLimiter(store, maxFailures, window, throttle.WithClock(clock.Now), throttle.ForSecondFactor())
		for i := range maxFailures {
			if err := password.Success(ctx, "alice", "192.0.2.1"); err != nil {
				t.Fatalf("password Success: %v", err)
			}
			if got := retryAfter(t, code, "alice", "192.0.2.1"); got != 0 {
				t.Fatalf("code check after %d wrong codes, each after a right password: locked %v, want open", i, got)
			}
			fail(t, code, "alice", "192.0.2.1", 1)
		}
		if err := password.Success(ctx, "alice", "192.0.2.1"); err != nil {
			t.Fatalf("password Success: %v", err)
		}
		if got := retryAfter(t, code, "alice", "192.0.2.1"); got == 0 {
			t.Fatalf("code check after %d wrong codes, each after a right password: open, want locked", maxFailures)
		}
		// Wrong codes count in the password's keys too: the right password
		// from this IP waits as after N wrong passwords.
		fail(t, code, "alice", "192.0.2.1", maxFailures)
		if got := retryAfter(t, password, "alice", "192.0.2.1"); got == 0 {
			t.Fatalf("password check after %d wrong codes: open, want locked", maxFailures)
		}
		if err := code.Success(ctx, "alice", "192.0.2.1"); err != nil {
			t.Fatalf("code Success: %v", err)
		}
		for name, l := range map[string]*throttle.Limiter{"password": password, "code": code} {
			if got := retryAfter(t, l, "alice", "192.0.2.1"); got != 0 {
				t.Errorf("%s check after a right code: locked %v, want open", name, got)
			}
		}
	})
}

// TestIPLockHoldsWhateverMaxFailures: the stores keep at most
// throttle.MaxFailuresPerKey failures per key, so a limit above that was
// never reached: with login.max_failures above 102, one address could
// spray passwords over any number of accounts (its 10 × N IP-wide limit
// never locked), and above 256 one account took guesses from any number
// of addresses. Such a limit now locks at the most a store counts.
func TestIPLockHoldsWhateverMaxFailures(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		c := newClock()
		for _, lenient := range []int{200, math.MaxInt/10 + 1} { // IP-wide 2,000 as configured; 10 × N overflowing int
			t.Run(fmt.Sprint(lenient), func(t *testing.T) {
				l := throttle.NewLimiter(store, lenient, window, throttle.WithClock(c.Now))
				ip := fmt.Sprintf("192.0.2.%d", lenient%250)
				if got := retryAfter(t, l, "someone", ip); got != 0 {
					t.Fatalf("before any failure: throttled for %v, want allowed", got)
				}
				for i := range throttle.MaxFailuresPerKey + 1 {
					fail(t, l, fmt.Sprintf("user-%d", i), ip, 1)
				}
				if got := retryAfter(t, l, "someone-else", ip); got == 0 {
					t.Fatalf("after %d failures from one IP over as many accounts: allowed, want the IP locked", throttle.MaxFailuresPerKey+1)
				}
				if got := retryAfter(t, l, "someone-else", "198.51.100.1"); got != 0 {
					t.Fatalf("another IP: throttled for %v, want allowed", got)
				}
			})
		}
	})
}

// TestAccountLockHoldsWhileGuessingGoesOn: the account-wide key is a lock
// that anyone may keep on: guessing from ever new addresses (no account+IP
// or IP key ever fills), whenever the lock runs out, keeps the account
// locked for its owner, on an address that never failed, for as long as
// the guessing goes on — at a cost of about 4×N + log2(window/1s) guesses
// per window (docs/security.md).
func TestAccountLockHoldsWhileGuessingGoesOn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store throttle.Store) {
		ctx, c := context.Background(), newClock()
		l := newLimiter(store, c)
		const owner = "198.51.100.7"
		sent := 0
		guess := func() error {
			sent++
			settle, err := l.Attempt(ctx, "alice", fmt.Sprintf("10.%d.%d.1", sent/250, sent%250))
			if err != nil {
				return err
			}
			return settle(ctx, auth.ErrInvalidCredentials)
		}
		start, perWindow := c.Now(), map[int]int{}
		for c.Now().Before(start.Add(3 * window)) {
			for retryAfter(t, l, "alice", owner) == 0 { // the guesser's turn comes first
				if err := guess(); err != nil && !errors.Is(err, auth.ErrThrottled) {
					t.Fatal(err)
				}
				perWindow[int(c.Now().Sub(start)/window)]++
			}
			c.Advance(retryAfter(t, l, "alice", owner))
		}
		for w := range 3 {
			if got, most := perWindow[w], 4*maxFailures+11; got > most {
				t.Errorf("window %d: %d guesses kept the account locked, want at most %d", w, got, most)
			}
		}
	})
}
