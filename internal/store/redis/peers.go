package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/peers"
)

var _ peers.Store = (*Store)(nil)

// The instances' records are one hash, field = instance ID, value = the
// JSON of storedPeer. Every command touches that one key, so no hash tag
// is needed on a Cluster.
func (s *Store) peersKey() string { return s.prefix + "peers" }

// storedPeer is a record as the hash holds it; times in µs since the epoch.
type storedPeer struct {
	Host      string            `json:"host"`
	Listen    string            `json:"listen"`
	Settings  map[string]string `json:"settings"`
	SeenAt    int64             `json:"seen_at"`
	ExpiresAt int64             `json:"expires_at"`
}

// putPeerScript writes one record, drops those expired by the writer's
// clock and keeps the hash alive for ttl more, atomically: a record that
// another instance refreshes is never deleted on the strength of an older
// read of it.
var putPeerScript = goredis.NewScript(`
-- KEYS: peers hash
-- ARGV: id, record JSON, now µs, key ttl ms
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, rec = pcall(cjson.decode, all[i + 1])
  if not ok or type(rec) ~= 'table' or tonumber(rec.expires_at) == nil or tonumber(rec.expires_at) <= tonumber(ARGV[3]) then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`)

// PutPeer stores r, replacing the record of r.ID. The hash expires in real
// time when no instance has written to it for the record's life plus
// clockSlack (an instance's clock may lag Redis's); expired records inside
// it are judged by the callers' clocks.
func (s *Store) PutPeer(ctx context.Context, r peers.Record) error {
	v, err := json.Marshal(storedPeer{Host: r.Host, Listen: r.Listen, Settings: r.Settings,
		SeenAt: r.SeenAt.UnixMicro(), ExpiresAt: r.ExpiresAt.UnixMicro()})
	if err != nil {
		return fmt.Errorf("put peer: %w", err)
	}
	ttl := max(r.ExpiresAt.Sub(r.SeenAt), time.Millisecond) + clockSlack
	err = putPeerScript.Run(ctx, s.client, []string{s.peersKey()},
		r.ID, string(v), r.SeenAt.UnixMicro(), ttl.Milliseconds()).Err()
	return wrap("put peer", err)
}

// Peers returns the records live at now, ordered by ID.
func (s *Store) Peers(ctx context.Context, now time.Time) ([]peers.Record, error) {
	all, err := s.client.HGetAll(ctx, s.peersKey()).Result()
	if err != nil {
		return nil, wrap("read peers", err)
	}
	out := make([]peers.Record, 0, len(all))
	for id, v := range all {
		var sp storedPeer
		if err := json.Unmarshal([]byte(v), &sp); err != nil {
			return nil, fmt.Errorf("read peers: record %q: %w", id, err)
		}
		r := peers.Record{ID: id, Host: sp.Host, Listen: sp.Listen, Settings: sp.Settings,
			SeenAt: time.UnixMicro(sp.SeenAt).UTC(), ExpiresAt: time.UnixMicro(sp.ExpiresAt).UTC()}
		if r.ExpiresAt.After(now) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b peers.Record) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeletePeer removes the record of id.
func (s *Store) DeletePeer(ctx context.Context, id string) error {
	return wrap("delete peer", s.client.HDel(ctx, s.peersKey(), id).Err())
}
