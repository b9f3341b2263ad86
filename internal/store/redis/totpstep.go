package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/mfa"
)

var _ mfa.StepStore = (*Store)(nil)

// acceptStepScript moves one user's last accepted TOTP step forward. One
// key, so it runs on one node of a Redis Cluster.
var acceptStepScript = goredis.NewScript(`
-- KEYS: step key
-- ARGV: step, ttl ms
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

func (s *Store) totpStepKey(userID string) string { return s.prefix + "totp-step:" + userID }

// AcceptTOTPStep records step as the user's last accepted TOTP step unless
// an equal or later one was accepted; the key expires after keepUntil, when
// no code of that step is valid any more.
func (s *Store) AcceptTOTPStep(ctx context.Context, userID string, step int64, keepUntil time.Time) (bool, error) {
	ok, err := acceptStepScript.Run(ctx, s.client, []string{s.totpStepKey(userID)}, step, ttlMillis(keepUntil, time.Now())).Int()
	if err != nil {
		return false, wrap("accept totp step", err)
	}
	return ok == 1, nil
}
