package ratelimit

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Limit is a token bucket: it holds at most Burst tokens, refills Rate
// tokens per Window, and every request takes one.
type Limit struct {
	Rate   int
	Burst  int
	Window time.Duration
}

// Valid reports whether the limit can be enforced: Rate, Burst and Window
// all positive.
func (l Limit) Valid() bool { return l.Rate > 0 && l.Burst > 0 && l.Window > 0 }

// fill is the time an empty bucket takes to hold Burst tokens again
// (computed in float64: Burst × Window overflows int64 nanoseconds for
// large bursts over long windows).
func (l Limit) fill() time.Duration {
	return time.Duration(math.Ceil(float64(l.Burst) * float64(l.Window) / float64(l.Rate)))
}

// perToken is the time one token takes to refill.
func (l Limit) perToken() time.Duration { return l.Window / time.Duration(l.Rate) }

// Result is the state of a bucket after Take.
type Result struct {
	Allowed bool
	// Remaining is the whole tokens left.
	Remaining int
	// RetryAfter is, when not Allowed, how long until a request would be.
	RetryAfter time.Duration
	// Reset is how long until the bucket is full again.
	Reset time.Duration
}

// Store keeps buckets. Take refills the bucket key up to now, then takes
// cost tokens when it holds that many (Allowed). Cost 0 only looks: Allowed
// says whether one token is there, and nothing is written. Errors wrap
// auth.ErrUnavailable when the store does not answer.
type Store interface {
	Take(ctx context.Context, key string, l Limit, cost int, now time.Time) (Result, error)
}

// bucket refills tokens (last updated at ts) to now and takes cost; the
// arithmetic of Memory, mirrored by the Redis script.
func bucket(tokens float64, ts, now time.Time, l Limit, cost int) (float64, Result) {
	if now.After(ts) {
		tokens = math.Min(float64(l.Burst), tokens+float64(now.Sub(ts))/float64(l.perToken()))
	}
	var r Result
	need := float64(max(cost, 1))
	if tokens >= need {
		r.Allowed = true
		tokens -= float64(cost)
	} else {
		r.RetryAfter = time.Duration(math.Ceil((need - tokens) * float64(l.perToken())))
	}
	r.Remaining = int(math.Floor(tokens))
	r.Reset = time.Duration(math.Ceil((float64(l.Burst) - tokens) * float64(l.perToken())))
	return tokens, r
}

// SetHeaders sets the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers for policy name: quota q = Burst,
// the requests a full bucket allows at once, granted over w = the seconds
// an empty bucket takes to fill (Burst / Rate × Window), so that q/w is the
// sustained rate and r never exceeds q; remaining r, and t = seconds until
// the bucket is full (or, when refused, until the next request is
// allowed). With Burst = Rate this is q = Rate per Window. A refused
// result also gets Retry-After (RFC 9110 section 10.2.3).
func SetHeaders(h http.Header, name string, l Limit, r Result) {
	item := strconv.Quote(name)
	h.Set("RateLimit-Policy", fmt.Sprintf("%s;q=%d;w=%d", item, l.Burst, seconds(l.fill())))
	t := r.Reset
	if !r.Allowed {
		t = r.RetryAfter
		h.Set("Retry-After", strconv.Itoa(seconds(r.RetryAfter)))
	}
	h.Set("RateLimit", fmt.Sprintf("%s;r=%d;t=%d", item, r.Remaining, seconds(t)))
}

// seconds rounds d up to whole seconds, at least 1 for a positive d.
func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// Key joins the parts of a bucket key with ":" after escaping them, so that
// no subject or route name can collide with another bucket's key.
func Key(parts ...string) string {
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = strings.NewReplacer("%", "%25", ":", "%3A").Replace(p)
	}
	return strings.Join(esc, ":")
}
