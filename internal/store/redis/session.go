package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/session"
)

// purgeBatch bounds how many sessions one purge script removes, so that a
// large backlog never blocks Redis for long.
const purgeBatch = 500

// Scores and times are decimal Unix microseconds. Lua numbers are doubles
// and Redis would format them with 14 significant digits, so scripts format
// with %d before handing them back to Redis.
var (
	createScript = goredis.NewScript(`
-- KEYS: session hash, user index, expiry zset
-- ARGV: id, ttl ms, index ttl ms, expiry score, field/value pairs...
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], '1')
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1`)

	touchScript = goredis.NewScript(`
-- KEYS: session hash, expiry zset
-- ARGV: id, last seen, idle expiry, now
local e = redis.call('HGET', KEYS[1], 'e')
if not e then return 0 end
redis.call('HSET', KEYS[1], 'l', ARGV[2], 'i', ARGV[3])
local exp = math.min(tonumber(e), tonumber(ARGV[3]))
local ttl = math.floor((exp - tonumber(ARGV[4])) / 1000)
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], string.format('%d', exp), ARGV[1])
return 1`)

	deleteScript = goredis.NewScript(`
-- KEYS: session hash, expiry zset
-- ARGV: id, user index key prefix
local u = redis.call('HGET', KEYS[1], 'u')
if not u then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HDEL', ARGV[2] .. u, ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`)

	deleteUserScript = goredis.NewScript(`
-- KEYS: user index, expiry zset
-- ARGV: id to keep, session key prefix
local removed = {}
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  if id ~= ARGV[1] then
    if redis.call('DEL', ARGV[2] .. id) == 1 then table.insert(removed, id) end
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  end
end
return removed`)

	purgeScript = goredis.NewScript(`
-- KEYS: expiry zset
-- ARGV: exclusive max score "(now", session key prefix, user index prefix, batch size
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[4])
local n = 0
for _, id in ipairs(ids) do
  local k = ARGV[2] .. id
  local u = redis.call('HGET', k, 'u')
  if u then
    redis.call('DEL', k)
    redis.call('HDEL', ARGV[3] .. u, id)
    n = n + 1
  end
  redis.call('ZREM', KEYS[1], id)
end
return {#ids, n}`)
)

func (s *Store) sessionKey(id string) string  { return s.prefix + "s:" + id }
func (s *Store) userKey(userID string) string { return s.prefix + "u:" + userID }
func (s *Store) expiryKey() string            { return s.prefix + "s-exp" }

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

func parseMicros(v string) (time.Time, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	return time.UnixMicro(n).UTC(), err
}

// ttlMillis is the PEXPIRE argument for a key that must live until until;
// at least 1 ms, because PEXPIRE with 0 or less deletes at once.
func ttlMillis(until, now time.Time) int64 { return max(until.Sub(now).Milliseconds(), 1) }

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// createArgs returns the keys and arguments of createScript for r, so that
// benchmarks can seed through a pipeline with exactly what CreateSession
// writes.
func (s *Store) createArgs(r session.Record, now time.Time) ([]string, []any) {
	exp := earliest(r.IdleExpiresAt, r.ExpiresAt)
	keys := []string{s.sessionKey(r.ID), s.userKey(r.UserID), s.expiryKey()}
	args := []any{
		r.ID, ttlMillis(exp, now), ttlMillis(r.ExpiresAt, now), micros(exp),
		"u", r.UserID, "c", micros(r.CreatedAt), "l", micros(r.LastSeenAt),
		"i", micros(r.IdleExpiresAt), "e", micros(r.ExpiresAt),
		"ip", r.IP, "ua", r.UserAgent, "m", r.Method,
	}
	return keys, args
}

// CreateSession stores r with a TTL of its earlier expiry; auth.ErrConflict
// when r.ID exists.
func (s *Store) CreateSession(ctx context.Context, r session.Record) error {
	keys, args := s.createArgs(r, time.Now())
	created, err := createScript.Run(ctx, s.client, keys, args...).Int()
	if err != nil {
		return wrap("create session", err)
	}
	if created == 0 {
		return fmt.Errorf("create session: %w", auth.ErrConflict)
	}
	return nil
}

// Session returns the session with id; auth.ErrNotFound when absent or
// expired by its TTL.
func (s *Store) Session(ctx context.Context, id string) (session.Record, error) {
	fields, err := s.client.HGetAll(ctx, s.sessionKey(id)).Result()
	if err != nil {
		return session.Record{}, wrap("load session", err)
	}
	if len(fields) == 0 {
		return session.Record{}, fmt.Errorf("load session: %w", auth.ErrNotFound)
	}
	return decodeSession(id, fields)
}

func decodeSession(id string, f map[string]string) (session.Record, error) {
	r := session.Record{ID: id, UserID: f["u"], IP: f["ip"], UserAgent: f["ua"], Method: f["m"]}
	var errs []error
	for _, t := range []struct {
		dst   *time.Time
		field string
	}{{&r.CreatedAt, "c"}, {&r.LastSeenAt, "l"}, {&r.IdleExpiresAt, "i"}, {&r.ExpiresAt, "e"}} {
		v, err := parseMicros(f[t.field])
		*t.dst = v
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return session.Record{}, fmt.Errorf("decode session: %w: %w", auth.ErrUnavailable, err)
	}
	return r, nil
}

// TouchSession sets LastSeenAt and IdleExpiresAt and slides the TTL;
// auth.ErrNotFound when the session is gone.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error {
	keys := []string{s.sessionKey(id), s.expiryKey()}
	touched, err := touchScript.Run(ctx, s.client, keys, id, micros(lastSeen), micros(idleExpiresAt), micros(time.Now())).Int()
	if err != nil {
		return wrap("touch session", err)
	}
	if touched == 0 {
		return fmt.Errorf("touch session: %w", auth.ErrNotFound)
	}
	return nil
}

// DeleteSession removes one session and its index entries; auth.ErrNotFound
// when absent.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	keys := []string{s.sessionKey(id), s.expiryKey()}
	deleted, err := deleteScript.Run(ctx, s.client, keys, id, s.userKey("")).Int()
	if err != nil {
		return wrap("delete session", err)
	}
	if deleted == 0 {
		return fmt.Errorf("delete session: %w", auth.ErrNotFound)
	}
	return nil
}

// UserSessions lists userID's sessions, reading only that user's index, and
// prunes index entries whose session has expired.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]session.Record, error) {
	ids, err := s.client.HKeys(ctx, s.userKey(userID)).Result()
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	cmds := make([]*goredis.MapStringStringCmd, len(ids))
	_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.sessionKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	out := make([]session.Record, 0, len(ids))
	var stale []string
	for i, cmd := range cmds {
		if len(cmd.Val()) == 0 {
			stale = append(stale, ids[i])
			continue
		}
		r, err := decodeSession(ids[i], cmd.Val())
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		out = append(out, r)
	}
	return out, s.prune(ctx, userID, stale)
}

// prune removes index entries of sessions that expired by TTL.
func (s *Store) prune(ctx context.Context, userID string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HDel(ctx, s.userKey(userID), ids...)
		p.ZRem(ctx, s.expiryKey(), members...)
		return nil
	})
	return wrap("prune session index", err)
}

// DeleteUserSessions removes every session of userID except keepID and
// returns the IDs of the sessions it removed.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, keepID string) ([]string, error) {
	keys := []string{s.userKey(userID), s.expiryKey()}
	removed, err := deleteUserScript.Run(ctx, s.client, keys, keepID, s.sessionKey("")).StringSlice()
	if err != nil {
		return nil, wrap("delete user sessions", err)
	}
	return removed, nil
}

// DeleteExpiredSessions removes sessions whose idle or absolute expiry is
// before now, even if their TTL has not run out (now may be ahead of the
// Redis clock), and index entries of sessions that already expired by TTL.
// It returns how many session records it removed.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		res, err := purgeScript.Run(ctx, s.client, []string{s.expiryKey()},
			"("+micros(now), s.sessionKey(""), s.userKey(""), purgeBatch).Int64Slice()
		if err != nil {
			return total, wrap("delete expired sessions", err)
		}
		total += int(res[1])
		if res[0] < purgeBatch {
			return total, nil
		}
	}
}
