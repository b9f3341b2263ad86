package throttle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Defaults of login.max_failures and login.window.
const (
	DefaultMaxFailures = 5
	DefaultWindow      = 15 * time.Minute
)

// Multipliers of maxFailures for the wider keys: one account from any IP
// tolerates more failures than one account from one IP (a user on several
// devices), one IP across accounts more still (a shared NAT).
const (
	accountFactor = 4
	ipFactor      = 10
)

// Limiter decides whether a login attempt may proceed. With N failures
// allowed in window W:
//
//   - "acct-ip:<user>|<ip>" locks after N failures of one account from one IP;
//   - "acct:<user>" locks after 4×N failures of one account from any IP;
//   - "ip:<ip>" locks after 10×N failures from one IP for any account.
//
// WithoutAccountKey drops the second key (client secrets).
// ForSecondFactor adds "mfa-acct-ip:<user>|<ip>", which locks after N
// failures of a second factor of one account from one IP.
//
// No limit exceeds maxLimit (984): the stores count at most
// MaxFailuresPerKey failures per key, and a higher limit would never lock.
//
// A lock lasts 1s × 2^(failures−limit) from the latest failure, capped at W,
// so persistent guessing slows down exponentially while a typo costs a
// second. IPv6 clients count per /64 (auth.ClientKey). A success clears
// only the account+IP keys, so that an attacker who knows one password
// cannot clear the account-wide or IP-wide counts, nor (ForSecondFactor)
// the count of wrong second factors.
type Limiter struct {
	store  Store
	max    int
	window time.Duration
	now    func() time.Time
	// perSource drops the account-wide key (WithoutAccountKey).
	perSource bool
	// secondFactor adds the second factor's account+IP key
	// (ForSecondFactor).
	secondFactor bool
}

// LimiterOption configures a Limiter.
type LimiterOption func(*Limiter)

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) LimiterOption { return func(l *Limiter) { l.now = now } }

// WithoutAccountKey counts failures under the account+IP and IP keys only,
// for credentials nobody can guess: client secrets (at least 32
// characters, 256 random bits when generated). There the account-wide key
// would stop no attack, and would let anyone who knows the name (a
// client_id is in every authorization URL) lock the real holder out — an
// app and every user's code exchange and refresh — from a few addresses.
func WithoutAccountKey() LimiterOption { return func(l *Limiter) { l.perSource = true } }

// ForSecondFactor counts a second factor (a TOTP or recovery code, a
// passkey) under every key of a password, and under an account+IP key of
// its own that only a right second factor clears. With the password's
// keys alone, a right password cleared the wrong codes from that IP:
// whoever held the password could give it again between guesses and try
// about 4×N codes per IP (until the account-wide key locked) instead of N.
// A right second factor clears both account+IP keys (the login is
// complete); a right password only its own.
func ForSecondFactor() LimiterOption { return func(l *Limiter) { l.secondFactor = true } }

// NewLimiter returns a Limiter over store allowing maxFailures failures per
// window; zero or negative values select DefaultMaxFailures and
// DefaultWindow.
func NewLimiter(store Store, maxFailures int, window time.Duration, opts ...LimiterOption) *Limiter {
	if maxFailures <= 0 {
		maxFailures = DefaultMaxFailures
	}
	if window <= 0 {
		window = DefaultWindow
	}
	// Every limit is at most maxLimit (rules); clamped here first, a huge
	// max_failures cannot overflow into a negative limit as it is multiplied.
	l := &Limiter{store: store, max: min(maxFailures, maxLimit), window: window, now: time.Now}
	for _, opt := range opts {
		opt(l)
	}
	return l
}

// maxLimit is the highest limit a rule gets: below MaxFailuresPerKey, the
// most a store counts, by the excess at which a lock reaches its cap
// (lockFor), so that a key over it still locks for ever longer.
const maxLimit = MaxFailuresPerKey - maxExcess

// maxExcess is the excess beyond which lockFor is the whole window.
const maxExcess = 40

type rule struct {
	key   string
	limit int
	// source marks an account+IP key, which a success clears.
	source bool
}

func (l *Limiter) rules(userKey, ip string) []rule {
	ip = auth.ClientKey(ip)
	var rules []rule
	if l.secondFactor {
		rules = append(rules, rule{"mfa-acct-ip:" + userKey + "|" + ip, l.max, true})
	}
	rules = append(rules, rule{"acct-ip:" + userKey + "|" + ip, l.max, true})
	if !l.perSource {
		rules = append(rules, rule{"acct:" + userKey, accountFactor * l.max, false})
	}
	rules = append(rules, rule{"ip:" + ip, ipFactor * l.max, false})
	for i := range rules {
		rules[i].limit = min(rules[i].limit, maxLimit)
	}
	return rules
}

// Check returns nil when userKey may try to log in from ip, a
// *auth.ThrottledError with the longest remaining lock (whole seconds, at
// least 1) when a limit is hit, or a wrapped auth.ErrUnavailable when the
// store does not answer.
func (l *Limiter) Check(ctx context.Context, userKey, ip string) error {
	_, err := l.look(ctx, l.rules(userKey, ip), l.now())
	return err
}

// look reads the failures of every rule's key at now. It returns the
// *auth.ThrottledError of the longest remaining lock when a key is locked,
// and otherwise room: per rule, the highest count an attempt may get from
// AddFailure — the limit, or one past the failures already there when
// their lock has run out (one attempt, then a longer lock).
func (l *Limiter) look(ctx context.Context, rules []rule, now time.Time) (room []int, err error) {
	room = make([]int, len(rules))
	var wait time.Duration
	var locked string
	for i, r := range rules {
		n, latest, err := l.store.Failures(ctx, r.key, now, l.window)
		if err != nil {
			return nil, fmt.Errorf("check login throttle: %w", err)
		}
		room[i] = max(r.limit, n+1)
		if n >= r.limit {
			if w := latest.Add(l.lockFor(n - r.limit)).Sub(now); w > wait {
				wait, locked = w, r.key
			}
		}
	}
	if wait > 0 {
		return nil, &auth.ThrottledError{RetryAfter: roundUp(wait), Key: locked}
	}
	return room, nil
}

// Attempt counts a login attempt of userKey from ip as a failure before
// its credential is checked. Checking first and counting after the check
// (Check, then Failure) lets attempts sent at once all pass the check
// before any of them is counted; counting first makes the check and the
// count one step per key: of attempts at once against a key with room for
// k more failures, at most k go ahead (Store.AddFailure gives each a
// different count).
//
// The error is a *auth.ThrottledError when a key is locked (as for Check)
// or when concurrent attempts took its last room; a refused attempt is not
// counted. A store that does not answer gives a wrapped
// auth.ErrUnavailable, and nothing stays counted that can be taken back.
//
// An attempt that goes ahead is ended by settle, called once with the
// outcome of the check: a wrong credential (checked wraps
// auth.ErrInvalidCredentials) stays counted; a right one (nil) is taken
// back and clears the account+IP failures, as Success does; one the check
// could not decide (any other error) is taken back. settle returns the
// store's error, if any.
func (l *Limiter) Attempt(ctx context.Context, userKey, ip string) (settle func(ctx context.Context, checked error) error, err error) {
	now := l.now()
	rules := l.rules(userKey, ip)
	// Read first: a locked key answers without a write, so a flood against
	// it costs reads only.
	room, err := l.look(ctx, rules, now)
	if err != nil {
		return nil, err
	}
	var counted []string
	undo := func(ctx context.Context) error {
		// Taking back does not wait on the caller: an attempt is mostly
		// undecided because its client left (ctx cancelled), and a count
		// left behind by a cancelled take-back would stay a failure.
		ctx = context.WithoutCancel(ctx)
		var errs []error
		for _, key := range counted {
			if err := l.store.RemoveFailure(ctx, key, now); err != nil {
				errs = append(errs, err)
			}
		}
		counted = nil
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("take back login attempt: %w", err)
		}
		return nil
	}
	for i, r := range rules {
		n, err := l.store.AddFailure(ctx, r.key, now, l.window)
		if err != nil {
			_ = undo(ctx)
			return nil, fmt.Errorf("record login attempt: %w", err)
		}
		counted = append(counted, r.key)
		if n > room[i] {
			// Attempts at once took the room: they lock the key as their
			// failures would (at least the lock of room[i] failures).
			_ = undo(ctx)
			return nil, &auth.ThrottledError{RetryAfter: roundUp(l.lockFor(room[i] - r.limit)), Key: r.key}
		}
	}
	return func(ctx context.Context, checked error) error {
		if errors.Is(checked, auth.ErrInvalidCredentials) {
			return nil
		}
		err := undo(ctx)
		if checked != nil {
			return err
		}
		return errors.Join(err, l.Success(ctx, userKey, ip))
	}, nil
}

// lockFor returns 1s × 2^excess, capped at the window.
func (l *Limiter) lockFor(excess int) time.Duration {
	if excess >= maxExcess { // beyond any sane window; also keeps the shift in range
		return l.window
	}
	return min(time.Second<<excess, l.window)
}

// roundUp rounds d up to whole seconds, at least one, for Retry-After.
func roundUp(d time.Duration) time.Duration {
	return max(((d+time.Second-1)/time.Second)*time.Second, time.Second)
}

// Failure records a failed login of userKey from ip against every key.
func (l *Limiter) Failure(ctx context.Context, userKey, ip string) error {
	now := l.now()
	var errs []error
	for _, r := range l.rules(userKey, ip) {
		if _, err := l.store.AddFailure(ctx, r.key, now, l.window); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("record login failure: %w", err)
	}
	return nil
}

// Success clears the account+IP failures after a correct login (a
// password's: its own key; a second factor's: both, see ForSecondFactor).
// The account-wide and IP-wide counts stay until their window passes.
func (l *Limiter) Success(ctx context.Context, userKey, ip string) error {
	var errs []error
	for _, r := range l.rules(userKey, ip) {
		if r.source {
			if err := l.store.ResetFailures(ctx, r.key); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("reset login failures: %w", err)
	}
	return nil
}
