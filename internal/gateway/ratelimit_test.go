package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/duration"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// limitedRoute is a route whose bucket holds burst requests and refills one
// an hour, so no refill happens during a test.
func limitedRoute(name, prefix, authKind, up, per string, burst int) config.Route {
	r := route(name, prefix, authKind, up)
	r.RateLimit = &gateway.RateLimitConfig{Per: per, Rate: 1, Burst: burst, Window: durationOf(time.Hour)}
	return r
}

// countingTokens is fakeTokens that counts verifications: a flood that is
// limited before authentication must not reach it.
type countingTokens struct{ n atomic.Int64 }

func (c *countingTokens) Verify(ctx context.Context, raw string) (auth.Principal, error) {
	c.n.Add(1)
	return fakeTokens{}.Verify(ctx, raw)
}

// rateEvents records Deps.RateLimited calls.
type rateEvents struct {
	mu sync.Mutex
	ev []string
}

func (r *rateEvents) record(route, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ev = append(r.ev, route+":"+outcome)
}

func (r *rateEvents) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.ev {
		if e == s {
			n++
		}
	}
	return n
}

func wantLimited(t *testing.T, r reply, policy string) {
	t.Helper()
	wantJSONError(t, r, http.StatusTooManyRequests, "rate_limited")
	if got := r.Header.Get("Retry-After"); got == "" || got == "0" {
		t.Errorf("Retry-After = %q, want whole seconds > 0", got)
	}
	if got := r.Header.Get("RateLimit-Policy"); got != policy {
		t.Errorf("RateLimit-Policy = %q, want %q", got, policy)
	}
	if got := r.Header.Get("RateLimit"); !strings.Contains(got, ";r=0;t=") {
		t.Errorf("RateLimit = %q, want r=0", got)
	}
}

func TestRateLimitPerIP(t *testing.T) {
	up := newUpstream(t)
	ev := &rateEvents{}
	d := deps()
	d.RateLimited = ev.record
	_, srv := serve(t, []config.Route{limitedRoute("pub", "/pub/", "none", up.URL, "ip", 3)}, d)
	get := func(xff string) reply {
		return do(t, newRequest(t, "GET", srv.URL+"/pub/x", "X-Forwarded-For", xff))
	}
	for i := range 3 {
		r := get("203.0.113.1")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("request %d = %d, want 200", i+1, r.StatusCode)
		}
		if got, want := r.Header.Get("RateLimit"), `"pub";r=`+string(rune('2'-i))+`;t=`; !strings.HasPrefix(got, want) {
			t.Errorf("RateLimit = %q, want prefix %q", got, want)
		}
	}
	wantLimited(t, get("203.0.113.1"), `"pub";q=3;w=10800`)
	if r := get("203.0.113.2"); r.StatusCode != http.StatusOK {
		t.Errorf("another client = %d, want 200 (its own bucket)", r.StatusCode)
	}
	if got := up.count(); got != 4 {
		t.Errorf("upstream saw %d requests, want 4", got)
	}
	if got := ev.count("pub:limited"); got != 1 {
		t.Errorf("limited events = %d, want 1", got)
	}
}

// TestRateLimitPerIPCountsIPv6Per64: an IPv6 client gets a whole /64 from
// its provider, so per: ip counts the /64 (as the login throttle does);
// counted per address, one client had 2^64 fresh buckets.
func TestRateLimitPerIPCountsIPv6Per64(t *testing.T) {
	up := newUpstream(t)
	_, srv := serve(t, []config.Route{limitedRoute("pub", "/pub/", "none", up.URL, "ip", 2)}, deps())
	get := func(xff string) reply {
		return do(t, newRequest(t, "GET", srv.URL+"/pub/x", "X-Forwarded-For", xff))
	}
	for i, xff := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if r := get(xff); r.StatusCode != http.StatusOK {
			t.Fatalf("request %d from %s = %d, want 200", i+1, xff, r.StatusCode)
		}
	}
	wantLimited(t, get("2001:db8:1:2:ffff:ffff:ffff:fffe"), `"pub";q=2;w=7200`)
	if r := get("2001:db8:1:3::1"); r.StatusCode != http.StatusOK {
		t.Errorf("the next /64 = %d, want 200 (its own bucket)", r.StatusCode)
	}

	t.Run("per subject: failed authentications count per /64", func(t *testing.T) {
		_, srv := serve(t, []config.Route{limitedRoute("api", "/api/", "token", up.URL, "subject", 1)}, deps())
		bad := func(xff string) reply {
			return do(t, newRequest(t, "GET", srv.URL+"/api/x", "Authorization", "Bearer nonsense", "X-Forwarded-For", xff))
		}
		if r := bad("2001:db8:9:9::1"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad token = %d, want 401", r.StatusCode)
		}
		wantLimited(t, bad("2001:db8:9:9::2"), `"api";q=1;w=3600`)
	})
}

func TestRateLimitPerRouteIsShared(t *testing.T) {
	up := newUpstream(t)
	_, srv := serve(t, []config.Route{limitedRoute("pub", "/pub/", "none", up.URL, "route", 2)}, deps())
	for i, xff := range []string{"203.0.113.1", "203.0.113.2"} {
		if r := do(t, newRequest(t, "GET", srv.URL+"/pub/x", "X-Forwarded-For", xff)); r.StatusCode != http.StatusOK {
			t.Fatalf("request %d = %d", i+1, r.StatusCode)
		}
	}
	wantLimited(t, do(t, newRequest(t, "GET", srv.URL+"/pub/x", "X-Forwarded-For", "203.0.113.3")), `"pub";q=2;w=7200`)
}

func TestRateLimitPerSubject(t *testing.T) {
	up := newUpstream(t)
	tokens := &countingTokens{}
	d := deps()
	d.Tokens = tokens
	_, srv := serve(t, []config.Route{limitedRoute("api", "/api/", "token", up.URL, "subject", 2)}, d)
	get := func(header ...string) reply { return do(t, newRequest(t, "GET", srv.URL+"/api/x", header...)) }

	for range 2 {
		if r := get(tokenCred("alice")...); r.StatusCode != http.StatusOK {
			t.Fatalf("alice = %d, want 200", r.StatusCode)
		}
	}
	wantLimited(t, get(tokenCred("alice")...), `"api";q=2;w=7200`)
	if r := get(tokenCred("root")...); r.StatusCode != http.StatusOK {
		t.Errorf("another user = %d, want 200 (a budget per subject)", r.StatusCode)
	}

	t.Run("a flood of bad tokens is limited per IP before verification", func(t *testing.T) {
		flood := []string{"Authorization", "Bearer nonsense", "X-Forwarded-For", "198.51.100.7"}
		before := tokens.n.Load()
		for range 2 {
			if r := get(flood...); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("bad token = %d, want 401", r.StatusCode)
			}
		}
		for range 5 {
			wantLimited(t, get(flood...), `"api";q=2;w=7200`)
		}
		if got := tokens.n.Load() - before; got != 2 {
			t.Errorf("verifier ran %d times for 7 bad requests, want 2", got)
		}
		if r := get("Authorization", "Bearer tok-guest", "X-Forwarded-For", "198.51.100.8"); r.StatusCode != http.StatusOK {
			t.Errorf("a user from another address = %d, want 200", r.StatusCode)
		}
	})
}

func TestRateLimitOnForwardAuth(t *testing.T) {
	_, srv := serve(t, []config.Route{limitedRoute("pub", "/pub/", "none", "http://127.0.0.1:1", "route", 1)}, deps())
	verify := func() reply { return do(t, newRequest(t, "GET", srv.URL+"/auth/verify", traefik("GET", "/pub/x")...)) }
	if r := verify(); r.StatusCode != http.StatusOK {
		t.Fatalf("first verify = %d", r.StatusCode)
	}
	wantLimited(t, verify(), `"pub";q=1;w=3600`)
}

// TestRateLimitRedisDown: with the rate limit store gone, a route fails
// closed (503) unless it says fail_open, and recovers when Redis returns.
func TestRateLimitRedisDown(t *testing.T) {
	proxy := redistest.NewProxy(t)
	_, prefix := redistest.New(t)
	store, err := redis.Open(context.Background(), proxy.URL(), redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	up := newUpstream(t)
	open := limitedRoute("open", "/open/", "none", up.URL, "ip", 100)
	open.RateLimit.FailOpen = true
	ev := &rateEvents{}
	d := deps()
	d.RateLimits, d.RateLimited = store, ev.record
	_, srv := serve(t, []config.Route{limitedRoute("closed", "/closed/", "none", up.URL, "ip", 100), open}, d)

	get := func(p string) reply { return do(t, newRequest(t, "GET", srv.URL+p)) }
	for _, p := range []string{"/closed/x", "/open/x"} {
		if r := get(p); r.StatusCode != http.StatusOK {
			t.Fatalf("%s with Redis up = %d", p, r.StatusCode)
		}
	}
	proxy.Stop()
	before := up.count()
	wantJSONError(t, get("/closed/x"), http.StatusServiceUnavailable, "unavailable")
	if r := get("/open/x"); r.StatusCode != http.StatusOK {
		t.Errorf("fail_open route with Redis down = %d, want 200", r.StatusCode)
	}
	if got := up.count() - before; got != 1 {
		t.Errorf("upstream saw %d requests while Redis was down, want 1 (the fail_open route)", got)
	}
	if ev.count("closed:unavailable") != 1 || ev.count("open:fail_open") != 1 {
		t.Errorf("events = %v", ev.ev)
	}
	proxy.Start()
	if r := get("/closed/x"); r.StatusCode != http.StatusOK {
		t.Errorf("after Redis returned = %d, want 200", r.StatusCode)
	}
}

func TestCompileRateLimit(t *testing.T) {
	const up = "http://127.0.0.1:1"
	with := func(authKind string, rl gateway.RateLimitConfig) []config.Route {
		r := route("r", "/r/", authKind, up)
		r.RateLimit = &rl
		return []config.Route{r}
	}
	tests := []struct {
		name   string
		routes []config.Route
		key    string
	}{
		{"valid", with("token", gateway.RateLimitConfig{Per: "subject", Rate: 100, Burst: 200, Window: durationOf(time.Minute)}), ""},
		{"defaults", with("none", gateway.RateLimitConfig{Per: "ip", Rate: 5}), ""},
		{"unknown per", with("none", gateway.RateLimitConfig{Per: "user", Rate: 5}), "routes[0].rate_limit.per"},
		{"subject without auth", with("none", gateway.RateLimitConfig{Per: "subject", Rate: 5}), "routes[0].rate_limit.per"},
		{"zero rate", with("none", gateway.RateLimitConfig{Per: "ip"}), "routes[0].rate_limit.rate"},
		{"negative burst", with("none", gateway.RateLimitConfig{Per: "ip", Rate: 1, Burst: -1}), "routes[0].rate_limit.burst"},
		{"negative window", with("none", gateway.RateLimitConfig{Per: "ip", Rate: 1, Window: durationOf(-time.Second)}), "routes[0].rate_limit.window"},
		// RateLimit-Policy states the window in seconds: 100ms would be
		// reported as w=1 while allowing ten times the quota per second.
		{"sub-second window", with("none", gateway.RateLimitConfig{Per: "ip", Rate: 10, Window: durationOf(100 * time.Millisecond)}), "routes[0].rate_limit.window"},
		{"fractional window", with("none", gateway.RateLimitConfig{Per: "ip", Rate: 10, Window: durationOf(1500 * time.Millisecond)}), "routes[0].rate_limit.window"},
		// Faster than one token per microsecond the bucket's refill rounds to
		// nothing per token: no limit at all.
		{"rate beyond counting", with("none", gateway.RateLimitConfig{Per: "ip", Rate: 2_000_000}), "routes[0].rate_limit.rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rts, err := gateway.Compile(tt.routes)
			if tt.key == "" {
				if err != nil {
					t.Fatal(err)
				}
				if rl := rts[0].RateLimit; rl == nil || rl.Limit.Burst < rl.Limit.Rate || rl.Limit.Window <= 0 {
					t.Errorf("compiled limit = %+v, want defaults filled in", rl)
				}
				return
			}
			var re *gateway.RouteError
			if !errors.As(err, &re) || re.Key() != tt.key {
				t.Fatalf("Compile = %v, want an error at %s", err, tt.key)
			}
		})
	}
}

func durationOf(d time.Duration) duration.Duration { return duration.Duration(d) }

// TestRateLimitMemoryFull: the in-memory store holds a bounded number of
// buckets. Full, a new client is answered as when Redis is down (503, or
// let through on a fail_open route), while the clients it holds stay
// limited: rotating addresses grows no memory and resets no bucket.
func TestRateLimitMemoryFull(t *testing.T) {
	up := newUpstream(t)
	open := limitedRoute("open", "/open/", "none", up.URL, "ip", 1)
	open.RateLimit.FailOpen = true
	ev := &rateEvents{}
	d := deps()
	d.RateLimits, d.RateLimited = ratelimit.NewMemory(ratelimit.WithMaxBuckets(2)), ev.record
	_, srv := serve(t, []config.Route{limitedRoute("closed", "/closed/", "none", up.URL, "ip", 1), open}, d)
	get := func(p, xff string) reply {
		return do(t, newRequest(t, "GET", srv.URL+p, "X-Forwarded-For", xff))
	}
	for _, p := range []string{"/closed/x", "/open/x"} { // two buckets: full
		if r := get(p, "203.0.113.1"); r.StatusCode != http.StatusOK {
			t.Fatalf("%s = %d, want 200", p, r.StatusCode)
		}
	}
	wantJSONError(t, get("/closed/x", "203.0.113.2"), http.StatusServiceUnavailable, "unavailable")
	if r := get("/open/x", "203.0.113.2"); r.StatusCode != http.StatusOK {
		t.Errorf("fail_open route, new client, store full = %d, want 200", r.StatusCode)
	}
	wantLimited(t, get("/closed/x", "203.0.113.1"), `"closed";q=1;w=3600`)
	if ev.count("closed:unavailable") != 1 || ev.count("open:fail_open") != 1 {
		t.Errorf("events = %v", ev.ev)
	}
}

// TestRateLimitRetryAfterIsWhenARetrySucceeds: on the fake clock, a
// refused request's Retry-After (and RateLimit t) is the whole seconds,
// rounded up, until the bucket holds a token again; a retry just before
// that instant is still refused, one at it goes through.
func TestRateLimitRetryAfterIsWhenARetrySucceeds(t *testing.T) {
	up := newUpstream(t)
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	d := deps()
	d.Now = clock.Now
	r := route("pub", "/pub/", "none", up.URL)
	r.RateLimit = &gateway.RateLimitConfig{Per: "ip", Rate: 1, Burst: 1, Window: durationOf(2 * time.Second)} // a token every 2 s
	_, srv := serve(t, []config.Route{r}, d)
	steps := []struct {
		advance    time.Duration
		status     int
		retryAfter string
		rateLimit  string
	}{
		{0, http.StatusOK, "", `"pub";r=0;t=2`},
		{0, http.StatusTooManyRequests, "2", `"pub";r=0;t=2`},
		{2*time.Second - time.Nanosecond, http.StatusTooManyRequests, "1", `"pub";r=0;t=1`},
		{time.Nanosecond, http.StatusOK, "", `"pub";r=0;t=2`},
		{time.Second, http.StatusTooManyRequests, "1", `"pub";r=0;t=1`}, // half a token
		{time.Second, http.StatusOK, "", `"pub";r=0;t=2`},
		{time.Hour, http.StatusOK, "", `"pub";r=0;t=2`}, // refilled to the burst, no more
		{0, http.StatusTooManyRequests, "2", `"pub";r=0;t=2`},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		resp := do(t, newRequest(t, "GET", srv.URL+"/pub/x", "X-Forwarded-For", "203.0.113.9"))
		if resp.StatusCode != st.status {
			t.Fatalf("step %d: status = %d, want %d", i, resp.StatusCode, st.status)
		}
		if got := resp.Header.Get("Retry-After"); got != st.retryAfter {
			t.Errorf("step %d: Retry-After = %q, want %q", i, got, st.retryAfter)
		}
		if got := resp.Header.Get("RateLimit"); got != st.rateLimit {
			t.Errorf("step %d: RateLimit = %q, want %q", i, got, st.rateLimit)
		}
	}
}

// TestRateLimitPolicyStatesTheBucket: with a burst larger than the rate,
// RateLimit-Policy states what the bucket allows (draft-ietf-httpapi-
// ratelimit-headers: q is the quota, w the window it is granted in): q =
// burst requests, w = the seconds an empty bucket takes to fill again
// (burst / rate × window). Stating q = rate told clients 2 per minute
// while the first response already said r=5 remained, and all 6 were served.
func TestRateLimitPolicyStatesTheBucket(t *testing.T) {
	up := newUpstream(t)
	r := route("pub", "/pub/", "none", up.URL)
	r.RateLimit = &gateway.RateLimitConfig{Per: "ip", Rate: 2, Burst: 6, Window: durationOf(time.Minute)}
	_, srv := serve(t, []config.Route{r}, deps())
	const policy = `"pub";q=6;w=180`
	for i := range 6 {
		r := do(t, newRequest(t, "GET", srv.URL+"/pub/x", "X-Forwarded-For", "203.0.113.9"))
		if r.StatusCode != http.StatusOK {
			t.Fatalf("request %d = %d, want 200 (a full bucket holds 6)", i+1, r.StatusCode)
		}
		if got := r.Header.Get("RateLimit-Policy"); got != policy {
			t.Errorf("request %d: RateLimit-Policy = %q, want %q", i+1, got, policy)
		}
		if got, want := r.Header.Get("RateLimit"), fmt.Sprintf(`"pub";r=%d;t=`, 5-i); !strings.HasPrefix(got, want) {
			t.Errorf("request %d: RateLimit = %q, want prefix %q", i+1, got, want)
		}
	}
	wantLimited(t, do(t, newRequest(t, "GET", srv.URL+"/pub/x", "X-Forwarded-For", "203.0.113.9")), policy)
}
