package analytics

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// TestFraudAttemptsByKind feeds keypad entries and vended tokens and checks
// analytics_fraud_attempts_total: only rejected keypad entries count, by
// kind; a redelivered vend answered used_error is no attempt.
func TestFraudAttemptsByKind(t *testing.T) {
	const drn = "01234567890"
	res := func(id string, o sts.Outcome) message {
		return message{wire.ChannelResult, drn, mustJSON(wire.ResultMessage{VendID: id,
			Token: "12345678901234567890", Outcome: o.String(), Credited: "0", Unit: "kWh",
			SentAt: t0})}
	}
	var msgs []message
	for range 10 {
		msgs = append(msgs, res("", sts.Accept))
	}
	for range 2 {
		msgs = append(msgs, res("", sts.UsedError))
	}
	msgs = append(msgs,
		res("", sts.CRCError), res("", sts.FormatError), res("", sts.FunctionError),
		res("", sts.OldError), res("", sts.KeyExpiredError), res("", sts.DDTKError),
		res("", sts.KeypadLocked), res("", sts.KeypadLocked), res("", sts.KeypadLocked),
		res("", sts.OverflowError),
		// A vended token and its redelivered copy: delivery, not fraud.
		res("v1", sts.Accept), res("v1", sts.UsedError), res("v2", sts.CRCError),
	)
	svc := newTestService(t)
	feed(t, svc.agg, msgs)

	want := `
# HELP analytics_fraud_attempts_total Rejected tokens typed at a meter's keypad, by kind: replay, old_token, invalid_token (tampered, mistyped, guessed or another meter's), wrong_key or locked_out.
# TYPE analytics_fraud_attempts_total counter
analytics_fraud_attempts_total{kind="invalid_token"} 3
analytics_fraud_attempts_total{kind="locked_out"} 3
analytics_fraud_attempts_total{kind="old_token"} 1
analytics_fraud_attempts_total{kind="replay"} 2
analytics_fraud_attempts_total{kind="wrong_key"} 2
`
	if err := testutil.GatherAndCompare(svc.Registry(), strings.NewReader(want),
		"analytics_fraud_attempts_total"); err != nil {
		t.Error(err)
	}
	wantResults := map[string]float64{"accept": 11, "used_error": 3, "crc_error": 2}
	body := get(t, svc.Handler(), "/metrics").Body.String()
	for outcome, n := range wantResults {
		line := `analytics_results_total{outcome="` + outcome + `"} ` +
			strconv.FormatFloat(n, 'g', -1, 64)
		if !strings.Contains(body, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// TestFraudAttemptsSurviveACheckpoint checks that the attempts are part of
// the state a restarted instance resumes from.
func TestFraudAttemptsSurviveACheckpoint(t *testing.T) {
	a := newAggregator()
	a.countAttemptLocked(sts.UsedError)
	a.countAttemptLocked(sts.CRCError)
	a.countAttemptLocked(sts.CRCError)
	ps, err := AllPartitions(wire.DefaultPartitions)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(a.export("c", ps))
	if err != nil {
		t.Fatal(err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	b, err := restore(&st)
	if err != nil {
		t.Fatal(err)
	}
	if b.counts.Attempts != a.counts.Attempts {
		t.Errorf("restored attempts %v, want %v", b.counts.Attempts, a.counts.Attempts)
	}
}

func TestFraudKindCoversEveryRejection(t *testing.T) {
	for _, o := range sts.Outcomes() {
		_, ok := fraudKind(o)
		noAttempt := o.Accepted() || o == sts.OverflowError
		if ok == noAttempt {
			t.Errorf("outcome %s: counted as an attempt = %v", o, ok)
		}
	}
}
