package analytics

import (
	"sync"
	"time"
)

// limiter lets one event of each kind through per period and counts the
// rest, so that a flood of bad messages costs one log line per period.
type limiter struct {
	every time.Duration
	now   func() time.Time

	mu sync.Mutex
	// last is when each kind was last let through.
	last map[string]time.Time
	// held counts the events of each kind held back since.
	held map[string]int
}

// allow reports whether an event of this kind may be logged now, and how
// many were held back since the last one that was.
func (l *limiter) allow(kind string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last, l.held = map[string]time.Time{}, map[string]int{}
	}
	now := l.now()
	if last, ok := l.last[kind]; ok && now.Sub(last) < l.every {
		l.held[kind]++
		return false, 0
	}
	n := l.held[kind]
	l.last[kind], l.held[kind] = now, 0
	return true, n
}
