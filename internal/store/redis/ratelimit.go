package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

var _ ratelimit.Store = (*Store)(nil)

// takeScript is ratelimit's token bucket in one atomic step on one key (a
// hash: tk = tokens, ts = last update in µs), so it runs unchanged on a
// Redis Cluster. It uses Redis's clock, not the callers', so instances with
// skewed clocks still share one budget. Numbers are written with
// string.format: tostring would drop digits of a µs timestamp. Tokens are
// written with 17 significant digits (a double exactly): rounded to six
// decimals, the refill since the last write was lost whenever it was under
// half a millionth of a token (43 ms of a one-a-day limit), so a bucket
// taken from that often never refilled.
var takeScript = goredis.NewScript(`
-- KEYS: bucket hash
-- ARGV: rate, window µs, burst, cost
local rate, window, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local per_token = window / rate
local b = redis.call('HMGET', KEYS[1], 'tk', 'ts')
local tokens, ts = tonumber(b[1]), tonumber(b[2])
if tokens == nil or ts == nil then tokens, ts = burst, now end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) / per_token)
  ts = now
end
local need = math.max(cost, 1)
local allowed, retry = 0, 0
if tokens >= need then
  allowed = 1
  tokens = tokens - cost
else
  retry = math.ceil((need - tokens) * per_token)
end
local reset = math.ceil((burst - tokens) * per_token)
if cost > 0 then
  redis.call('HSET', KEYS[1], 'tk', string.format('%.17g', tokens), 'ts', string.format('%.0f', ts))
  redis.call('PEXPIRE', KEYS[1], math.ceil(reset / 1000) + 1000)
end
return {allowed, math.floor(tokens), retry, reset}`)

func (s *Store) rateLimitKey(key string) string { return s.prefix + "rl:" + key }

// Take implements ratelimit.Store with one script call on one key; now is
// ignored in favour of Redis's clock. A bucket key expires once the bucket
// would be full again.
func (s *Store) Take(ctx context.Context, key string, l ratelimit.Limit, cost int, _ time.Time) (ratelimit.Result, error) {
	vals, err := takeScript.Run(ctx, s.client, []string{s.rateLimitKey(key)},
		l.Rate, l.Window.Microseconds(), l.Burst, cost).Int64Slice()
	if err != nil {
		return ratelimit.Result{}, wrap("take rate limit token", err)
	}
	if len(vals) != 4 {
		return ratelimit.Result{}, fmt.Errorf("take rate limit token: %d values in the reply: %w", len(vals), auth.ErrUnavailable)
	}
	return ratelimit.Result{
		Allowed:    vals[0] == 1,
		Remaining:  int(vals[1]),
		RetryAfter: time.Duration(vals[2]) * time.Microsecond,
		Reset:      time.Duration(vals[3]) * time.Microsecond,
	}, nil
}
