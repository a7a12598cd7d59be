package vending

import (
	"context"
	"sync"
)

// queue is an unbounded FIFO between goroutines that must not block (the
// MQTT client's callbacks) and the workers that serve them. Push never
// blocks; Pop waits for an item or the context.
type queue[T any] struct {
	// mu guards items.
	mu    sync.Mutex
	items []T
	// ready holds a token while items may be non-empty.
	ready chan struct{}
}

func newQueue[T any]() *queue[T] {
	return &queue[T]{ready: make(chan struct{}, 1)}
}

// Push appends v.
func (q *queue[T]) Push(v T) {
	q.mu.Lock()
	q.items = append(q.items, v)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Pop removes the oldest item, waiting for one until ctx is done.
func (q *queue[T]) Pop(ctx context.Context) (T, bool) {
	for {
		if v, ok := q.TryPop(); ok {
			return v, true
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			var zero T
			return zero, false
		}
	}
}

// TryPop removes the oldest item if there is one.
func (q *queue[T]) TryPop() (T, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var zero T
	if len(q.items) == 0 {
		return zero, false
	}
	v := q.items[0]
	q.items[0] = zero
	q.items = q.items[1:]
	if len(q.items) > 0 {
		// Wake another waiter for the rest.
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return v, true
}

// Len returns the number of queued items.
func (q *queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
