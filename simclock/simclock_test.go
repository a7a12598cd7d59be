package simclock

import (
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	epoch := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	start := time.Date(2024, 11, 20, 0, 0, 0, 0, time.UTC)
	wall := epoch
	c := &Clock{Start: start, Speed: 3600, Epoch: epoch, Wall: func() time.Time { return wall }}
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now at epoch = %v, want %v", got, start)
	}
	wall = epoch.Add(10 * time.Second)
	if got, want := c.Now(), start.Add(10*time.Hour); !got.Equal(want) {
		t.Errorf("Now after 10 s at 3600x = %v, want %v", got, want)
	}
	if got := c.WallAt(start.Add(10 * time.Hour)); !got.Equal(wall) {
		t.Errorf("WallAt = %v, want %v", got, wall)
	}
	if got := c.WallDuration(time.Hour); got != time.Second {
		t.Errorf("WallDuration(1h) = %v, want 1s", got)
	}
	zero := &Clock{Start: start, Epoch: epoch, Wall: func() time.Time { return wall }}
	if got, want := zero.Now(), start.Add(10*time.Second); !got.Equal(want) {
		t.Errorf("speed 0 reads as real time: got %v, want %v", got, want)
	}
}
