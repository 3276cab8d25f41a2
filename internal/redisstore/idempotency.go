package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botpenguin-gateway/gateway/internal/idempotency"
)

// errSkipped is the error of a command not sent because Redis is being
// left alone after it was unreachable.
var errSkipped = errors.New("redis: unavailable")

// Idempotency returns the store of idempotency records in Redis, which
// every replica shares: a key claimed through one replica is seen by all.
// Its errors (Redis unreachable) leave the choice to the caller.
func (s *Store) Idempotency() idempotency.Store { return idempotencyStore{s} }

type idempotencyStore struct{ s *Store }

func idempotencyKey(key string) string { return keyPrefix + "idem:" + key }

// releaseScript deletes a pending record only while its owner holds it.
var releaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).owner == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// Claim implements idempotency.Store with SET NX: exactly one replica's
// request wins a key.
func (st idempotencyStore) Claim(ctx context.Context, key string, rec idempotency.Record, ttl time.Duration) (idempotency.Record, bool, error) {
	value, err := json.Marshal(rec)
	if err != nil {
		return idempotency.Record{}, false, err
	}
	for range 2 { // a record that expires between SET NX and GET is claimed again once
		var claimed bool
		var existing []byte
		err := st.command(ctx, "idempotency", func(ctx context.Context) error {
			var err error
			claimed, err = st.s.client.SetNX(ctx, idempotencyKey(key), value, ttl).Result()
			if err != nil || claimed {
				return err
			}
			existing, err = st.s.client.Get(ctx, idempotencyKey(key)).Bytes()
			if errors.Is(err, redis.Nil) {
				return nil
			}
			return err
		})
		switch {
		case err != nil:
			return idempotency.Record{}, false, err
		case claimed:
			return idempotency.Record{}, true, nil
		case existing == nil:
			continue
		}
		var got idempotency.Record
		if err := json.Unmarshal(existing, &got); err != nil {
			return idempotency.Record{}, false, fmt.Errorf("redis: idempotency record: %w", err)
		}
		return got, false, nil
	}
	return idempotency.Record{}, false, errors.New("redis: idempotency record keeps expiring")
}

// Finish implements idempotency.Store.
func (st idempotencyStore) Finish(ctx context.Context, key string, rec idempotency.Record, ttl time.Duration) error {
	value, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return st.command(ctx, "idempotency", func(ctx context.Context) error {
		return st.s.client.Set(ctx, idempotencyKey(key), value, ttl).Err()
	})
}

// Release implements idempotency.Store.
func (st idempotencyStore) Release(ctx context.Context, key, owner string) error {
	return st.command(ctx, "idempotency", func(ctx context.Context) error {
		return releaseScript.Run(ctx, st.s.client, []string{idempotencyKey(key)}, owner).Err()
	})
}

// command runs fn under the store's failure policy (see get and set).
func (st idempotencyStore) command(ctx context.Context, op string, fn func(context.Context) error) error {
	if !st.s.available() { // available must be followed by done
		return errSkipped
	}
	opCtx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	err := fn(opCtx)
	st.s.done(ctx, op, err)
	return err
}
