// Package simclock provides the simulated clock that one run of the product
// shares: the vendor issues TIDs on it, meters consume and time out on it,
// and telemetry carries it beside the wall time.
//
// A Clock maps wall time to simulated time linearly: it reads Start at the
// wall instant Epoch and advances Speed simulated seconds per wall second.
// Separate processes that are given the same Start, Speed and Epoch agree on
// the simulated time without talking to each other. A Clock is immutable and
// safe for concurrent use.
package simclock

import (
	"fmt"
	"time"
)

// Clock is a linear mapping from wall time to simulated time.
type Clock struct {
	// Start is the simulated time at Epoch.
	Start time.Time
	// Speed is simulated seconds per wall second; 1 is real time. Zero
	// or negative means 1.
	Speed float64
	// Epoch is the wall time at which the clock reads Start.
	Epoch time.Time
	// Wall returns the wall time; nil means time.Now. Tests inject their
	// own.
	Wall func() time.Time
}

// New returns a clock that reads start now and runs speed times faster than
// wall time.
func New(start time.Time, speed float64) *Clock {
	return &Clock{Start: start, Speed: speed, Epoch: time.Now()}
}

// Real returns a clock that reads wall time.
func Real() *Clock {
	now := time.Now()
	return &Clock{Start: now, Speed: 1, Epoch: now}
}

func (c *Clock) wall() time.Time {
	if c.Wall != nil {
		return c.Wall()
	}
	return time.Now()
}

func (c *Clock) speed() float64 {
	if c.Speed <= 0 {
		return 1
	}
	return c.Speed
}

// Now returns the current simulated time.
func (c *Clock) Now() time.Time { return c.At(c.wall()) }

// At returns the simulated time at wall time w.
func (c *Clock) At(w time.Time) time.Time {
	d := w.Sub(c.Epoch)
	return c.Start.Add(time.Duration(float64(d) * c.speed()))
}

// WallAt returns the wall time at which the clock reads simulated time s.
func (c *Clock) WallAt(s time.Time) time.Time {
	d := s.Sub(c.Start)
	return c.Epoch.Add(time.Duration(float64(d) / c.speed()))
}

// WallDuration returns how long simulated duration d takes in wall time.
func (c *Clock) WallDuration(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.speed())
}

// String describes the clock for logs and summaries.
func (c *Clock) String() string {
	return fmt.Sprintf("sim start %s at wall %s, speed %gx",
		c.Start.UTC().Format(time.RFC3339), c.Epoch.UTC().Format(time.RFC3339Nano), c.speed())
}
