package redis

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/session"
)

// purgeBatch bounds how many sessions one purge round examines per expiry
// bucket, so that a large backlog never blocks Redis for long.
const purgeBatch = 500

// expiryBuckets is how many sorted sets share the expiry index, so that on
// a Cluster logins spread over several primaries instead of one hot key.
const expiryBuckets = 16

// Every script touches exactly one key (KEYS[1]); no command spans two
// keys. That makes Redis Cluster's CROSSSLOT refusal impossible whatever
// the slots of a session, its user's index and its expiry bucket. A
// session's key cannot share its user's hash tag, because Session looks it
// up by ID alone. Instead the order of writes keeps every intermediate
// state safe: a session is written before its index entry (so every session
// handed out is indexed, and an index entry whose session is absent stays
// absent: IDs are never reused), and deleted before its index entry.
//
// Scores and times are decimal Unix microseconds. Lua numbers are doubles
// and Redis would format them with 14 significant digits, so scripts format
// with %d before handing them back to Redis.
var (
	// createScript stores a session unless its key exists, and returns 1
	// when the key holds this very record: stored now, or by a run of the
	// same call whose answer a dead connection lost before go-redis sent it
	// again (MaxRetries). IDs are fresh per login (256 random bits), so an
	// existing key with every field equal is that first run's write; a key
	// holding another record returns 0 (auth.ErrConflict).
	createScript = goredis.NewScript(`
-- KEYS: session hash
-- ARGV: ttl ms, field/value pairs...
if redis.call('EXISTS', KEYS[1]) == 1 then
  for i = 2, #ARGV, 2 do
    if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then return 0 end
  end
  return 1
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`)

	indexScript = goredis.NewScript(`
-- KEYS: user index
-- ARGV: session id, index ttl ms
redis.call('HSET', KEYS[1], ARGV[1], '1')
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1`)

	touchScript = goredis.NewScript(`
-- KEYS: session hash
-- ARGV: last seen, idle expiry, now
local e = redis.call('HGET', KEYS[1], 'e')
if not e then return 0 end
redis.call('HSET', KEYS[1], 'l', ARGV[1], 'i', ARGV[2])
local exp = math.min(tonumber(e), tonumber(ARGV[2]))
local ttl = math.floor((exp - tonumber(ARGV[3])) / 1000)
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', KEYS[1], ttl)
return 1`)

	// purgeScript deletes a session whose earlier expiry is before now.
	// It returns {0} when the session is absent, {1, owner} when it deleted
	// it, and {2, expiry} when it is live (a touch moved its expiry on).
	purgeScript = goredis.NewScript(`
-- KEYS: session hash
-- ARGV: now µs
local f = redis.call('HMGET', KEYS[1], 'u', 'i', 'e')
if not f[1] then return {0} end
local exp = math.min(tonumber(f[2]), tonumber(f[3]))
if exp < tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return {1, f[1]}
end
return {2, string.format('%d', exp)}`)
)

// deleteSource deletes a session when it belongs to ARGV[1] ("" = any
// owner) and returns its owner, or false. DeleteSession and
// DeleteUserSessions send it themselves (EVAL, as a pipeline does) so that
// go-redis never sends it twice.
//
// ARGV[2] "again" marks a second run, after a first whose answer was
// lost: the session it finds absent may be the first run's delete, made
// on the dead connection, and WAIT covers only what its own connection
// wrote. A write that leaves nothing (SET then DEL of the absent
// key, replicated after that delete) makes the WAIT behind it cover the
// first run's delete too.
const deleteSource = `
-- KEYS: session hash
-- ARGV: owner or "", "again" on a second run
local u = redis.call('HGET', KEYS[1], 'u')
if not u and ARGV[2] == 'again' and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], '', 'PX', 1)
  redis.call('DEL', KEYS[1])
end
if not u or (ARGV[1] ~= '' and u ~= ARGV[1]) then return false end
redis.call('DEL', KEYS[1])
return u`

func (s *Store) sessionKey(id string) string  { return s.prefix + "s:" + id }
func (s *Store) userKey(userID string) string { return s.prefix + "u:" + userID }

// expiryKey is the expiry bucket of session id.
func (s *Store) expiryKey(id string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return s.expiryBucket(int(h.Sum32() % expiryBuckets))
}

func (s *Store) expiryBucket(n int) string { return s.prefix + "s-exp:" + strconv.Itoa(n) }

// expiryMember is a session's entry in its expiry bucket: its ID and its
// owner, so that the purge can drop the owner's index entry of a session
// whose TTL already removed it (and with it the owner).
func expiryMember(id, userID string) string { return id + "\x00" + userID }

// parseExpiryMember splits an expiry bucket entry; owner is "" for an entry
// written before the owner was part of it.
func parseExpiryMember(m string) (id, owner string) {
	id, owner, _ = strings.Cut(m, "\x00")
	return id, owner
}

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

// createArgs returns the keys and arguments of createScript for r.
func (s *Store) createArgs(r session.Record, now time.Time) ([]string, []any) {
	return []string{s.sessionKey(r.ID)}, []any{
		ttlMillis(earliest(r.IdleExpiresAt, r.ExpiresAt), now),
		"u", r.UserID, "c", micros(r.CreatedAt), "l", micros(r.LastSeenAt),
		"i", micros(r.IdleExpiresAt), "e", micros(r.ExpiresAt),
		"ip", r.IP, "ua", r.UserAgent, "m", r.Method, "a", strings.Join(r.AMR, " "),
	}
}

// queueCreate queues CreateSession's writes for r in order (the session,
// then its index and expiry-bucket entries), so that benchmarks can seed
// through a pipeline with exactly what CreateSession writes.
func (s *Store) queueCreate(ctx context.Context, p goredis.Pipeliner, r session.Record, now time.Time) {
	keys, args := s.createArgs(r, now)
	createScript.Eval(ctx, p, keys, args...)
	s.queueIndex(ctx, p, r, now)
}

func (s *Store) queueIndex(ctx context.Context, p goredis.Pipeliner, r session.Record, now time.Time) {
	indexScript.Eval(ctx, p, []string{s.userKey(r.UserID)}, r.ID, ttlMillis(r.ExpiresAt, now))
	p.ZAdd(ctx, s.expiryKey(r.ID), goredis.Z{Score: float64(earliest(r.IdleExpiresAt, r.ExpiresAt).UnixMicro()), Member: expiryMember(r.ID, r.UserID)})
}

// CreateSession stores r with a TTL of its earlier expiry; auth.ErrConflict
// when r.ID exists. The session is written first and indexed second; when
// indexing fails the session is removed again (best effort: its cookie is
// never handed out, so a leftover is unusable).
func (s *Store) CreateSession(ctx context.Context, r session.Record) error {
	now := time.Now()
	keys, args := s.createArgs(r, now)
	created, err := createScript.Run(ctx, s.client, keys, args...).Int()
	if err != nil {
		return wrap("create session", err)
	}
	if created == 0 {
		return fmt.Errorf("create session: %w", auth.ErrConflict)
	}
	_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		s.queueIndex(ctx, p, r, now)
		return nil
	})
	if err != nil {
		_ = s.client.Del(context.WithoutCancel(ctx), s.sessionKey(r.ID)).Err()
		return wrap("index session", err)
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
	r := session.Record{ID: id, UserID: f["u"], IP: f["ip"], UserAgent: f["ua"], Method: f["m"], AMR: strings.Fields(f["a"])}
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
// auth.ErrNotFound when the session is gone. The expiry bucket keeps the
// older score; DeleteExpiredSessions finds the session live and rescores it.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error {
	touched, err := touchScript.Run(ctx, s.client, []string{s.sessionKey(id)},
		micros(lastSeen), micros(idleExpiresAt), micros(time.Now())).Int()
	if err != nil {
		return wrap("touch session", err)
	}
	if touched == 0 {
		return fmt.Errorf("touch session: %w", auth.ErrNotFound)
	}
	return nil
}

// DeleteSession removes one session and then its index entries;
// auth.ErrNotFound when absent. The removal is durable (WithWait) before
// it returns; a failure to clean the indexes afterwards is not reported,
// since the session is gone and readers skip and prune such entries.
//
// The script runs again, once, after a connection that died once it was
// sent (writeAgain), and only the run that deleted the session finds it:
// the first may have, before the connection died. So after such a second
// run "absent" means "deleted, or already gone" and is success, as the SQL
// stores' deleteByKey; a single run's "absent" is auth.ErrNotFound. The
// owner is then unknown: the session's index entries stay until a reader
// or the purge drops them, as for a session that expired by its TTL.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	key := s.sessionKey(id)
	var del *goredis.Cmd
	run := ""
	again, err := writeAgain(ctx, func() error {
		del = goredis.NewCmd(ctx, "eval", deleteSource, 1, key, "", run)
		run = "again"
		return s.durable(ctx, key, func(p goredis.Pipeliner) { _ = p.Process(ctx, sentOnce{del}) })
	})
	if err != nil {
		return wrap("delete session", err)
	}
	owner, err := del.Text()
	if errors.Is(err, goredis.Nil) {
		if again {
			return nil
		}
		return fmt.Errorf("delete session: %w", auth.ErrNotFound)
	}
	if err != nil {
		return wrap("delete session", err)
	}
	s.unindex(ctx, owner, []string{id})
	return nil
}

// unindex removes ids from userID's index and their expiry buckets, best
// effort: the sessions are already gone.
func (s *Store) unindex(ctx context.Context, userID string, ids []string) {
	if len(ids) == 0 {
		return
	}
	_, _ = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		if userID != "" {
			p.HDel(ctx, s.userKey(userID), ids...)
		}
		for _, id := range ids {
			p.ZRem(ctx, s.expiryKey(id), expiryMember(id, userID))
		}
		return nil
	})
}

// UserSessions lists userID's sessions, reading only that user's index, and
// prunes index entries whose session has expired.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]session.Record, error) {
	ids, fields, stale, err := s.indexed(ctx, userID, "")
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	out := make([]session.Record, 0, len(ids))
	for i, id := range ids {
		r, err := decodeSession(id, fields[i])
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		out = append(out, r)
	}
	s.unindex(ctx, userID, stale)
	return out, nil
}

// indexed reads the sessions that userID's index lists, but skip ("":
// none): those that are there and userID's, with their fields, and the
// rest (stale): entries whose session expired by its TTL or was deleted,
// and, never written by CreateSession, another user's, which is skipped
// rather than listed or deleted.
func (s *Store) indexed(ctx context.Context, userID, skip string) (ids []string, fields []map[string]string, stale []string, err error) {
	all, err := s.client.HKeys(ctx, s.userKey(userID)).Result()
	if err != nil {
		return nil, nil, nil, err
	}
	all = slices.DeleteFunc(all, func(id string) bool { return id == skip })
	cmds := make([]*goredis.MapStringStringCmd, len(all))
	if _, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range all {
			cmds[i] = p.HGetAll(ctx, s.sessionKey(id))
		}
		return nil
	}); err != nil {
		return nil, nil, nil, err
	}
	for i, cmd := range cmds {
		if f := cmd.Val(); len(f) != 0 && f["u"] == userID {
			ids, fields = append(ids, all[i]), append(fields, f)
		} else {
			stale = append(stale, all[i])
		}
	}
	return ids, fields, stale, nil
}

// DeleteUserSessions removes every session of userID except keepID and
// returns the IDs of the sessions it removed. The removals are durable
// (WithWait) before it returns: grouped per primary, each group is one
// pipeline followed by one WAIT.
//
// Its caller announces exactly the returned sessions as revoked, so the
// list must hold every session the call removed, also when the answer to
// a group's deletes was lost: go-redis would send them again, and that
// second run finds the sessions gone and reports none. So the deletes are
// sent once (sentOnce) and run again by the store (writeAgain), as
// DeleteSession's. On that second run, a session it finds absent was
// removed by the first run or had gone before the call: the sessions read
// first tell them apart (indexed: a session present and userID's then,
// and absent now, was removed by this call, or by a concurrent deletion
// that announces it as well). Session IDs are never reused, so a session
// read absent stays absent; its index entry is dropped with the others.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, keepID string) ([]string, error) {
	owned, _, stale, err := s.indexed(ctx, userID, keepID)
	if err != nil {
		return nil, wrap("delete user sessions", err)
	}
	groups, err := s.byNode(ctx, owned)
	if err != nil {
		return nil, wrap("delete user sessions", err)
	}
	var removed []string
	processed := stale
	for _, g := range groups {
		var dels []*goredis.Cmd
		run := ""
		again, err := writeAgain(ctx, func() error {
			dels = make([]*goredis.Cmd, len(g))
			for i, id := range g {
				dels[i] = goredis.NewCmd(ctx, "eval", deleteSource, 1, s.sessionKey(id), userID, run)
			}
			run = "again"
			return s.durable(ctx, s.sessionKey(g[0]), func(p goredis.Pipeliner) {
				for _, del := range dels {
					_ = p.Process(ctx, sentOnce{del})
				}
			})
		})
		if err != nil {
			s.unindex(ctx, userID, processed)
			return nil, wrap("delete user sessions", err)
		}
		for i, id := range g {
			// Absent on a second run: the first run removed it (indexed
			// found it userID's before the call).
			if err := dels[i].Err(); err == nil || again && errors.Is(err, goredis.Nil) {
				removed = append(removed, id)
			}
		}
		processed = append(processed, g...)
	}
	s.unindex(ctx, userID, processed)
	return removed, nil
}

// byNode groups ids by the primary that owns their session key (one group
// on a single node or Sentinel), so that a durable write covers each group
// with one WAIT.
func (s *Store) byNode(ctx context.Context, ids []string) ([][]string, error) {
	var groups [][]string
	index := map[*goredis.Client]int{}
	for _, id := range ids {
		var node *goredis.Client
		if s.cluster != nil && s.wait > 0 {
			c, err := s.cluster.MasterForKey(ctx, s.sessionKey(id))
			if err != nil {
				return nil, err
			}
			node = c
		}
		i, ok := index[node]
		if !ok {
			i = len(groups)
			index[node] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], id)
	}
	return groups, nil
}

// DeleteExpiredSessions removes sessions whose idle or absolute expiry is
// before now, even if their TTL has not run out (now may be ahead of the
// Redis clock), and index entries of sessions that already expired by TTL.
// It returns how many session records it removed.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for b := range expiryBuckets {
		for {
			n, more, err := s.purgeBucket(ctx, s.expiryBucket(b), now)
			total += n
			if err != nil {
				return total, wrap("delete expired sessions", err)
			}
			if !more {
				break
			}
		}
	}
	return total, nil
}

// purgeBucket examines one batch of bucket's sessions due before now: it
// deletes the expired ones, drops the index entries of absent ones (mostly
// sessions whose TTL ran out first) and rescores live ones. more reports
// whether the batch was full.
func (s *Store) purgeBucket(ctx context.Context, bucket string, now time.Time) (n int, more bool, err error) {
	members, err := s.client.ZRangeByScore(ctx, bucket, &goredis.ZRangeBy{
		Min: "-inf", Max: "(" + micros(now), Count: purgeBatch,
	}).Result()
	if err != nil || len(members) == 0 {
		return 0, false, err
	}
	res := make([]*goredis.Cmd, len(members))
	_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, m := range members {
			id, _ := parseExpiryMember(m)
			res[i] = purgeScript.Eval(ctx, p, []string{s.sessionKey(id)}, micros(now))
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, m := range members {
			id, owner := parseExpiryMember(m)
			v, _ := res[i].Slice()
			switch {
			case len(v) == 2 && v[0] == int64(1):
				n++
				p.HDel(ctx, s.userKey(fmt.Sprint(v[1])), id)
				p.ZRem(ctx, bucket, m)
			case len(v) == 2 && v[0] == int64(2):
				score, _ := strconv.ParseFloat(fmt.Sprint(v[1]), 64)
				p.ZAdd(ctx, bucket, goredis.Z{Score: score, Member: m})
			case len(v) == 1 && v[0] == int64(0) && owner != "":
				// Absent: IDs are never reused, so its index entry is stale.
				p.HDel(ctx, s.userKey(owner), id)
				p.ZRem(ctx, bucket, m)
			default:
				p.ZRem(ctx, bucket, m)
			}
		}
		return nil
	})
	return n, len(members) == purgeBatch, err
}
