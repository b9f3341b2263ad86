package audit

import (
	"context"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"
)

// CoalescePeriod is how long RecordCoalesced records at most one event per
// key: the first; the ones after it in the period are counted, and the
// next event of the key recorded carries their number.
const CoalescePeriod = time.Minute

// MaxCoalesceKeys bounds the keys RecordCoalesced remembers. When that many
// are in their period, a new key's event is recorded without coalescing
// (each new key is a new lock, which took failed logins to earn).
const MaxCoalesceKeys = 10_000

// coalescer is a Logger's per-key state of RecordCoalesced: in process, so
// N instances sharing a store record up to N events per key and period.
type coalescer struct {
	mu   sync.Mutex
	keys map[string]*coalesced
	// sweepAt is when the next sweep of a full map can free a key (the
	// earliest end of a period it found).
	sweepAt time.Time
}

type coalesced struct {
	until      time.Time // end of the period of the latest recorded event
	suppressed int       // events of the key not recorded since then
}

// RecordCoalesced records e (Record) unless an event of key was recorded
// in the past CoalescePeriod: then it only counts it and returns false.
// The next event of key that is recorded carries the count of those not
// recorded in Details["suppressed"], so the trail says how many there
// were. It is for events that a client can repeat at no cost, such as a
// login the throttle refuses before any password is checked
// (login.throttled); the key names what repeats (the throttle key), per
// event type. An empty key records e as Record does.
func (l *Logger) RecordCoalesced(ctx context.Context, key string, e Event) bool {
	if l == nil {
		return false
	}
	if key == "" {
		l.Record(ctx, e)
		return true
	}
	now := l.now()
	if e.Time.IsZero() {
		e.Time = now
	}
	suppressed, lost, ok := l.coalesce.admit(e.Type+"\x00"+key, now)
	if lost > 0 {
		l.log.LogAttrs(ctx, slog.LevelWarn, "audit: coalesced events dropped with their key",
			slog.String("event", e.Type), slog.Int("suppressed", lost))
	}
	if !ok {
		return false
	}
	if suppressed > 0 {
		d := make(map[string]string, len(e.Details)+1)
		maps.Copy(d, e.Details)
		d["suppressed"] = strconv.Itoa(suppressed)
		e.Details = d
	}
	l.Record(ctx, e)
	return true
}

// admit reports whether key's event at now is recorded, and if so how many
// of key's events were not since the last recorded one; lost is the count
// of events not recorded whose key a sweep forgot before its next event.
func (c *coalescer) admit(key string, now time.Time) (suppressed, lost int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.keys[key]
	if k != nil && now.Before(k.until) {
		k.suppressed++
		return 0, 0, false
	}
	if k == nil {
		if c.keys == nil {
			c.keys = make(map[string]*coalesced)
		}
		if len(c.keys) >= MaxCoalesceKeys {
			lost = c.sweep(now)
		}
		if len(c.keys) >= MaxCoalesceKeys {
			return 0, lost, true // full of keys in their period: recorded as it is
		}
		k = &coalesced{}
		c.keys[key] = k
	}
	suppressed = k.suppressed
	k.until, k.suppressed = now.Add(CoalescePeriod), 0
	return suppressed, lost, true
}

// sweep forgets the keys whose period ended, at most once per earliest
// end of a period, and returns how many events not recorded they held.
func (c *coalescer) sweep(now time.Time) (lost int) {
	if now.Before(c.sweepAt) {
		return 0
	}
	next := now.Add(CoalescePeriod)
	for key, k := range c.keys {
		if !now.Before(k.until) {
			lost += k.suppressed
			delete(c.keys, key)
		} else if k.until.Before(next) {
			next = k.until
		}
	}
	c.sweepAt = next
	return lost
}
