package session

import (
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/cache"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
)

// maxCached bounds the session cache; past it otter evicts the sessions
// least likely to be used again (a miss costs one store read).
const maxCached = 100_000

// cached is a session the Authenticator found live, with its user.
type cached struct {
	principal auth.Principal
	rec       Record
}

// sessionCache maps public session IDs to cached sessions, tagged with the
// user ID so that a user revocation drops the user's sessions without
// scanning.
type sessionCache = cache.Cache[string, cached]

func newSessionCache(now func() time.Time) *sessionCache {
	return cache.New[string, cached](maxCached, now)
}

func (a *Authenticator) fromCache(id string) (auth.Principal, Record, bool) {
	if a.cache == nil || !a.trust() {
		return auth.Principal{}, Record{}, false
	}
	e, ok := a.cache.Get(id)
	if !ok {
		return auth.Principal{}, Record{}, false
	}
	return e.principal, e.rec, true
}

// generation is the cache's revocation count (0 without a cache), read
// before the store lookup whose result store caches.
func (a *Authenticator) generation() uint64 {
	if a.cache == nil {
		return 0
	}
	return a.cache.Generation()
}

// store caches e until the earliest of cache_ttl from now, the session's
// idle and absolute expiry, and the moment its activity is due to be
// written (last seen + touch interval), so a cached session never outlives
// any of them and requests answered from the cache still keep it alive (the
// next one after that goes to the store, which records it); not at all
// when a revocation ran since gen was read.
func (a *Authenticator) store(gen uint64, id string, e cached, now time.Time) {
	if a.cache == nil {
		return
	}
	deadline := now.Add(a.ttl)
	deadline = earliest(deadline, e.rec.IdleExpiresAt)
	deadline = earliest(deadline, e.rec.ExpiresAt)
	deadline = earliest(deadline, e.rec.LastSeenAt.Add(a.manager.touchEvery))
	a.cache.Put(gen, id, e, deadline, cache.Tag{Kind: revocation.KindUser, Key: e.principal.Subject})
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Forget applies a revocation event to the cache: a session event drops
// that session, a user event every session of the user.
func (a *Authenticator) Forget(ev revocation.Event) {
	if a.cache == nil {
		return
	}
	switch ev.Kind {
	case revocation.KindSession:
		a.cache.Delete(ev.Key)
	case revocation.KindUser:
		a.cache.Invalidate(cache.Tag{Kind: revocation.KindUser, Key: ev.Key})
	}
}
