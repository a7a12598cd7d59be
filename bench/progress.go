package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/stsfleet/stsfleet/bench/load"
)

// startProgress prints rec's progress to w every second until the
// returned stop is called. On a terminal the line is rewritten in place.
func startProgress(w io.Writer, rec *load.Recorder) (stop func()) {
	if w == nil {
		return func() {}
	}
	end := "\n"
	if isTerminal(w) {
		end = "\r"
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				if end == "\r" {
					fmt.Fprintln(w)
				}
				return
			case <-t.C:
				fmt.Fprint(w, ProgressLine(rec.Progress(), rec.Names().Unit)+end)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// ProgressLine formats a progress view, such as
// "  12s target 2000/s sent 2000/s done 1998/s in flight 45 p99 12.3ms errors 0",
// with "draining" in place of the target once the schedule is over.
func ProgressLine(p load.Progress, unit string) string {
	target := fmt.Sprintf("target %.0f/s", p.Target)
	if p.Draining {
		target = "draining"
	}
	return fmt.Sprintf("%5.0fs %s sent %d/s done %d/s in flight %d p99 %s errors %d (%d %s)",
		p.Elapsed.Seconds(), target, p.Sent, p.Done, p.InFlight, fmtMS(p.P99), p.Errors,
		p.Accepted, unit)
}

func fmtMS(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
