package gateway

import (
	"cmp"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/duration"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// Per names what a route's rate limit counts (routes[].rate_limit.per).
type Per string

// The rate limit keys of contract section 12.
const (
	PerSubject Per = "subject" // each authenticated user
	PerIP      Per = "ip"      // each client address (trusted_proxies rules)
	PerRoute   Per = "route"   // the whole route, every client together
)

// DefaultRateWindow is the window of a rate_limit without one: rate is then
// requests per second.
const DefaultRateWindow = time.Second

// RateLimitConfig is routes[].rate_limit: a token bucket of Burst tokens
// (default Rate) refilled at Rate per Window (default 1s).
type RateLimitConfig struct {
	Per    string            `yaml:"per"`
	Rate   int               `yaml:"rate"`
	Burst  int               `yaml:"burst"`
	Window duration.Duration `yaml:"window"`
	// FailOpen lets requests through when the rate limit store (Redis) does
	// not answer; the default fails closed with 503.
	FailOpen bool `yaml:"fail_open"`
}

// RateLimit is a compiled rate_limit.
type RateLimit struct {
	Per      Per
	Limit    ratelimit.Limit
	FailOpen bool
}

func compileRateLimit(c RouteConfig, bad func(field, format string, args ...any)) *RateLimit {
	rc := c.RateLimit
	if rc == nil {
		return nil
	}
	rl := &RateLimit{Per: Per(rc.Per), FailOpen: rc.FailOpen, Limit: ratelimit.Limit{
		Rate: rc.Rate, Burst: cmp.Or(rc.Burst, rc.Rate), Window: cmp.Or(rc.Window.D(), DefaultRateWindow),
	}}
	switch rl.Per {
	case PerIP, PerRoute:
	case PerSubject:
		if Auth(c.Auth) == AuthNone {
			bad("rate_limit.per", "subject needs a route with auth other than none (use ip or route)")
		}
	default:
		bad("rate_limit.per", "must be subject, ip or route, got %q", rc.Per)
	}
	if rc.Rate < 1 {
		bad("rate_limit.rate", "must be at least 1, got %d", rc.Rate)
	}
	if rc.Burst < 0 {
		bad("rate_limit.burst", "must not be negative (0 means the rate), got %d", rc.Burst)
	}
	switch w := rc.Window.D(); {
	case w < 0:
		bad("rate_limit.window", "must not be negative (0 means 1s)")
	case w%time.Second != 0:
		// RateLimit-Policy states the window in whole seconds.
		bad("rate_limit.window", "must be a whole number of seconds, got %s", w)
	}
	if rc.Rate >= 1 && rl.Limit.Window/time.Duration(rc.Rate) < time.Microsecond {
		bad("rate_limit.rate", "more than one request per microsecond of window is no limit, got %d per %s", rc.Rate, rl.Limit.Window)
	}
	return rl
}

// Rate limit outcomes, as reported to Deps.RateLimited.
const (
	limitRefused     = "limited"
	limitFailOpen    = "fail_open"
	limitUnavailable = "unavailable"
)

// limited is the rate limit state a decision carries to its response.
type limited struct {
	rl  *RateLimit
	res ratelimit.Result
}

// authorize is the gateway's one decision, used by ServeHTTP, the
// forward-auth endpoints and Envoy's ext_authz: the route's rate limit
// around its policy (decide).
//
// per ip and per route spend a token before any credential is looked at.
// per subject spends the user's token after authentication (a CORS
// preflight let through by skip_auth_preflight, which names no user, its
// client address's preflight bucket); so that a flood
// of bad or missing credentials costs no token verification or session
// lookup, each client address also has a bucket of the same size that only
// failed authentications spend, and that is checked (without spending)
// before authenticating.
func (g *Gateway) authorize(r *http.Request, rt *Route) decision {
	rl := rt.RateLimit
	if rl == nil {
		return g.decide(r, rt)
	}
	client := auth.ClientAddrKey(ClientIP(r, g.trusted)) // an IPv6 client's /64
	switch rl.Per {
	case PerIP, PerRoute:
		lim, stop := g.take(r, rt, bucketKey(rt, client, ""), 1)
		if stop != nil {
			return *stop
		}
		d := g.decide(r, rt)
		d.limit = lim
		return d
	}
	failures := failuresKey(rt, client)
	if _, stop := g.take(r, rt, failures, 0); stop != nil {
		return *stop
	}
	d := g.decide(r, rt)
	switch d.outcome {
	case outcomeUnauthorized:
		_, _ = g.take(r, rt, failures, 1) // its refusal shows on the next request
		return d
	case outcomeAllow:
		lim, stop := g.take(r, rt, allowedKey(rt, client, d), 1)
		if stop != nil {
			stop.kind, stop.principal = d.kind, d.principal
			return *stop
		}
		d.limit = lim
	}
	return d
}

// bucketKey is the key of the bucket of rt's rate limit that a request
// from client (auth.ClientAddrKey) by subject spends (authorize, Explain).
func bucketKey(rt *Route, client, subject string) string {
	switch rt.RateLimit.Per {
	case PerIP:
		return ratelimit.Key(rt.Name, "ip", client)
	case PerRoute:
		return ratelimit.Key(rt.Name, string(PerRoute))
	}
	return ratelimit.Key(rt.Name, "subject", subject)
}

// allowedKey is the key of the bucket that a request from client, allowed
// as d, spends on a per subject route (authorize, Explain): its user's, or
// for a CORS preflight let through by skip_auth_preflight, which names no
// user, its client address's preflight bucket — one bucket for every
// client's preflights would let one client exhaust it for all.
func allowedKey(rt *Route, client string, d decision) string {
	if d.preflight {
		return ratelimit.Key(rt.Name, "preflight", client)
	}
	return bucketKey(rt, client, d.principal.Subject)
}

// failuresKey is the key of the bucket that failed authentications from
// client spend on a per subject route.
func failuresKey(rt *Route, client string) string {
	return ratelimit.Key(rt.Name, "unauthenticated", client)
}

// take spends cost tokens of bucket key. It returns the bucket state to
// report in headers, and a decision to return instead of deciding when the
// request must stop: refused (429), or the store down (503) on a route that
// does not fail open.
func (g *Gateway) take(r *http.Request, rt *Route, key string, cost int) (*limited, *decision) {
	res, err := g.limits.Take(r.Context(), key, rt.RateLimit.Limit, cost, g.now())
	if err != nil {
		if rt.RateLimit.FailOpen {
			g.log.LogAttrs(r.Context(), slog.LevelWarn, "gateway: rate limit store down; failing open",
				slog.String("route", rt.Name), slog.String("error", err.Error()))
			g.rateLimited(rt.Name, limitFailOpen)
			return nil, nil
		}
		g.rateLimited(rt.Name, limitUnavailable)
		return nil, &decision{outcome: outcomeUnavailable, reason: reasonUnavailable, kind: kindNone, err: err}
	}
	lim := &limited{rl: rt.RateLimit, res: res}
	if !res.Allowed {
		g.rateLimited(rt.Name, limitRefused)
		return lim, &decision{outcome: outcomeRateLimited, reason: reasonRateLimited, kind: kindNone, limit: lim}
	}
	return lim, nil
}

func (g *Gateway) rateLimited(route, outcome string) {
	if g.deps.RateLimited != nil {
		g.deps.RateLimited(route, outcome)
	}
}

// setLimitHeaders adds the RateLimit fields of d's bucket to h.
func setLimitHeaders(h http.Header, rt *Route, d decision) {
	if d.limit != nil {
		ratelimit.SetHeaders(h, rt.Name, d.limit.rl.Limit, d.limit.res)
	}
}
