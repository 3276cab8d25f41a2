// Package idempotency makes a write happen once per (client, key): the
// first request with a key runs it, and a repeat within the retention gets
// the kept outcome instead of a second write. What is kept is the outcome
// and a keyed hash of the input, never the input itself (it holds a
// password). Records live in a Store: this process's memory, or Redis so
// that every replica sees them.
package idempotency

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"
)

// Record is what a Store keeps under a key.
type Record struct {
	// Input is the keyed hash of the input that made the record.
	Input []byte `json:"input"`
	// Owner names the request that runs the write while it is pending; it
	// is empty once Done.
	Owner string `json:"owner,omitempty"`
	Done  bool   `json:"done"`
	// Outcome is the caller's encoding of the write's outcome, once Done.
	Outcome []byte `json:"outcome,omitempty"`
}

// Store keeps records. Keys come already hashed: they never hold a
// credential or the client's key as sent.
type Store interface {
	// Claim stores rec under key for ttl unless a record is there already;
	// it then returns that record and claimed false.
	Claim(ctx context.Context, key string, rec Record, ttl time.Duration) (existing Record, claimed bool, err error)
	// Finish replaces the record under key with rec, for ttl.
	Finish(ctx context.Context, key string, rec Record, ttl time.Duration) error
	// Release removes the record under key if owner still owns it, so that
	// the write may be tried again.
	Release(ctx context.Context, key, owner string) error
}

// ErrKeyReused is the error of a key used before with another input.
var ErrKeyReused = errors.New("idempotency: key used before with another input")

// ErrUnavailable is the error of a write not run because its key could
// not be claimed (Redis unreachable): run without the key's guarantee, a
// retry that another replica serves could write twice. The client may try
// again.
var ErrUnavailable = errors.New("idempotency: keys cannot be kept right now")

// Options tune a Keeper.
type Options struct {
	// Secret keys the hashes of keys and inputs: the same on every replica
	// that shares a Store, at least 16 bytes. Empty is 32 random bytes,
	// right for a Store in this process only.
	Secret []byte
	// Retention is how long an outcome is kept (24 hours when zero).
	Retention time.Duration
	// PendingFor bounds how long a write may hold its key before others
	// may claim it: longer than any write lasts (the request timeout).
	PendingFor time.Duration
}

// Keeper runs writes once per (client, key).
type Keeper struct {
	store      Store
	secret     []byte
	retention  time.Duration
	pendingFor time.Duration
	// poll is how often a repeat looks whether the first request finished.
	poll time.Duration
}

// DefaultRetention is how long outcomes are kept unless told otherwise.
const DefaultRetention = 24 * time.Hour

// NewKeeper returns a Keeper over store.
func NewKeeper(store Store, opts Options) *Keeper {
	secret := opts.Secret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	k := &Keeper{store: store, secret: secret, retention: opts.Retention,
		pendingFor: opts.PendingFor, poll: 20 * time.Millisecond}
	if k.retention <= 0 {
		k.retention = DefaultRetention
	}
	if k.pendingFor <= 0 {
		k.pendingFor = time.Minute
	}
	return k
}

// Call is one write under an idempotency key.
type Call struct {
	// Client is who asks: the credential the key belongs to. It is only
	// hashed.
	Client []byte
	// Key is the client's idempotency key.
	Key string
	// Input is every field of the input, in a fixed order; it is only
	// hashed.
	Input [][]byte
}

// Do runs write once for call: the first request with the key runs it;
// a repeat with the same input gets the outcome it kept (replay true), or
// waits while it is still running; a repeat with another input gets
// ErrKeyReused. write reports whether its outcome is to be kept: an error
// it returns is never kept, so that the client may try again. When the key
// cannot be claimed, write does not run: ErrUnavailable.
func (k *Keeper) Do(ctx context.Context, call Call, write func(context.Context) (outcome []byte, keep bool, err error)) (outcome []byte, replay bool, err error) {
	key := k.storeKey(call)
	input := k.inputHash(call)
	owner := newOwner()
	wait := k.poll
	for {
		existing, claimed, err := k.store.Claim(ctx, key, Record{Input: input, Owner: owner}, k.pendingFor)
		switch {
		case err != nil:
			return nil, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
		case claimed:
			return k.run(ctx, key, input, owner, write)
		case !hmac.Equal(existing.Input, input):
			return nil, false, ErrKeyReused
		case existing.Done:
			return existing.Outcome, true, nil
		}
		// The first request is still running: look again shortly, until
		// it finishes, gives the key up, or this request's time runs out.
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, false, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 10*k.poll)
	}
}

func (k *Keeper) run(ctx context.Context, key string, input []byte, owner string,
	write func(context.Context) ([]byte, bool, error)) ([]byte, bool, error) {
	store := k.store
	// Detached: the outcome must be recorded even when the client left.
	done := context.WithoutCancel(ctx)
	finished := false
	defer func() {
		if !finished { // write panicked: give the key up rather than hold it
			_ = store.Release(done, key, owner)
		}
	}()
	outcome, keep, err := write(ctx)
	finished = true
	if err != nil || !keep {
		_ = store.Release(done, key, owner)
		return outcome, false, err
	}
	rec := Record{Input: input, Done: true, Outcome: outcome}
	if err := store.Finish(done, key, rec, k.retention); err != nil {
		// Repeats wait for the outcome: keep trying to record it, rather
		// than leave them waiting until the claim expires.
		go k.finishLater(done, key, owner, rec)
	}
	return outcome, false, nil
}

// finishRetries is how often, and finishBackoff from how long apart (it
// doubles), a failed Finish is tried again; then the key is given up.
const (
	finishRetries = 5
	finishBackoff = 200 * time.Millisecond
)

func (k *Keeper) finishLater(ctx context.Context, key, owner string, rec Record) {
	wait := finishBackoff
	for range finishRetries {
		time.Sleep(wait)
		if k.store.Finish(ctx, key, rec, k.retention) == nil {
			return
		}
		wait *= 2
	}
	_ = k.store.Release(ctx, key, owner)
}

// storeKey is the record's key: an HMAC of the client and its key, so that
// whoever reads the store learns neither.
func (k *Keeper) storeKey(call Call) string {
	m := hmac.New(sha256.New, k.secret)
	writeParts(m, []byte("key"), call.Client, []byte(call.Key))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// inputHash is an HMAC of the client and the input: it tells inputs apart
// without holding them, and the client's credential in it means a reader
// of the store who knows the secret still cannot test guessed passwords.
func (k *Keeper) inputHash(call Call) []byte {
	m := hmac.New(sha256.New, k.secret)
	writeParts(m, append([][]byte{[]byte("input"), call.Client}, call.Input...)...)
	return m.Sum(nil)
}

// writeParts writes each part with its length first, so that no two lists
// of parts hash alike.
func writeParts(h hash.Hash, parts ...[]byte) {
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
}

func newOwner() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
