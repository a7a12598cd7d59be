package receipts

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// ErrNotEnoughData reports receipts too few to fit a model.
var ErrNotEnoughData = errors.New("not enough receipts")

// FitOptions tune [ModelFitter.Fit]. The zero value picks the defaults.
type FitOptions struct {
	// Currency selects the receipts to fit; "" picks the currency with the
	// most accepted receipts.
	Currency string
	// MaxValues is the most distinct amounts the empirical amount method
	// keeps; with more, the model uses the log-normal fit. 0 means 64.
	MaxValues int
	// Quantiles is the number of interval quantiles kept, at least 2.
	// 0 means 21 (every 5 %).
	Quantiles int
	// HourPrior is a pseudo-count added to every hour before the hour
	// weights are normalised, so that hours never seen keep a small
	// chance. 0 means none: unseen hours are never drawn.
	HourPrior float64
}

// ModelFitter gathers accepted receipts and fits a [PurchaseModel]. It keeps
// a count per distinct amount and one timestamp per dated receipt. It is not
// safe for concurrent use.
type ModelFitter struct {
	byCurrency map[string]*fitData
}

type fitData struct {
	purchases int
	amounts   map[int64]int
	// times holds the purchase times of each meter.
	times map[string][]time.Time
	hours [24]int
}

// NewModelFitter returns an empty fitter.
func NewModelFitter() *ModelFitter {
	return &ModelFitter{byCurrency: make(map[string]*fitData)}
}

// Add takes one receipt; rows that are not accepted, or have no amount,
// are ignored.
func (mf *ModelFitter) Add(r *Receipt) {
	if !r.Accepted() || !r.Amount.Valid() || r.Amount.Hundredths() <= 0 {
		return
	}
	d := mf.byCurrency[r.Currency]
	if d == nil {
		d = &fitData{amounts: make(map[int64]int), times: make(map[string][]time.Time)}
		mf.byCurrency[r.Currency] = d
	}
	d.purchases++
	d.amounts[r.Amount.Hundredths()]++
	if !r.Dated() {
		if _, ok := d.times[r.Meter]; !ok {
			d.times[r.Meter] = nil
		}
		return
	}
	d.times[r.Meter] = append(d.times[r.Meter], r.Time)
	d.hours[r.Time.Hour()]++
}

// Currencies returns the number of accepted receipts per currency.
func (mf *ModelFitter) Currencies() map[string]int {
	out := make(map[string]int, len(mf.byCurrency))
	for c, d := range mf.byCurrency {
		out[c] = d.purchases
	}
	return out
}

// Fit fits a model to the receipts of one currency. It needs at least two
// dated receipts of one meter, for the interval.
func (mf *ModelFitter) Fit(opt FitOptions) (*PurchaseModel, error) {
	opt = opt.withDefaults()
	currency := opt.Currency
	if currency == "" {
		currency = mf.mainCurrency()
	}
	d := mf.byCurrency[currency]
	if d == nil {
		return nil, fmt.Errorf("fit purchase model: %w in currency %q", ErrNotEnoughData,
			currency)
	}
	m := &PurchaseModel{Version: PurchaseModelVersion, Currency: currency}
	m.Amount = fitAmounts(d.amounts, opt.MaxValues)
	intervals := d.intervals()
	if len(intervals) == 0 {
		return nil, fmt.Errorf("fit purchase model: %w: need two dated %s purchases of one meter",
			ErrNotEnoughData, currency)
	}
	m.Interval = fitIntervals(intervals, opt.Quantiles)
	m.HourWeights = fitHours(d.hours, opt.HourPrior)
	m.Fitted = d.info(len(intervals))
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("fit purchase model: %w", err)
	}
	return m, nil
}

func (o FitOptions) withDefaults() FitOptions {
	if o.MaxValues <= 0 {
		o.MaxValues = 64
	}
	if o.Quantiles < 2 {
		o.Quantiles = 21
	}
	if o.HourPrior < 0 || math.IsNaN(o.HourPrior) {
		o.HourPrior = 0
	}
	return o
}

// mainCurrency returns the currency with the most receipts; ties go to
// the first in alphabetical order, so the choice is reproducible.
func (mf *ModelFitter) mainCurrency() string {
	best, n := "", -1
	for c, d := range mf.byCurrency {
		if d.purchases > n || d.purchases == n && c < best {
			best, n = c, d.purchases
		}
	}
	return best
}

func fitAmounts(counts map[int64]int, maxValues int) AmountModel {
	values := make([]int64, 0, len(counts))
	for v := range counts {
		values = append(values, v)
	}
	slices.Sort(values)
	total, sumLog, step := 0, 0.0, int64(0)
	for _, v := range values {
		n := counts[v]
		total += n
		sumLog += float64(n) * math.Log(float64(v)/100)
		step = gcd(step, v)
	}
	mu := sumLog / float64(total)
	varLog := 0.0
	for _, v := range values {
		dl := math.Log(float64(v)/100) - mu
		varLog += float64(counts[v]) * dl * dl
	}
	a := AmountModel{Method: MethodLogNormal, Min: DecimalOf(values[0]),
		Max: DecimalOf(values[len(values)-1]), Step: DecimalOf(step),
		LogNormal: &LogNormal{Mu: mu, Sigma: math.Sqrt(varLog / float64(total))}}
	if len(values) <= maxValues {
		a.Method = MethodEmpirical
		for _, v := range values {
			a.Values = append(a.Values, WeightedAmount{Value: DecimalOf(v),
				Weight: float64(counts[v]) / float64(total)})
		}
	}
	return a
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// intervals returns the positive gaps, in hours, between consecutive
// purchases of each meter.
func (d *fitData) intervals() []float64 {
	var out []float64
	for _, ts := range d.times {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		for i := 1; i < len(ts); i++ {
			if gap := ts[i].Sub(ts[i-1]); gap > 0 {
				out = append(out, gap.Hours())
			}
		}
	}
	slices.Sort(out)
	return out
}

func fitIntervals(sorted []float64, k int) IntervalModel {
	iv := IntervalModel{Method: MethodEmpirical, QuantilesHours: make([]float64, k)}
	for i := range k {
		iv.QuantilesHours[i] = quantile(sorted, float64(i)/float64(k-1))
	}
	sum, sumLog := 0.0, 0.0
	for _, h := range sorted {
		sum += h
		sumLog += math.Log(h)
	}
	n := float64(len(sorted))
	mu := sumLog / n
	varLog := 0.0
	for _, h := range sorted {
		varLog += (math.Log(h) - mu) * (math.Log(h) - mu)
	}
	iv.MeanHours = sum / n
	iv.MinHours, iv.MaxHours = sorted[0], sorted[len(sorted)-1]
	iv.LogNormal = &LogNormal{Mu: mu, Sigma: math.Sqrt(varLog / n)}
	return iv
}

// quantile returns the p-quantile of sorted data, interpolating between
// order statistics.
func quantile(sorted []float64, p float64) float64 {
	pos := p * float64(len(sorted)-1)
	i := int(pos)
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

func fitHours(counts [24]int, prior float64) []float64 {
	w := make([]float64, 24)
	total := 0.0
	for h, n := range counts {
		w[h] = float64(n) + prior
		total += w[h]
	}
	if total == 0 {
		// No dated receipt: every hour alike.
		for h := range w {
			w[h] = 1.0 / 24
		}
		return w
	}
	for h := range w {
		w[h] /= total
	}
	return w
}

func (d *fitData) info(intervals int) FitInfo {
	fi := FitInfo{Purchases: d.purchases, Meters: len(d.times), Intervals: intervals}
	for _, ts := range d.times {
		for _, t := range ts {
			if fi.First.IsZero() || t.Before(fi.First) {
				fi.First = t
			}
			if t.After(fi.Last) {
				fi.Last = t
			}
		}
	}
	return fi
}
