// Package ratelimit thins out repeated events, such as the same warning
// from a thousand meters: one event of each kind passes per period, and the
// next one to pass reports how many were held back meanwhile. A Limiter is
// safe for concurrent use.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter lets one event of each kind through per period and counts the
// rest.
type Limiter struct {
	every time.Duration
	now   func() time.Time

	// mu guards last and held.
	mu sync.Mutex
	// last is when each kind was last let through.
	last map[string]time.Time
	// held counts the events of each kind held back since.
	held map[string]int
}

// New returns a limiter that lets one event of each kind through every
// period, on the wall clock.
func New(every time.Duration) *Limiter { return NewWithClock(every, time.Now) }

// NewWithClock is [New] with an injected clock, for tests.
func NewWithClock(every time.Duration, now func() time.Time) *Limiter {
	return &Limiter{every: every, now: now, last: map[string]time.Time{},
		held: map[string]int{}}
}

// Allow reports whether an event of this kind may pass now and, when it
// may, how many of its kind were held back since the last one that passed.
func (l *Limiter) Allow(kind string) (ok bool, held int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, seen := l.last[kind]; seen && now.Sub(last) < l.every {
		l.held[kind]++
		return false, 0
	}
	held = l.held[kind]
	l.last[kind], l.held[kind] = now, 0
	return true, held
}
