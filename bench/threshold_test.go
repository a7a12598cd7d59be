package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/bench/load"
	"github.com/stsfleet/stsfleet/scenarios/threshold"
)

func TestThresholdNamesAreTheBenchsOwn(t *testing.T) {
	tests := []struct {
		bench string
		names load.Names
		ok    []string
		// refused are names the product reports elsewhere, or nowhere.
		refused []string
	}{
		{"vend", VendNames,
			[]string{"p99(vend_to_credit) < 50ms", "max(issue_to_credit) < 1s",
				"count(tokens_lost) == 0", "ratio(tokens_rejected) < 0.01",
				"count(crc_error) == 0", "count(in_flight_limit) == 0", "count(requests) > 0"},
			[]string{"p99(round_trip) < 5ms", "count(messages_lost) == 0",
				"count(telemetry_sent) > 0", "count(tokens_pending) == 0"}},
		{"broker", BrokerNames,
			[]string{"p99(round_trip) < 5ms", "p50(publish_to_receive) < 1ms",
				"count(messages_lost) == 0", "ratio(messages_failed) < 0.01",
				"count(timeout) == 0"},
			[]string{"p99(vend_to_credit) < 50ms", "count(tokens_lost) == 0",
				"count(crc_error) == 0", "ratio(tokens_rejected) < 0.01"}},
	}
	for _, tt := range tests {
		names := ThresholdNames(tt.names)
		for _, expr := range tt.ok {
			t.Run(tt.bench+"/"+expr, func(t *testing.T) {
				if _, err := names.Parse(expr); err != nil {
					t.Errorf("refused: %v", err)
				}
			})
		}
		for _, expr := range tt.refused {
			t.Run(tt.bench+"/"+expr, func(t *testing.T) {
				if _, err := names.Parse(expr); err == nil {
					t.Errorf("accepted a name bench %s does not report", tt.bench)
				}
			})
		}
	}
}

func TestParseThresholdNamesTheBenchsVocabulary(t *testing.T) {
	tests := []struct {
		name  string
		names load.Names
		expr  string
		want  string
	}{
		{"vend latency on broker", BrokerNames, "p99(vend_to_credit)<50ms",
			"bench broker does not measure vend_to_credit: want round_trip, publish_to_receive"},
		{"vend count on broker", BrokerNames, "count(tokens_lost)==0",
			"bench broker does not count tokens_lost: want requests, messages_sent"},
		{"summary count on vend", VendNames, "count(telemetry_sent)>0",
			"bench vend does not count telemetry_sent: want requests, tokens_vended"},
		{"no such name", BrokerNames, "count(nonsense)==0", `unknown count "nonsense"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseThreshold(tt.names, tt.expr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestBrokerRatioDividesByMessagesSent(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	rec, err := load.NewRecorder(load.RecorderConfig{Names: BrokerNames,
		Profile: load.Constant(4, time.Second), Start: t0, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 4 {
		rec.Fired(load.Arrival{Seq: int64(k), Intended: t0, Rate: 4})
		rec.Issued()
		state := load.Accepted
		if k == 0 {
			state = load.Lost
		}
		rec.Settle(state, "")
	}
	rep := &Report{Result: rec.Result()}
	names := ThresholdNames(BrokerNames)
	for _, tc := range []struct {
		expr string
		pass bool
	}{{"ratio(messages_lost) <= 0.25", true}, {"ratio(messages_lost) < 0.25", false}} {
		th, err := names.Parse(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		rep.evaluate([]threshold.Threshold{th})
		if got := rep.Thresholds[0]; got.Pass != tc.pass || got.Err != "" {
			t.Errorf("%s: pass %v (got %q, error %q), want %v", tc.expr, got.Pass, got.Got,
				got.Err, tc.pass)
		}
	}
}
