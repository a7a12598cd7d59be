package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/bench/load"
)

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name string
		p    load.Progress
		want string
	}{
		{"running", load.Progress{Elapsed: 3 * time.Second, Target: 200, Sent: 200, Done: 199},
			"    3s target 200/s sent 200/s done 199/s"},
		{"draining", load.Progress{Elapsed: 11 * time.Second, Draining: true, Done: 2},
			"   11s draining sent 0/s done 2/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ProgressLine(tt.p, "tokens"); !strings.HasPrefix(got, tt.want) {
				t.Errorf("line %q, want it to start %q", got, tt.want)
			}
		})
	}
}
