package ratelimit

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewWithClock(10*time.Second, func() time.Time { return now })
	for i, s := range []struct {
		after time.Duration
		kind  string
		ok    bool
		held  int
	}{
		{0, "a", true, 0},
		{time.Second, "a", false, 0},
		{time.Second, "a", false, 0},
		{0, "b", true, 0},
		{8 * time.Second, "a", true, 2},
		{time.Second, "b", false, 0},
		{10 * time.Second, "b", true, 1},
		{0, "b", false, 0},
	} {
		now = now.Add(s.after)
		ok, held := l.Allow(s.kind)
		if ok != s.ok || held != s.held {
			t.Errorf("step %d: Allow(%q) = %v, %d; want %v, %d", i, s.kind, ok, held, s.ok,
				s.held)
		}
	}
}
