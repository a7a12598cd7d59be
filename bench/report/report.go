package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/stsfleet/stsfleet/bench"
	"github.com/stsfleet/stsfleet/bench/load"
)

// WriteJSON writes the full report, series included, as indented JSON.
func WriteJSON(w io.Writer, rep *bench.Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}

// csvHeader returns the columns of the per-second series: the counts, then
// p50, p90, p99 and max of each latency in milliseconds.
func csvHeader(n load.Names) []string {
	h := []string{"second", "target_rate", "sent", "issued", "accepted", "rejected", "failed",
		"timed_out", "lost", "in_flight"}
	for _, l := range n.Latencies {
		for _, p := range []string{"p50", "p90", "p99", "max"} {
			h = append(h, l+"_"+p+"_ms")
		}
	}
	return h
}

// WriteCSV writes the per-second series, one row a second. A drain second,
// after the schedule, has no target_rate.
func WriteCSV(w io.Writer, rep *bench.Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader(rep.Names)); err != nil {
		return fmt.Errorf("write csv report: %w", err)
	}
	for _, p := range rep.Series {
		target := ftoa(p.Target)
		if p.Drain {
			target = ""
		}
		row := []string{strconv.Itoa(p.Second), target}
		for _, n := range []int64{p.Sent, p.Issued, p.Accepted, p.Rejected, p.Failed,
			p.TimedOut, p.Lost, p.InFlight} {
			row = append(row, strconv.FormatInt(n, 10))
		}
		for _, l := range rep.Names.Latencies {
			q, ok := p.Latencies[l]
			for _, v := range []float64{q.P50, q.P90, q.P99, q.Max} {
				if ok {
					row = append(row, ftoa(v))
				} else {
					row = append(row, "")
				}
			}
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write csv report: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv report: %w", err)
	}
	return nil
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// WriteTable writes the end-of-run table for people.
func WriteTable(w io.Writer, rep *bench.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	unit := rep.Names.Unit
	fmt.Fprintf(tw, "bench %s\t%s\n", rep.Kind, rep.Profile)
	fmt.Fprintf(tw, "achieved\t%.1f %s/s (target peak %.0f/s)\n", rep.AchievedRate, unit,
		rep.TargetRate)
	if rep.Steps != nil {
		capped := ""
		if rep.Capped {
			capped = " (every step held up to --max-rate: the top may be higher)"
		}
		fmt.Fprintf(tw, "highest rate that held\t%.0f/s%s\n", rep.MaxRate, capped)
	}
	fmt.Fprintf(tw, "requests\t%d\n", rep.Requests)
	fmt.Fprintf(tw, "%s\t%d\n", rep.Names.Issued, rep.Issued)
	for s, name := range rep.Names.States {
		fmt.Fprintf(tw, "%s\t%d\n", name, rep.States[s])
		details := rep.RejectedBy
		if load.State(s) == load.Failed {
			details = rep.FailedBy
		} else if load.State(s) != load.Rejected {
			continue
		}
		for _, k := range sortedKeys(details) {
			fmt.Fprintf(tw, "  %s\t%d\n", k, details[k])
		}
	}
	fmt.Fprintf(tw, "\nlatency (ms)\tcount\tp50\tp90\tp99\tp99.9\tmax\n")
	for _, n := range rep.Names.Latencies {
		p := rep.Latencies[n]
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", n, p.Count, p.P50, p.P90,
			p.P99, p.P999, p.Max)
	}
	l := rep.SchedulerLag
	fmt.Fprintf(tw, "generator lag\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", l.Count, l.P50, l.P90,
		l.P99, l.P999, l.Max)
	if rep.Steps != nil {
		fmt.Fprintf(tw, "\nstep target/s\tachieved/s\tp99 ms\theld\tbroke\n")
		for _, s := range rep.Steps {
			fmt.Fprintf(tw, "%.0f\t%.1f\t%.2f\t%v\t%s\n", s.Target, s.AchievedRate, s.P99,
				s.Held, strings.Join(s.Broke, "; "))
		}
	}
	if b := rep.Baseline; b != nil {
		fmt.Fprintf(tw, "\nbroker alone\t%.0f round trips/s (%v, %v clients)\n", b.MaxRate,
			b.Config["transport"], b.Config["clients"])
		atLeast := ""
		if rep.Capped {
			atLeast = "at least "
		}
		fmt.Fprintf(tw, "pipeline share\t%s%.0f%% of the broker's two-leg rate\n", atLeast,
			100*b.Share)
	}
	if len(rep.Thresholds) > 0 {
		fmt.Fprintf(tw, "\nthreshold\tgot\tpass\n")
		for _, t := range rep.Thresholds {
			got := t.Got
			if t.Err != "" {
				got = t.Err
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\n", t.Expr, got, t.Pass)
		}
	}
	fmt.Fprintf(tw, "\nmachine\t%s\n", rep.Machine)
	verdict := "PASS"
	switch {
	case rep.Interrupted:
		verdict = "INTERRUPTED " + rep.Interruption()
	case !rep.Passed:
		verdict = "FAIL"
	}
	fmt.Fprintf(tw, "result\t%s\n", verdict)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
