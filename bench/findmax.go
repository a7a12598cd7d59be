package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/stsfleet/stsfleet/bench/load"
)

// FindMax steps the rate up until the run breaks, and reports the highest
// rate that held. A step holds when every threshold holds and the achieved
// rate is at least MinShare of the target. After the first break it
// bisects between the last rate that held and the one that broke. The
// report's result, series included, is that of the highest rate that
// held, whichever step ran last; when none held, that of the first step.
type FindMax struct {
	// Start is the first rate tried, per second; zero means the
	// profile's peak.
	Start float64
	// Step is the rate added after each step that held; zero means
	// Start.
	Step float64
	// Max is the highest rate tried, at least Start; zero means no limit.
	Max float64
	// StepDuration is how long each rate runs; zero means the profile's
	// duration.
	StepDuration time.Duration
	// Refine is the number of bisection steps after the first break;
	// zero means 2, negative none.
	Refine int
	// MinShare is the share of the target a step must achieve; zero
	// means 0.95.
	MinShare float64
}

func (f *FindMax) resolve(p load.Profile) error {
	f.Start = orDefault(f.Start, p.Peak())
	f.Step = orDefault(f.Step, f.Start)
	f.StepDuration = orDefault(f.StepDuration, p.Duration())
	f.Refine = orDefault(f.Refine, 2)
	f.MinShare = orDefault(f.MinShare, 0.95)
	switch {
	case f.Start <= 0 || f.Step <= 0 || f.Max < 0:
		return errors.New("find-max: start and step rates must be positive")
	case f.Max > 0 && f.Max < f.Start:
		return fmt.Errorf("find-max: highest rate %g below the start rate %g", f.Max, f.Start)
	case f.StepDuration <= 0:
		return errors.New("find-max: step duration must be positive")
	case f.MinShare <= 0 || f.MinShare > 1:
		return fmt.Errorf("find-max: minimum share %g: want more than 0, at most 1", f.MinShare)
	}
	return nil
}

// findMax runs the steps and fills rep.
func findMax(ctx context.Context, c *Common, names load.Names, step stepFunc,
	rep *Report) error {
	f := c.FindMax
	var best, first *load.Result
	held, broke := 0.0, math.Inf(1)
	try := func(rate float64) (bool, error) {
		res, err := runOne(ctx, c, names, load.Constant(rate, f.StepDuration), step)
		if err != nil {
			return false, err
		}
		s := judge(&res, c, rate)
		if ctx.Err() != nil {
			// Cut short: it neither held nor broke.
			s.Held, s.Broke = false, []string{"interrupted"}
			rep.Steps = append(rep.Steps, s)
			if first == nil {
				first = &res
			}
			return false, ctx.Err()
		}
		rep.Steps = append(rep.Steps, s)
		if first == nil {
			first = &res
		}
		if s.Held {
			best, held = &res, rate
		} else {
			broke = rate
		}
		return s.Held, ctx.Err()
	}
	// An interruption ends the search; the steps run so far are the
	// report.
	stopped := func(err error) bool { return err != nil && ctx.Err() != nil && first != nil }
	for rate := f.Start; f.Max == 0 || rate <= f.Max; rate += f.Step {
		ok, err := try(rate)
		if stopped(err) {
			break
		}
		if err != nil {
			return err
		}
		if !ok {
			break
		}
	}
	for i := 0; i < f.Refine && !math.IsInf(broke, 1) && ctx.Err() == nil; i++ {
		mid := math.Round((held + broke) / 2)
		if mid <= held || mid >= broke {
			break
		}
		if _, err := try(mid); stopped(err) {
			break
		} else if err != nil {
			return err
		}
	}
	defer rep.interrupted(ctx)
	rep.MaxRate = held
	rep.Capped = f.Max > 0 && math.IsInf(broke, 1) && held > 0 && ctx.Err() == nil
	if best != nil {
		rep.Result = *best
		rep.evaluate(c.Thresholds)
		return nil
	}
	// Nothing held: the rate asked for, not a refinement below it.
	rep.Result = *first
	rep.evaluate(c.Thresholds)
	rep.Passed = false
	return nil
}

// judge evaluates one find-max step.
func judge(res *load.Result, c *Common, rate float64) Step {
	primary := res.Latencies[res.Names.Latencies[0]]
	s := Step{Target: rate, AchievedRate: res.AchievedRate, Requests: res.Requests,
		Accepted: res.States[load.Accepted], Errors: res.Requests - res.States[load.Accepted],
		P99: primary.P99, Held: true}
	for _, t := range evalThresholds(res, c.Thresholds) {
		if !t.Pass {
			s.Held = false
			s.Broke = append(s.Broke, fmt.Sprintf("%s (got %s)", t.Expr, t.Got))
		}
	}
	if res.AchievedRate < c.FindMax.MinShare*rate {
		s.Held = false
		s.Broke = append(s.Broke, fmt.Sprintf("achieved %.0f/s, below %.0f%% of %.0f/s",
			res.AchievedRate, 100*c.FindMax.MinShare, rate))
	}
	return s
}
