package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
)

// readBatch bounds one XRANGE/XREAD reply and one pipeline of re-appended
// events.
const readBatch = 1000

// feedKeep is how long the stream keeps an entry, ended or not: a watcher
// whose cursor is younger resumes from it; one whose cursor is gone (an
// outage longer than that) loads every active event again. The purge
// re-appends the entries older than feedKeep that are still active, so the
// stream always holds every active event (an instance that starts, or whose
// cursor is gone, loads them from it, and one trimmed while still active
// would be forgotten there: a revoked access token valid again) and, apart
// from them, only the last feedKeep of the feed. An hour and clockSlack:
// the events of the common lifetimes (session ends and key changes,
// announced for an hour; access tokens' jti and sid, for access_ttl) have
// ended before they leave, so only longer ones (a revoked 30-day CLI
// token's sid) are re-appended, once per feedKeep.
const feedKeep = time.Hour + clockSlack

// clockSlack is how long a deny-list key outlives its Until. Revoked
// judges Until by the caller's clock, but Redis expires the key by its
// own: without slack, an instance whose clock is behind Redis's would find
// the key gone while the revoked token is still valid by its clock.
// Instances may lag Redis's clock by up to this much.
const clockSlack = 5 * time.Minute

// publishScript keeps the longest Until per kind/key (a later, shorter
// revocation must not shorten an earlier one) and appends the event to the
// feed, atomically.
var publishScript = goredis.NewScript(`
-- KEYS: rev key, stream
-- ARGV: until µs, until ms (PXAT), kind, key
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
end
return redis.call('XADD', KEYS[2], '*',
  'kind', ARGV[3], 'key', ARGV[4], 'until', ARGV[1])`)

// The deny-list keys and the stream share the hash tag {rev}, so that the
// publish script's two keys live in one Cluster slot whatever the prefix
// (which may not contain braces); every other command touches one key.
func (s *Store) revKey(kind, key string) string { return s.prefix + "{rev}:" + kind + ":" + key }
func (s *Store) streamKey() string              { return s.prefix + "{rev}:stream" }

// PublishRevocation marks ev.Kind/ev.Key revoked until ev.Until and appends
// ev to the revocations stream. With WithWait it returns only once enough
// replicas hold both, so that a failover right after cannot lose it;
// otherwise it fails with ErrNotReplicated.
//
// The feed is a Redis stream rather than pub/sub on purpose: pub/sub drops
// every message sent while a subscriber is disconnected, so an instance that
// lost its connection for a second would keep trusting a revoked session. A
// stream keeps the events; a watcher that reconnects resumes from its last
// stream ID and catches up on exactly what it missed.
//
// go-redis sends the publish again after a connection that died once it
// was sent (MaxRetries), so a publish whose answer was lost appends the
// event twice. That is harmless, and so it is not sent once (sentOnce):
// the script keeps the longest Until, which the copy neither extends nor
// shortens; watchers keep the longest Until per kind and key; and their
// hooks are idempotent (revocation.Watcher.OnEvent: they may see an event
// more than once, as every instance does when it replays the feed at
// start). The second run's WAIT covers the first run's writes too: its
// own XADD comes after them in the replication stream.
func (s *Store) PublishRevocation(ctx context.Context, ev revocation.Event) error {
	err := s.durable(ctx, s.streamKey(), func(p goredis.Pipeliner) { s.publishIn(ctx, p, ev) })
	return wrap("publish revocation", err)
}

// publishIn queues the publish script for ev on p: the one writer of the
// stream's entry format (decodeEvent reads it), for new events and for the
// ones the purge carries forward.
func (s *Store) publishIn(ctx context.Context, p goredis.Pipeliner, ev revocation.Event) {
	// Never expire before Until, by the clock of any instance within
	// clockSlack of Redis's.
	untilMs := (ev.Until.UnixMicro()+999)/1000 + clockSlack.Milliseconds()
	keys := []string{s.revKey(ev.Kind, ev.Key), s.streamKey()}
	publishScript.Eval(ctx, p, keys, micros(ev.Until), untilMs, ev.Kind, ev.Key)
}

// Revocations returns events published after cursor (a stream ID) and the
// cursor to pass next. Cursor "" returns every event still active at now,
// with cursor "0-0" for an empty stream. With wait > 0 it blocks up to wait
// for a new event (XREAD BLOCK), so followers hear of revocations at once.
func (s *Store) Revocations(ctx context.Context, cursor string, now time.Time, wait time.Duration) ([]revocation.Event, string, error) {
	if cursor == "" {
		return s.allRevocations(ctx, now)
	}
	if !validStreamID(cursor) {
		return nil, "", fmt.Errorf("read revocations: cursor %q: %w", cursor, auth.ErrInvalidInput)
	}
	// A failover can promote a replica that lacks the entries after some
	// point, and a watcher may already have read them: its cursor names an
	// entry the stream no longer has, and new entries could get IDs below
	// it and never be read. So the cursor's entry must still exist; when it
	// does not (lost, or trimmed away), start over from every active event.
	if cursor != "0-0" {
		msgs, err := s.client.XRangeN(ctx, s.streamKey(), cursor, cursor, 1).Result()
		if err != nil {
			return nil, "", wrap("read revocations", err)
		}
		if len(msgs) == 0 {
			return s.allRevocations(ctx, now)
		}
	}
	block := time.Duration(-1) // go-redis: negative omits BLOCK; 0 would block forever
	if wait > 0 {
		block = max(wait, time.Millisecond)
	}
	streams, err := s.xread(ctx, &goredis.XReadArgs{
		Streams: []string{s.streamKey(), cursor},
		Count:   readBatch,
		Block:   block,
	})
	if errors.Is(err, goredis.Nil) {
		return nil, cursor, nil
	}
	if err != nil {
		return nil, "", wrap("read revocations", err)
	}
	var out []revocation.Event
	for _, st := range streams {
		for _, m := range st.Messages {
			cursor = m.ID
			if ev, ok := decodeEvent(m); ok && ev.Until.After(now) {
				out = append(out, ev)
			}
		}
	}
	return out, cursor, nil
}

// allRevocations reads the whole stream in batches.
func (s *Store) allRevocations(ctx context.Context, now time.Time) ([]revocation.Event, string, error) {
	var out []revocation.Event
	cursor, start := "0-0", "-"
	for {
		msgs, err := s.client.XRangeN(ctx, s.streamKey(), start, "+", readBatch).Result()
		if err != nil {
			return nil, "", wrap("load revocations", err)
		}
		for _, m := range msgs {
			cursor = m.ID
			if ev, ok := decodeEvent(m); ok && ev.Until.After(now) {
				out = append(out, ev)
			}
		}
		if len(msgs) < readBatch {
			return out, cursor, nil
		}
		start = "(" + cursor
	}
}

// decodeEvent reads one stream entry; ok is false for an entry that
// gatehouse did not write.
func decodeEvent(m goredis.XMessage) (revocation.Event, bool) {
	kind, ok1 := m.Values["kind"].(string)
	key, ok2 := m.Values["key"].(string)
	until, ok3 := m.Values["until"].(string)
	if !ok1 || !ok2 || !ok3 {
		return revocation.Event{}, false
	}
	t, err := parseMicros(until)
	if err != nil {
		return revocation.Event{}, false
	}
	return revocation.Event{Kind: kind, Key: key, Until: t}, true
}

// Revoked reports whether an event of kind with key is active at now. It
// compares the stored Until with now rather than trusting key existence,
// and the key outlives Until by clockSlack, so that a clock ahead of or
// behind Redis's own (by up to clockSlack) gives the same answer as SQL.
func (s *Store) Revoked(ctx context.Context, kind, key string, now time.Time) (bool, error) {
	v, err := s.client.Get(ctx, s.revKey(kind, key)).Result()
	if errors.Is(err, goredis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, wrap("check revocation", err)
	}
	until, err := parseMicros(v)
	if err != nil {
		return false, fmt.Errorf("check revocation: %w: %w", auth.ErrUnavailable, err)
	}
	return until.After(now), nil
}

// trimScript trims the stream below ARGV[2], or below ARGV[1] when ARGV[1]
// is the newest entry (kept, so that the cursor of every watcher that read
// it stays valid in a quiet feed), but only if ARGV[1], the last entry the
// purge scanned, is still there: gone, the stream was trimmed by another
// purge meanwhile, or a failover promoted a replica that lacks it and new
// entries the purge never saw may sit below ARGV[2].
var trimScript = goredis.NewScript(`
-- KEYS: stream
-- ARGV: last scanned ID, the ID just after it
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  return 0
end
local minid = ARGV[2]
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if newest[1][1] == ARGV[1] then
  minid = ARGV[1]
end
return redis.call('XTRIM', KEYS[1], 'MINID', minid)`)

// DeleteExpiredRevocations trims the stream entries older than feedKeep by
// now and returns how many ended events it removed. It first re-appends,
// durably, the events among them still active at now (one per kind and key,
// with the longest Until), so that the stream keeps every active event:
// one long revocation no longer holds back every event after it. Entries
// published meanwhile get larger IDs than the ones scanned and are never
// trimmed unread. The rev: keys expire by themselves (PXAT Until +
// clockSlack).
//
// The stream's format does not change: a gatehouse that trims only up to
// the oldest active event reads, follows and trims the same stream (a
// re-appended event is one more event it applies again), so instances of
// both kinds can share it during a rolling upgrade or a rollback.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	cutoff := now.Add(-feedKeep).UnixMilli()
	if cutoff <= 0 {
		return 0, nil
	}
	last, active, err := s.scanOld(ctx, strconv.FormatInt(cutoff, 10)+"-0", now)
	if err != nil || last == "" {
		return 0, err
	}
	for batch := range slices.Chunk(active, readBatch) {
		err := s.durable(ctx, s.streamKey(), func(p goredis.Pipeliner) {
			for _, ev := range batch {
				s.publishIn(ctx, p, ev)
			}
		})
		if err != nil {
			return 0, wrap("re-append active revocations", err)
		}
	}
	n, err := trimScript.Run(ctx, s.client, []string{s.streamKey()}, last, nextStreamID(last)).Int()
	if err != nil {
		return 0, wrap("trim revocations", err)
	}
	return max(n-len(active), 0), nil
}

// scanOld reads the entries below the stream ID before and returns the ID
// of the last one ("" when there is none) and the events among them still
// active at now, one per kind and key with the longest Until, in the order
// of their first entry.
func (s *Store) scanOld(ctx context.Context, before string, now time.Time) (string, []revocation.Event, error) {
	type kindKey struct{ kind, key string }
	var (
		last, start = "", "-"
		active      []revocation.Event
		at          = map[kindKey]int{}
	)
	for {
		msgs, err := s.client.XRangeN(ctx, s.streamKey(), start, "("+before, readBatch).Result()
		if err != nil {
			return "", nil, wrap("scan revocations", err)
		}
		for _, m := range msgs {
			last = m.ID
			ev, ok := decodeEvent(m)
			if !ok || !ev.Until.After(now) {
				continue
			}
			k := kindKey{ev.Kind, ev.Key}
			if i, seen := at[k]; seen {
				if ev.Until.After(active[i].Until) {
					active[i].Until = ev.Until
				}
				continue
			}
			at[k] = len(active)
			active = append(active, ev)
		}
		if len(msgs) < readBatch {
			return last, active, nil
		}
		start = "(" + last
	}
}

// validStreamID reports whether id has the form <ms>-<seq>.
func validStreamID(id string) bool {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(ms, 10, 64)
	_, err2 := strconv.ParseUint(seq, 10, 64)
	return err1 == nil && err2 == nil
}

// nextStreamID returns the smallest stream ID greater than id.
func nextStreamID(id string) string {
	ms, seq, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseUint(seq, 10, 64)
	return ms + "-" + strconv.FormatUint(n+1, 10)
}
