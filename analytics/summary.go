package analytics

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Summary is an instance's totals, served as GET /v1/summary. Field names
// follow the fleet's end-of-run summary wherever the two overlap; the
// top-level energy fields are electricity's. Every figure covers the
// instance's partitions only: the totals of a deployment are the sum of its
// instances' ([Merge]).
type Summary struct {
	// Partitions is the instance's partition set, such as "0-15"; "" in
	// a merged summary of several instances.
	Partitions string `json:"partitions"`
	// Meters counts the meters seen on any channel.
	Meters int64 `json:"meters"`
	// TokensVended counts vend events, each token once.
	TokensVended int64 `json:"tokens_vended"`
	// TokensAccepted and TokensRejected count tokens by their first
	// result: accepted when it was accept or kct_pending.
	TokensAccepted int64 `json:"tokens_accepted"`
	TokensRejected int64 `json:"tokens_rejected"`
	// TokensPending counts vended tokens without a result yet.
	TokensPending int64 `json:"tokens_pending"`
	// EnergySoldKWh, EnergyConsumedKWh and CreditRemainingKWh repeat the
	// electricity figures of ByUtility.
	EnergySoldKWh      Amount `json:"energy_sold_kwh"`
	EnergyConsumedKWh  Amount `json:"energy_consumed_kwh"`
	CreditRemainingKWh Amount `json:"credit_remaining_kwh"`
	// ByUtility holds electricity, water and gas, always all three.
	ByUtility map[string]UtilitySummary `json:"by_utility"`
	// TelemetryAggregated counts readings applied (newer than the meter's
	// last), final ones included.
	TelemetryAggregated int64 `json:"telemetry_aggregated"`
	// FinalReadings counts final readings applied.
	FinalReadings int64 `json:"final_readings"`
	// MetersFinal counts meters whose latest reading is a final one: at
	// the end of a run, every meter's.
	MetersFinal int64 `json:"meters_final"`
	// StaleReadings counts readings ignored as duplicates or older than
	// the meter's last.
	StaleReadings int64 `json:"stale_readings"`
	// LatencyMS is vend-to-credit latency: from the vend event's issue
	// time to the meter's accepting result, in milliseconds.
	LatencyMS Percentiles `json:"latency_ms"`
	// TelemetryLagMS is from a reading's sent_at to its arrival here.
	TelemetryLagMS Percentiles `json:"telemetry_lag_ms"`
	// TokensByOutcome counts tokens by first result; ResultsByOutcome
	// counts every result message, redeliveries and keypad entries
	// included. Every outcome is present.
	TokensByOutcome  map[string]int64 `json:"tokens_by_outcome"`
	ResultsByOutcome map[string]int64 `json:"results_by_outcome"`
	// Revenue is keyed by currency code.
	Revenue map[string]Revenue `json:"revenue"`
	// SupplyCut counts meters whose latest reading shows the relay open
	// for no credit.
	SupplyCut int64 `json:"supply_cut"`
	// Anomalies counts readings whose meter consumed while its relay was
	// open (see the package documentation).
	Anomalies int64 `json:"anomalies"`
	// DuplicateMessages counts vend events and results seen again.
	DuplicateMessages int64 `json:"duplicate_messages"`
	// InvalidMessages counts messages that broke the contract.
	InvalidMessages int64 `json:"invalid_messages"`
	// SlowConsumerEvents counts NATS slow-consumer events: telemetry the
	// client dropped because it fell behind.
	SlowConsumerEvents int64 `json:"slow_consumer_events"`
}

// UtilitySummary is the totals of one utility, decimals in Unit.
type UtilitySummary struct {
	// Unit is kWh or m3.
	Unit string `json:"unit"`
	// Sold is the units of every vend event.
	Sold Amount `json:"sold"`
	// Credited, Consumed, Remaining and Cleared add up each meter's
	// latest cumulative reading.
	Credited  Amount `json:"credited"`
	Consumed  Amount `json:"consumed"`
	Remaining Amount `json:"remaining"`
	Cleared   Amount `json:"cleared"`
	// Meters counts meters whose latest reading is of this utility.
	Meters int64 `json:"meters"`
	// Vends counts vend events.
	Vends int64 `json:"vends"`
	// SupplyCut and Anomalies as in [Summary], for this utility.
	SupplyCut int64 `json:"supply_cut"`
	Anomalies int64 `json:"anomalies"`
}

// Revenue is what the vends in one currency brought in.
type Revenue struct {
	// Vends counts the vend events in this currency.
	Vends int64 `json:"vends"`
	// Amount is TokenAmount plus OtherCharges.
	Amount       Amount `json:"amount"`
	TokenAmount  Amount `json:"token_amount"`
	OtherCharges Amount `json:"other_charges"`
}

// Percentiles summarises a latency distribution in milliseconds. They do
// not add across instances: [Merge] leaves them zero, [Combine] computes
// them from the instances' distributions.
type Percentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
}

func percentiles(h *hdrhistogram.Histogram) Percentiles {
	ms := func(q float64) float64 {
		return float64(h.ValueAtQuantile(q)) / float64(time.Millisecond/time.Microsecond)
	}
	if h.TotalCount() == 0 {
		return Percentiles{}
	}
	return Percentiles{Count: h.TotalCount(), P50: ms(50), P90: ms(90), P99: ms(99)}
}

// summary returns the aggregator's totals; slow is the instance's
// slow-consumer count.
func (a *aggregator) summary(partitions string, slow int64) Summary {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Summary{
		Partitions:          partitions,
		Meters:              int64(len(a.meters)),
		TokensPending:       a.counts.Pending,
		ByUtility:           map[string]UtilitySummary{},
		TelemetryAggregated: a.counts.Readings,
		FinalReadings:       a.counts.Finals,
		StaleReadings:       a.counts.Stale,
		LatencyMS:           percentiles(a.latency),
		TelemetryLagMS:      percentiles(a.lag),
		TokensByOutcome:     map[string]int64{},
		ResultsByOutcome:    map[string]int64{},
		Revenue:             map[string]Revenue{},
		DuplicateMessages:   a.counts.Duplicates,
		SlowConsumerEvents:  slow,
	}
	for _, n := range a.counts.Invalid {
		s.InvalidMessages += n
	}
	for _, o := range sts.Outcomes() {
		s.TokensByOutcome[o.String()] = a.counts.Tokens[o]
		s.ResultsByOutcome[o.String()] = a.counts.Results[o]
		if o.Accepted() {
			s.TokensAccepted += a.counts.Tokens[o]
		} else {
			s.TokensRejected += a.counts.Tokens[o]
		}
	}
	for i, t := range a.totals {
		s.ByUtility[utilities[i]] = UtilitySummary{
			Unit: units[i], Sold: t.Sold, Credited: t.Credited, Consumed: t.Consumed,
			Remaining: t.Remaining, Cleared: t.Cleared, Meters: t.Meters, Vends: t.Vends,
			SupplyCut: t.SupplyCut, Anomalies: t.Anomalies,
		}
		s.TokensVended += t.Vends
		s.MetersFinal += t.Finals
		s.SupplyCut += t.SupplyCut
		s.Anomalies += t.Anomalies
	}
	for cur, byUtil := range a.revenue {
		var r Revenue
		for _, u := range byUtil {
			r = r.add(Revenue{u.Vends, u.Amount, u.TokenAmount, u.OtherCharges})
		}
		s.Revenue[cur] = r
	}
	s.fillElectricity()
	return s
}

func (s *Summary) fillElectricity() {
	e := s.ByUtility[utilities[0]]
	s.EnergySoldKWh, s.EnergyConsumedKWh, s.CreditRemainingKWh = e.Sold, e.Consumed, e.Remaining
}

func (r Revenue) add(o Revenue) Revenue {
	return Revenue{r.Vends + o.Vends, r.Amount + o.Amount, r.TokenAmount + o.TokenAmount,
		r.OtherCharges + o.OtherCharges}
}

func (u UtilitySummary) add(o UtilitySummary) UtilitySummary {
	u.Sold += o.Sold
	u.Credited += o.Credited
	u.Consumed += o.Consumed
	u.Remaining += o.Remaining
	u.Cleared += o.Cleared
	u.Meters += o.Meters
	u.Vends += o.Vends
	u.SupplyCut += o.SupplyCut
	u.Anomalies += o.Anomalies
	return u
}

// Merge adds the summaries of instances over disjoint partitions into the
// deployment's totals. Counts and decimals add exactly; percentiles cannot
// be added and are left zero apart from their counts (use [Combine] for
// in-process instances).
func Merge(sums ...Summary) Summary {
	out := Summary{
		ByUtility:        map[string]UtilitySummary{},
		TokensByOutcome:  map[string]int64{},
		ResultsByOutcome: map[string]int64{},
		Revenue:          map[string]Revenue{},
	}
	for i, u := range utilities {
		out.ByUtility[u] = UtilitySummary{Unit: units[i]}
	}
	for _, o := range sts.Outcomes() {
		out.TokensByOutcome[o.String()] = 0
		out.ResultsByOutcome[o.String()] = 0
	}
	for _, s := range sums {
		out.Meters += s.Meters
		out.TokensVended += s.TokensVended
		out.TokensAccepted += s.TokensAccepted
		out.TokensRejected += s.TokensRejected
		out.TokensPending += s.TokensPending
		out.TelemetryAggregated += s.TelemetryAggregated
		out.FinalReadings += s.FinalReadings
		out.MetersFinal += s.MetersFinal
		out.StaleReadings += s.StaleReadings
		out.LatencyMS.Count += s.LatencyMS.Count
		out.TelemetryLagMS.Count += s.TelemetryLagMS.Count
		out.SupplyCut += s.SupplyCut
		out.Anomalies += s.Anomalies
		out.DuplicateMessages += s.DuplicateMessages
		out.InvalidMessages += s.InvalidMessages
		out.SlowConsumerEvents += s.SlowConsumerEvents
		for k, u := range s.ByUtility {
			out.ByUtility[k] = out.ByUtility[k].add(u)
		}
		addCounts(out.TokensByOutcome, s.TokensByOutcome)
		addCounts(out.ResultsByOutcome, s.ResultsByOutcome)
		for cur, r := range s.Revenue {
			out.Revenue[cur] = out.Revenue[cur].add(r)
		}
	}
	out.fillElectricity()
	return out
}

func addCounts(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

// Combine merges the summaries of in-process services over disjoint
// partitions, like [Merge], and computes the percentiles from the
// services' joint distributions.
func Combine(svcs ...*Service) Summary {
	sums := make([]Summary, len(svcs))
	latency := hdrhistogram.New(1, histMax, histDigits)
	lag := hdrhistogram.New(1, histMax, histDigits)
	for i, s := range svcs {
		sums[i] = s.Summary()
		s.agg.mu.Lock()
		latency.Merge(s.agg.latency)
		lag.Merge(s.agg.lag)
		s.agg.mu.Unlock()
	}
	out := Merge(sums...)
	out.LatencyMS, out.TelemetryLagMS = percentiles(latency), percentiles(lag)
	return out
}
