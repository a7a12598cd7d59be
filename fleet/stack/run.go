package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/stsfleet/stsfleet/vending"
)

// DefaultDrain bounds the wait, once customers stop buying, for every
// token to have its result.
const DefaultDrain = 30 * time.Second

// RunConfig shapes one timed run.
type RunConfig struct {
	// SimDuration is how much simulated time the run covers, from the
	// clock's start. Zero runs until ctx ends.
	SimDuration time.Duration
	// Drain bounds the wait for outstanding tokens after the run. Zero
	// means DefaultDrain.
	Drain time.Duration
	// Progress, when set, receives a progress line every
	// ProgressInterval (default one second). A terminal gets the line
	// rewritten in place.
	Progress         io.Writer
	ProgressInterval time.Duration
}

// Run lets the fleet live through rc.SimDuration of simulated time (or
// until ctx ends), then ends the run: customers stop buying, outstanding
// tokens are drained, every meter publishes its final reading, and the
// summary is built from the vendor's account and the meters' registers.
// When ctx ends before rc.SimDuration does, the summary is marked
// Interrupted, with how far the run got and context.Cause(ctx). The
// stack keeps running; Shutdown it after.
func (s *Stack) Run(ctx context.Context, rc RunConfig) (Summary, error) {
	if rc.Drain <= 0 {
		rc.Drain = DefaultDrain
	}
	if rc.ProgressInterval <= 0 {
		rc.ProgressInterval = time.Second
	}
	p := newProgress(rc.Progress, s)
	end := s.Clock.WallAt(s.Clock.Start.Add(rc.SimDuration))
	tick := time.NewTicker(rc.ProgressInterval)
	defer tick.Stop()
	timer := time.NewTimer(time.Until(end))
	if rc.SimDuration <= 0 {
		timer.Stop()
	}
	defer timer.Stop()
	// A run with a span that ctx ends first was interrupted.
	interrupted := false
loop:
	for {
		select {
		case <-ctx.Done():
			interrupted = rc.SimDuration > 0
			break loop
		case <-timer.C:
			break loop
		case <-tick.C:
			p.print(false)
		}
	}

	// The run's end is its own step: a cancelled ctx stops the wait, not
	// the drain.
	ectx := context.WithoutCancel(ctx)
	s.Fleet.StopBuying()
	dctx, cancel := context.WithTimeout(ectx, rc.Drain)
	err := s.drain(dctx, tick, p)
	cancel()
	if err != nil {
		s.log.Warn("drain ended with tokens outstanding", "err", err)
	}
	p.print(true)
	// The final readings go out paced, which for a large fleet takes
	// longer than the drain.
	fctx, cancel := context.WithTimeout(ectx, 2*rc.Drain+s.Fleet.FinalPace())
	defer cancel()
	if err := s.Fleet.Final(fctx); err != nil {
		return Summary{}, fmt.Errorf("run: %w", err)
	}
	sum, err := s.Summary(fctx)
	if err == nil && interrupted {
		after := s.Clock.WallDuration(s.Clock.Now().Sub(s.Clock.Start))
		sum.interrupt(after, s.Clock.WallDuration(rc.SimDuration), context.Cause(ctx))
	}
	return sum, err
}

// drain waits until customers have their tokens and the vendor has a
// result for every token.
func (s *Stack) drain(ctx context.Context, tick *time.Ticker, p *progress) error {
	if err := s.Fleet.WaitIdle(ctx); err != nil {
		return fmt.Errorf("drain fleet: %w", err)
	}
	for {
		v, err := s.VendorSummary(ctx)
		if err == nil && v.TokensPending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain vendor: %w", ctx.Err())
		case <-tick.C:
			p.print(false)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Summary builds the end-of-run summary now.
func (s *Stack) Summary(ctx context.Context) (Summary, error) {
	v, err := s.VendorSummary(ctx)
	if err != nil {
		return Summary{}, err
	}
	t, err := s.Fleet.Totals(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("summary: %w", err)
	}
	sum := Build(s.Fleet.Len(), v, t, s.Fleet.Stats(), 0)
	if s.analytics != nil {
		s.checkAnalytics(ctx, &sum, t)
	}
	return sum, nil
}

// VendorSummary returns the vendor's account: the embedded service's, or
// GET /v1/summary of an external one.
func (s *Stack) VendorSummary(ctx context.Context) (vending.Summary, error) {
	if s.Vendor != nil {
		return s.Vendor.Summary(), nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.addrs.Vendor+"/v1/summary",
		nil)
	if err != nil {
		return vending.Summary{}, fmt.Errorf("vendor summary: %w", err)
	}
	if s.cfg.VendorToken != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.VendorToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return vending.Summary{}, fmt.Errorf("vendor summary: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return vending.Summary{}, fmt.Errorf("vendor summary: status %d", resp.StatusCode)
	}
	var v vending.Summary
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return vending.Summary{}, fmt.Errorf("vendor summary: %w", err)
	}
	return v, nil
}

// progress writes the live progress line.
type progress struct {
	w        io.Writer
	s        *Stack
	terminal bool
	started  time.Time
	last     time.Time
	vended   int64
}

func newProgress(w io.Writer, s *Stack) *progress {
	p := &progress{w: w, s: s, started: time.Now(), last: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) print(final bool) {
	if p.w == nil {
		return
	}
	v, err := p.s.VendorSummary(context.Background())
	if err != nil && !errors.Is(err, context.Canceled) {
		return
	}
	st := p.s.Fleet.Stats()
	now := time.Now()
	rate := float64(v.TokensVended-p.vended) / max(now.Sub(p.last).Seconds(), 1e-3)
	p.last, p.vended = now, v.TokensVended
	line := fmt.Sprintf("%5.0fs sim %s  meters %d/%d  vended %d (%.0f/s)  accepted %d  "+
		"pending %d  in flight %d", now.Sub(p.started).Seconds(),
		p.s.Clock.Now().UTC().Format("2006-01-02 15:04"), st.Connected, st.Meters,
		v.TokensVended, rate, v.TokensAccepted+v.TokensDelivered, v.TokensPending,
		st.InFlight)
	switch {
	case p.terminal && final:
		fmt.Fprintf(p.w, "\r\033[K%s\n", line)
	case p.terminal:
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	default:
		fmt.Fprintln(p.w, line)
	}
}
