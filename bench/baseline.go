package bench

import (
	"context"
	"errors"
	"fmt"
)

// BrokerBaseline runs the broker bench's find-max after a vend bench's,
// on the same transport, with as many meter clients as the vend bench had
// meters and the vendor link split or not as it was, and records the
// broker's top rate and the pipeline's share of it in rep.Baseline. The
// broker's steps start at the pipeline's top rate and grow three times as
// fast; a step holds when nothing failed, was lost or timed out.
//
// It needs a find-max vend bench against the embedded system: an external
// vendor's broker is not the one the broker bench would measure.
func BrokerBaseline(ctx context.Context, vend VendConfig, rep *Report) error {
	switch {
	case vend.VendorURL != "":
		return errors.New("broker baseline: an external vendor's broker cannot be measured " +
			"by the embedded broker bench")
	case vend.FindMax == nil || rep.Steps == nil:
		return errors.New("broker baseline: needs a find-max vend bench")
	}
	f := *vend.FindMax
	f.Start = max(rep.MaxRate, f.Start)
	f.Step = 3 * f.Step
	f.Max = 0
	c := Common{Transport: vend.Transport, MaxInFlight: vend.MaxInFlight,
		Timeout: vend.Timeout, Drain: vend.Drain, Profile: vend.Profile, FindMax: &f,
		Logger: vend.Logger, Progress: vend.Progress}
	for _, s := range []string{"count(messages_failed)==0", "count(messages_lost)==0",
		"count(messages_timed_out)==0"} {
		th, err := ParseThreshold(BrokerNames, s)
		if err != nil {
			return fmt.Errorf("broker baseline: %w", err)
		}
		c.Thresholds = append(c.Thresholds, th)
	}
	br, err := RunBroker(ctx, BrokerConfig{Common: c, Clients: orDefault(vend.Meters, 1000),
		Split: vend.SplitLink})
	if err != nil {
		return fmt.Errorf("broker baseline: %w", err)
	}
	b := &Baseline{MaxRate: br.MaxRate, Steps: br.Steps, Config: br.Config}
	if br.MaxRate > 0 && rep.MaxRate > 0 {
		b.Share = rep.MaxRate / br.MaxRate
	}
	rep.Baseline = b
	return nil
}
