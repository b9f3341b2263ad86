package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/throttle"
)

// maxFailuresPerKey caps the timestamps kept per key; counts beyond it add
// nothing to a lock that is already at its cap (throttle.Limiter keeps
// every limit below it), and it bounds memory under a flood.
const maxFailuresPerKey = throttle.MaxFailuresPerKey

// addFailureScript slides the window, records one failure and returns the
// count after now-window (later stamps included: throttle.Store), atomically
// across instances.
var addFailureScript = goredis.NewScript(`
-- KEYS: failure zset
-- ARGV: now µs, cutoff µs (now - window), unique member, window ms, cap
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[5]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf')`)

// removeFailureScript forgets one failure recorded at exactly one time.
// Members are "<µs>-<random>", so the time alone does not name one; any
// of that score will do, since failures at one instant are
// interchangeable.
var removeFailureScript = goredis.NewScript(`
-- KEYS: failure zset
-- ARGV: time µs
local m = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1], 'LIMIT', 0, 1)
if #m > 0 then
  redis.call('ZREM', KEYS[1], m[1])
end
return #m`)

func (s *Store) throttleKey(key string) string { return s.prefix + "thr:" + key }

// AddFailure records a failure for key at now and returns the failures
// within (now-window, now]. The key expires one window after its latest
// failure.
//
// go-redis sends the script again after a connection that died once it was
// sent (MaxRetries). That second run counts nothing more: it carries the
// same member, drawn once per call, which ZADD finds in the set already,
// so a failure whose answer was lost counts once. Were it counted twice,
// the error would be on the strict side (a lock one failure early), never
// a failure left uncounted.
func (s *Store) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	// Failures at the same microsecond on two instances must both count, so
	// the member is the time plus a random suffix.
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return 0, fmt.Errorf("record login failure: %w", err)
	}
	member := micros(now) + "-" + hex.EncodeToString(suffix[:])
	n, err := addFailureScript.Run(ctx, s.client, []string{s.throttleKey(key)},
		micros(now), micros(now.Add(-window)), member, max(window.Milliseconds(), 1), maxFailuresPerKey).Int()
	if err != nil {
		return 0, wrap("record login failure", err)
	}
	return n, nil
}

// RemoveFailure forgets one failure recorded for key at exactly at.
func (s *Store) RemoveFailure(ctx context.Context, key string, at time.Time) error {
	err := removeFailureScript.Run(ctx, s.client, []string{s.throttleKey(key)}, micros(at)).Err()
	return wrap("remove login failure", err)
}

// Failures returns the failures for key within (now-window, now] and the
// time of the latest of them.
func (s *Store) Failures(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	k, lo, hi := s.throttleKey(key), "("+micros(now.Add(-window)), micros(now)
	var (
		count  *goredis.IntCmd
		latest *goredis.ZSliceCmd
	)
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		count = p.ZCount(ctx, k, lo, hi)
		latest = p.ZRevRangeByScoreWithScores(ctx, k, &goredis.ZRangeBy{Max: hi, Min: lo, Count: 1})
		return nil
	})
	if err != nil {
		return 0, time.Time{}, wrap("count login failures", err)
	}
	if count.Val() == 0 || len(latest.Val()) == 0 {
		return 0, time.Time{}, nil
	}
	return int(count.Val()), time.UnixMicro(int64(latest.Val()[0].Score)).UTC(), nil
}

// ResetFailures forgets key's failures.
func (s *Store) ResetFailures(ctx context.Context, key string) error {
	return wrap("reset login failures", s.client.Del(ctx, s.throttleKey(key)).Err())
}
