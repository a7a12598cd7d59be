package vending

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/stsfleet/stsfleet/vending/ledger"
)

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 255

// idempotency makes a request with an Idempotency-Key happen once. The
// ledger holds the key of every committed vend with its request hash and
// response; calls holds the requests in flight, so that a repeat arriving
// before the first has committed waits for it instead of vending twice.
//
// seen spares a fresh key the ledger read: it holds a 64-bit hash of
// every key the ledger may hold (loaded at start, then added as requests
// run), so a key whose hash is absent cannot be in the ledger. A hash
// that is present, a repeat or a rare collision, is looked up. It costs
// about 16 bytes per key.
type idempotency struct {
	// mu guards calls and seen.
	mu    sync.Mutex
	calls map[string]*idemCall
	seen  map[uint64]struct{}
	seed  maphash.Seed
}

func newIdempotency() idempotency {
	return idempotency{calls: map[string]*idemCall{}, seen: map[uint64]struct{}{},
		seed: maphash.MakeSeed()}
}

func (m *idempotency) sum(key string) uint64 { return maphash.String(m.seed, key) }

// loadSeen adds every key of the ledger to seen.
func (s *Service) loadSeen(ctx context.Context) error {
	return s.led.IdempotencyKeys(ctx, func(key string) error {
		s.idem.seen[s.idem.sum(key)] = struct{}{}
		return nil
	})
}

// idemCall is a request in flight under a key.
type idemCall struct {
	hash string
	// done is closed when body and err are set.
	done chan struct{}
	body []byte
	err  error
}

// checkIdempotencyKey validates a key: printable ASCII, at most
// MaxIdempotencyKey characters.
func checkIdempotencyKey(key string) error {
	if len(key) > MaxIdempotencyKey {
		return fieldErr("Idempotency-Key", "%d characters: at most %d", len(key),
			MaxIdempotencyKey)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return fieldErr("Idempotency-Key", "character %d is not printable ASCII", i+1)
		}
	}
	return nil
}

// once runs do for the first request under key and returns its response
// body; a repeat with the same hash gets the same body and replayed true,
// one with another hash fails with [ErrIdempotencyConflict]. A request
// that failed is not remembered: a repeat runs again. With an empty key,
// do simply runs.
func (s *Service) once(ctx context.Context, key, hash string,
	do func() ([]byte, error)) (body []byte, replayed bool, err error) {
	if key == "" {
		b, err := do()
		return b, false, err
	}
	for {
		s.idem.mu.Lock()
		if c := s.idem.calls[key]; c != nil {
			s.idem.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
			if c.hash != hash {
				return nil, false, fmt.Errorf("Idempotency-Key %q: %w", key,
					ErrIdempotencyConflict)
			}
			if c.err != nil {
				// The first attempt failed and left nothing behind:
				// try again as the leader.
				continue
			}
			return c.body, true, nil
		}
		c := &idemCall{hash: hash, done: make(chan struct{})}
		s.idem.calls[key] = c
		sum := s.idem.sum(key)
		_, seen := s.idem.seen[sum]
		s.idem.mu.Unlock()
		c.body, replayed, c.err = s.lead(ctx, key, hash, seen, do)
		// The vend is committed (or failed) before the call is
		// forgotten, so a later repeat finds it in the ledger. A
		// failed one is marked seen too: that costs a lookup at most.
		s.idem.mu.Lock()
		s.idem.seen[sum] = struct{}{}
		delete(s.idem.calls, key)
		s.idem.mu.Unlock()
		close(c.done)
		return c.body, replayed, c.err
	}
}

// lead runs the first request under a key in flight. The ledger may
// already hold the key, from before a restart or from an earlier request,
// only if it was seen.
func (s *Service) lead(ctx context.Context, key, hash string, seen bool,
	do func() ([]byte, error)) ([]byte, bool, error) {
	if !seen {
		b, err := do()
		return b, false, err
	}
	v, err := s.led.VendByIdempotencyKey(ctx, key)
	switch {
	case err == nil:
		if v.RequestHash != hash {
			return nil, false, fmt.Errorf("Idempotency-Key %q: %w", key, ErrIdempotencyConflict)
		}
		return v.Response, true, nil
	case !errors.Is(err, ledger.ErrNotFound):
		return nil, false, err
	}
	b, err := do()
	return b, false, err
}
