package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"
)

// xread is XREAD that returns as soon as ctx ends. go-redis does not
// interrupt a command blocked in Redis when its context is cancelled
// (redis/go-redis#2556), so a watcher blocked in XREAD BLOCK would hold
// every shutdown for the rest of the block. The read it leaves behind ends
// when its block does, or at once when Close closes the connection pool
// (which closes connections in use too); its reply is dropped.
func (s *Store) xread(ctx context.Context, a *goredis.XReadArgs) ([]goredis.XStream, error) {
	if a.Block < 0 || ctx.Done() == nil {
		return s.client.XRead(ctx, a).Result()
	}
	type reply struct {
		streams []goredis.XStream
		err     error
	}
	done := make(chan reply, 1)
	go func() {
		streams, err := s.client.XRead(ctx, a).Result()
		done <- reply{streams, err}
	}()
	select {
	case r := <-done:
		return r.streams, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
