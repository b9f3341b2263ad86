package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters. The defaults are OWASP's minimum
// recommendation (m=19456 KiB, t=2, p=1).
type Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// DefaultParams is OWASP's recommended minimum for argon2id.
var DefaultParams = Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// ErrMalformedHash is returned for a stored hash that is not a PHC argon2id string.
var ErrMalformedHash = errors.New("malformed password hash")

// DefaultMaxWait is how long a hash may wait for a slot unless WithMaxWait
// says otherwise (passwords.max_wait).
const DefaultMaxWait = 2 * time.Second

// Hasher hashes and verifies passwords, at most maxConcurrent at a time.
// Callers beyond that queue, but only while the expected wait stays under
// maxWait: a login flood is shed at once with *auth.OverloadedError (503 +
// Retry-After) instead of piling up behind the semaphore (issue 11 finding
// 8), and a caller that has queued gives up after maxWait.
type Hasher struct {
	params  Params
	sem     chan struct{}
	maxWait time.Duration
	waiting atomic.Int64 // callers queued for a slot
	avg     atomic.Int64 // moving average of one hash, in ns
	dummy   string

	// Spare Ps while hashes run (SetProcs).
	procs      atomic.Pointer[func(extra int)]
	procMu     sync.Mutex
	running    int         // hashes holding a slot
	raised     bool        // procs(Slots()) was called, procs(0) not yet
	lowerTimer *time.Timer // lowers them once hashing has been idle for ProcsIdle

	// Per-client admission (AdmitClient): logins in flight by client.
	perClient int
	shedDelay time.Duration
	mu        sync.Mutex
	inFlight  map[string]int
}

// Option configures a Hasher.
type Option func(*Hasher)

// WithMaxWait bounds the expected (and the actual) wait for a hashing slot
// (passwords.max_wait); d <= 0 means DefaultMaxWait.
func WithMaxWait(d time.Duration) Option {
	return func(h *Hasher) {
		if d > 0 {
			h.maxWait = d
		}
	}
}

// DefaultMaxPerClient is how many logins one client (IP address) may have
// in flight unless WithMaxPerClient says otherwise
// (passwords.max_per_client).
const DefaultMaxPerClient = 8

// DefaultShedDelay is how long a refused login is held before its answer
// unless WithShedDelay says otherwise (passwords.shed_delay).
const DefaultShedDelay = time.Second

// WithMaxPerClient caps the logins one client may have in flight
// (passwords.max_per_client); n == 0 means DefaultMaxPerClient, n < 0 no cap.
func WithMaxPerClient(n int) Option {
	return func(h *Hasher) {
		if n != 0 {
			h.perClient = n
		}
	}
}

// WithShedDelay sets how long AdmitClient holds a refusal before it
// returns (passwords.shed_delay); d == 0 means DefaultShedDelay, d < 0 no
// hold. The hold never exceeds maxWait.
func WithShedDelay(d time.Duration) Option {
	return func(h *Hasher) {
		if d != 0 {
			h.shedDelay = max(d, 0)
		}
	}
}

// DefaultMaxConcurrent is max(1, GOMAXPROCS/2): argon2id gets at most half
// the CPUs by default, so that a login flood cannot starve the gateway's
// proxy path (issue 15).
func DefaultMaxConcurrent() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// Slots is how many hashes may run at once (passwords.max_concurrent).
func (h *Hasher) Slots() int { return cap(h.sem) }

// ProcsIdle is how long hashing must have been idle before the spare Ps
// that SetProcs asked for are given back: a steady trickle of logins does
// not resize the scheduler for each one.
const ProcsIdle = 2 * time.Second

// SetProcs makes the hasher call set(Slots()) when a hash starts while none
// has run for ProcsIdle, and set(0) once hashing has been idle that long.
// The caller (app) turns it into GOMAXPROCS = CPUs + extra. A hash runs for
// tens of milliseconds, its segments one after another in argon2's
// goroutines, and so keeps one of the Go scheduler's Ps busy all that time:
// with GOMAXPROCS equal to the CPUs, one hash on 2 CPUs leaves the proxy
// path a single P (issue 15). With a spare P per slot the kernel arbitrates
// the CPUs between the threads, and the reniced thread that drives the hash
// waits for the request threads between segments (see niceStep). The Ps
// are spare only while logins run, because a P more than CPUs costs the
// proxy path CPU (more scheduler spinning and switching) when nothing
// hashes.
func (h *Hasher) SetProcs(set func(extra int)) { h.procs.Store(&set) }

// started and ended bracket every hash that holds a slot.
func (h *Hasher) started() {
	set := h.procs.Load()
	if set == nil {
		return
	}
	h.procMu.Lock()
	defer h.procMu.Unlock()
	h.running++
	if h.lowerTimer != nil {
		h.lowerTimer.Stop()
		h.lowerTimer = nil
	}
	if !h.raised {
		h.raised = true
		(*set)(cap(h.sem))
	}
}

func (h *Hasher) ended() {
	if h.procs.Load() == nil {
		return
	}
	h.procMu.Lock()
	defer h.procMu.Unlock()
	if h.running--; h.running == 0 && h.raised && h.lowerTimer == nil {
		h.lowerTimer = time.AfterFunc(ProcsIdle, h.lower)
	}
}

func (h *Hasher) lower() {
	set := h.procs.Load()
	h.procMu.Lock()
	defer h.procMu.Unlock()
	h.lowerTimer = nil
	if h.running == 0 && h.raised && set != nil {
		h.raised = false
		(*set)(0)
	}
}

// NewHasher returns a Hasher using p. maxConcurrent <= 0 means
// DefaultMaxConcurrent(). It hashes once to calibrate the expected time of
// a hash, which the queue bound starts from.
func NewHasher(p Params, maxConcurrent int, opts ...Option) (*Hasher, error) {
	if maxConcurrent <= 0 {
		maxConcurrent = DefaultMaxConcurrent()
	}
	h := &Hasher{
		params: p, sem: make(chan struct{}, maxConcurrent), maxWait: DefaultMaxWait,
		perClient: DefaultMaxPerClient, shedDelay: DefaultShedDelay, inFlight: map[string]int{},
	}
	for _, o := range opts {
		o(h)
	}
	start := time.Now()
	dummy, err := h.hash([]byte("gatehouse dummy password"))
	if err != nil {
		return nil, err
	}
	h.avg.Store(int64(time.Since(start)))
	h.dummy = dummy
	return h, nil
}

// Hash returns the PHC string of password with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	h.started()
	defer h.release(time.Now())
	return h.hash([]byte(password))
}

func (h *Hasher) hash(password []byte) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := idKey(password, salt, h.params, keyLen)
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches the PHC string encoded, and
// whether the hash should be replaced because the parameters changed.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	h.started()
	defer h.release(time.Now())
	got := idKey([]byte(password), salt, p, uint32(len(want)))
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok, ok && (p != h.params || len(want) != keyLen || len(salt) != saltLen), nil
}

// VerifyDummy spends the same time as a real Verify and always fails. It is
// called for unknown users so that timing does not reveal which usernames
// exist. Its only error is Verify's for a full queue or a done ctx, so an
// unknown user is shed exactly like a known one.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

// Admit refuses at once, with the *auth.OverloadedError that Verify would
// return, when a hash started now would have to wait longer than maxWait.
// Callers check it before any other work (throttle and user lookups), so
// that a shed login costs next to nothing: a flood of clients that ignore
// Retry-After must not eat the CPU the proxy path needs. It reserves
// nothing; Verify still decides.
func (h *Hasher) Admit() error {
	if len(h.sem) < cap(h.sem) {
		return nil
	}
	if expected := h.expectedWait(h.waiting.Load() + 1); expected > h.maxWait {
		return fmt.Errorf("wait for password hashing slot: %w", &auth.OverloadedError{RetryAfter: expected})
	}
	return nil
}

// AdmitClient is the first thing a password login does, before it even
// reads its request body: it refuses the login when client (the client's
// IP address; an IPv6 one counts per /64, auth.ClientKey) already has
// max_per_client logins in flight, or when Admit would. A refusal is an *auth.OverloadedError (503 + Retry-After) returned
// only after the shed delay (at most maxWait, or until ctx is done): a
// client that ignores Retry-After and sends the next login as soon as it
// has an answer, as a flood does, then gets at most one answer per shed
// delay per connection, and costs the server a parked goroutine instead of
// a request loop. On success the caller must call release when the login
// is over (hashed, refused later, or failed).
func (h *Hasher) AdmitClient(ctx context.Context, client string) (release func(), err error) {
	client = auth.ClientKey(client) // an IPv6 client counts per /64
	if h.perClient > 0 {
		h.mu.Lock()
		n := h.inFlight[client]
		if n < h.perClient {
			h.inFlight[client] = n + 1
		}
		h.mu.Unlock()
		if n >= h.perClient {
			return nil, h.refuse(ctx, fmt.Errorf("client has %d logins in flight: %w", n,
				&auth.OverloadedError{RetryAfter: max(h.expectedWait(h.waiting.Load()+1), time.Second)}))
		}
	}
	if err := h.Admit(); err != nil {
		h.done(client)
		return nil, h.refuse(ctx, err)
	}
	return func() { h.done(client) }, nil
}

// done ends one of client's logins in flight.
func (h *Hasher) done(client string) {
	if h.perClient <= 0 {
		return
	}
	h.mu.Lock()
	if n := h.inFlight[client]; n > 1 {
		h.inFlight[client] = n - 1
	} else {
		delete(h.inFlight, client)
	}
	h.mu.Unlock()
}

// refuse holds a refusal for the shed delay (capped at maxWait) and
// returns err.
func (h *Hasher) refuse(ctx context.Context, err error) error {
	d := min(h.shedDelay, h.maxWait)
	if d <= 0 {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return err
}

// expectedWait is how long the ahead-th caller in the queue waits: the
// queue drains cap(sem) hashes per average hash time.
func (h *Hasher) expectedWait(ahead int64) time.Duration {
	return time.Duration(ahead * h.avg.Load() / int64(cap(h.sem)))
}

// acquire takes a hashing slot. When none is free it estimates the wait
// from the queue ahead and the moving average of one hash; beyond maxWait
// it refuses at once, otherwise it queues for at most maxWait. Either
// refusal is an *auth.OverloadedError whose RetryAfter is the estimate.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	ahead := h.waiting.Add(1)
	defer h.waiting.Add(-1)
	if expected := h.expectedWait(ahead); expected > h.maxWait {
		return fmt.Errorf("wait for password hashing slot: %w", &auth.OverloadedError{RetryAfter: expected})
	}
	timer := time.NewTimer(h.maxWait)
	defer timer.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-timer.C:
		return fmt.Errorf("wait for password hashing slot: %w", &auth.OverloadedError{RetryAfter: h.maxWait})
	case <-ctx.Done():
		return fmt.Errorf("wait for password hashing slot: %w", ctx.Err())
	}
}

// release frees the slot taken at start and folds the hash's duration
// into the moving average (weight 1/8: it follows a machine that got
// busier within a few logins, without jumping on one slow hash).
func (h *Hasher) release(start time.Time) {
	d := int64(time.Since(start))
	for {
		old := h.avg.Load()
		if h.avg.CompareAndSwap(old, old+(d-old)/8) {
			break
		}
	}
	h.ended()
	<-h.sem
}

// idKey drives argon2id from a thread of its own at lowered priority, so
// that under contention hashing waits for request handling at each segment
// boundary (issue 15: a login flood must not starve the gateway; the
// segments themselves run in argon2's goroutines, see niceStep). The
// goroutine stays locked to its thread and returns, which ends the thread:
// a reniced thread never goes back to the pool that serves requests.
func idKey(password, salt []byte, p Params, n uint32) []byte {
	done := make(chan []byte, 1)
	go func() {
		runtime.LockOSThread()
		lowerPriority()
		done <- argon2.IDKey(password, salt, p.Iterations, p.MemoryKiB, p.Parallelism, n)
	}()
	return <-done
}

var b64 = base64.RawStdEncoding

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// field parses "name=N" with N a decimal of at most bits bits, written as
// encode writes it (no sign, space, leading zero or trailing text).
func field(s, name string, bits int) (uint64, bool) {
	digits, ok := strings.CutPrefix(s, name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, bits)
	return n, err == nil && strconv.FormatUint(n, 10) == digits
}

// decode parses "$argon2id$v=19$m=…,t=…,p=…$salt$hash" exactly: anything
// else, trailing text included, is ErrMalformedHash.
func decode(s string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	version, ok := field(parts[2], "v=", 32)
	if !ok || version != argon2.Version {
		return p, nil, nil, ErrMalformedHash
	}
	mtp := strings.Split(parts[3], ",")
	if len(mtp) != 3 {
		return p, nil, nil, ErrMalformedHash
	}
	m, okM := field(mtp[0], "m=", 32)
	t, okT := field(mtp[1], "t=", 32)
	par, okP := field(mtp[2], "p=", 8)
	if !okM || !okT || !okP {
		return p, nil, nil, ErrMalformedHash
	}
	p.MemoryKiB, p.Iterations, p.Parallelism = uint32(m), uint32(t), uint8(par)
	if p.MemoryKiB == 0 || p.Iterations == 0 || p.Parallelism == 0 {
		return p, nil, nil, ErrMalformedHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, ErrMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return p, nil, nil, ErrMalformedHash
	}
	return p, salt, key, nil
}
