package scenarios

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// shipped are the scenarios that come with the product.
//
//go:embed *.yaml
var shipped embed.FS

// Shipped returns the scenarios that come with the product, parsed, in
// name order.
func Shipped() ([]*Scenario, error) {
	names, err := fs.Glob(shipped, "*.yaml")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var out []*Scenario
	for _, n := range names {
		data, err := shipped.ReadFile(n)
		if err != nil {
			return nil, err
		}
		s, err := Parse(n, data)
		if err != nil {
			return nil, fmt.Errorf("shipped scenario: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

// ShippedFile returns the text of a shipped scenario by name, such as
// "replay", and false when there is none.
func ShippedFile(name string) ([]byte, bool) {
	data, err := shipped.ReadFile(strings.TrimSuffix(name, ".yaml") + ".yaml")
	return data, err == nil
}

// RunScenario starts a [Stack] for sc, runs it and closes the stack. A
// stack that fails to start is reported as the run's error.
func RunScenario(ctx context.Context, sc *Scenario, cfg StackConfig) *Report {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	began := time.Now()
	st, err := NewStack(ctx, sc, cfg)
	if err != nil {
		rep := &Report{Scenario: sc.Name, File: sc.File, Description: sc.Description,
			Error: err.Error(), wall: time.Since(began)}
		rep.settle()
		return rep
	}
	rep := Run(ctx, sc, st, log)
	if err := st.Close(context.WithoutCancel(ctx)); err != nil {
		log.Warn("stop scenario stack", "scenario", sc.Name, "err", err)
	}
	rep.wall = time.Since(began)
	rep.WallMS = float64(rep.wall.Microseconds()) / 1000
	return rep
}
