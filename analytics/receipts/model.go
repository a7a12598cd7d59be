package receipts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"time"
)

// PurchaseModelVersion is the version of the purchase model JSON
// (docs/purchase-model.schema.json).
const PurchaseModelVersion = 1

// Methods of drawing an amount or an interval.
const (
	// MethodEmpirical draws from the observed distribution: the distinct
	// amounts with their weights, or interpolated interval quantiles.
	MethodEmpirical = "empirical"
	// MethodLogNormal draws from a log-normal fit.
	MethodLogNormal = "lognormal"
)

// ErrInvalidModel reports a purchase model that fails validation.
var ErrInvalidModel = errors.New("invalid purchase model")

// PurchaseModel describes how one customer buys prepaid tokens: how much,
// how often and at what time of day, fitted from accepted receipts of one
// currency. A fleet simulator draws from it with [PurchaseModel.Sample].
// A model is a plain value; its methods do not modify it and are safe for
// concurrent use (each goroutine with its own *rand.Rand).
type PurchaseModel struct {
	// Version is [PurchaseModelVersion].
	Version int `json:"version"`
	// Currency is the ISO 4217 code of every amount in the model.
	Currency string `json:"currency"`
	// Fitted says what the model was fitted from.
	Fitted FitInfo `json:"fitted"`
	// Amount is the distribution of the money paid per purchase.
	Amount AmountModel `json:"amount"`
	// Interval is the distribution of the time between two purchases of
	// the same meter.
	Interval IntervalModel `json:"interval"`
	// HourWeights are 24 non-negative weights, one per local hour of the
	// day from 00 to 23, for the time of a purchase; they sum to 1 in a
	// fitted model, and any positive sum is accepted.
	HourWeights []float64 `json:"hour_weights"`
}

// FitInfo records the data behind a model.
type FitInfo struct {
	// Purchases is the number of accepted receipts used.
	Purchases int `json:"purchases"`
	// Meters is the number of distinct meters among them.
	Meters int `json:"meters"`
	// Intervals is the number of purchase intervals observed.
	Intervals int `json:"intervals"`
	// First and Last bound the purchase times.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// AmountModel is the distribution of purchase amounts. Amounts are exact
// decimals written as strings ("50.00") in JSON.
type AmountModel struct {
	// Method is [MethodEmpirical] or [MethodLogNormal].
	Method string `json:"method"`
	// Values are the distinct amounts seen with their weights (shares of
	// purchases); required by the empirical method.
	Values []WeightedAmount `json:"values,omitempty"`
	// LogNormal fits the natural log of the amount; required by the
	// log-normal method.
	LogNormal *LogNormal `json:"lognormal,omitempty"`
	// Min and Max bound the amounts seen; log-normal draws are clamped to
	// them.
	Min Decimal `json:"min"`
	Max Decimal `json:"max"`
	// Step is the grain of the amounts seen (their greatest common
	// divisor); log-normal draws are rounded to a multiple of it.
	Step Decimal `json:"step"`
}

// WeightedAmount is one amount of an empirical distribution.
type WeightedAmount struct {
	Value  Decimal `json:"value"`
	Weight float64 `json:"weight"`
}

// LogNormal is a log-normal distribution: the log of the variable is normal
// with mean Mu and standard deviation Sigma.
type LogNormal struct {
	Mu    float64 `json:"mu"`
	Sigma float64 `json:"sigma"`
}

// IntervalModel is the distribution of the time between purchases.
type IntervalModel struct {
	// Method is [MethodEmpirical] or [MethodLogNormal].
	Method string `json:"method"`
	// QuantilesHours are interval quantiles in hours at equally spaced
	// probabilities from 0 (the shortest seen) to 1 (the longest);
	// required by the empirical method, which interpolates between them.
	QuantilesHours []float64 `json:"quantiles_hours,omitempty"`
	// LogNormal fits the natural log of the interval in hours; required by
	// the log-normal method.
	LogNormal *LogNormal `json:"lognormal,omitempty"`
	// MinHours and MaxHours bound the intervals seen; log-normal draws are
	// clamped to them.
	MinHours float64 `json:"min_hours"`
	MaxHours float64 `json:"max_hours"`
	// MeanHours is the mean interval seen, for reference.
	MeanHours float64 `json:"mean_hours"`
}

// Purchase is one draw from a model.
type Purchase struct {
	Amount   Decimal
	Interval time.Duration
	Hour     int
}

// Sample draws an amount, an interval and an hour, independently.
func (m *PurchaseModel) Sample(r *rand.Rand) Purchase {
	return Purchase{Amount: m.SampleAmount(r), Interval: m.SampleInterval(r),
		Hour: m.SampleHour(r)}
}

// SampleAmount draws the money paid for one purchase, in m.Currency.
func (m *PurchaseModel) SampleAmount(r *rand.Rand) Decimal {
	a := m.Amount
	if a.Method == MethodLogNormal && a.LogNormal != nil {
		x := math.Exp(a.LogNormal.Mu+a.LogNormal.Sigma*r.NormFloat64()) * 100
		// Clamp before converting, so that no draw overflows an int64.
		x = min(max(x, float64(a.Min.Hundredths())), float64(a.Max.Hundredths()))
		step := max(a.Step.Hundredths(), 1)
		h := int64(math.Round(x/float64(step))) * step
		return DecimalOf(min(max(h, a.Min.Hundredths()), a.Max.Hundredths()))
	}
	weights := make([]float64, len(a.Values))
	for i, v := range a.Values {
		weights[i] = v.Weight
	}
	return a.Values[pickWeighted(r, weights)].Value
}

// SampleInterval draws the time until the next purchase.
func (m *PurchaseModel) SampleInterval(r *rand.Rand) time.Duration {
	iv := m.Interval
	var hours float64
	if iv.Method == MethodLogNormal && iv.LogNormal != nil {
		hours = math.Exp(iv.LogNormal.Mu + iv.LogNormal.Sigma*r.NormFloat64())
		hours = min(max(hours, iv.MinHours), iv.MaxHours)
	} else {
		hours = interpolate(iv.QuantilesHours, r.Float64())
	}
	return time.Duration(hours * float64(time.Hour))
}

// SampleHour draws a local hour of the day, 0 to 23.
func (m *PurchaseModel) SampleHour(r *rand.Rand) int {
	return pickWeighted(r, m.HourWeights)
}

// NextPurchase returns the time of the purchase after one at last: the
// drawn interval picks the day, the hour weights the time of day (with a
// uniform minute). The result is always after last.
func (m *PurchaseModel) NextPurchase(r *rand.Rand, last time.Time) time.Time {
	t := last.Add(m.SampleInterval(r))
	next := time.Date(t.Year(), t.Month(), t.Day(), m.SampleHour(r), r.IntN(60), 0, 0,
		t.Location())
	for !next.After(last) {
		next = next.AddDate(0, 0, 1)
	}
	return next
}

// pickWeighted returns an index drawn with the given weights, whose sum
// must be positive.
func pickWeighted(r *rand.Rand, weights []float64) int {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	u := r.Float64() * total
	for i, w := range weights {
		if u < w {
			return i
		}
		u -= w
	}
	// Rounding can leave u just past the end: take the last positive one.
	for i := len(weights) - 1; i > 0; i-- {
		if weights[i] > 0 {
			return i
		}
	}
	return 0
}

// interpolate reads the quantile function given at equally spaced
// probabilities at probability u in [0, 1).
func interpolate(q []float64, u float64) float64 {
	if len(q) == 1 {
		return q[0]
	}
	pos := u * float64(len(q)-1)
	i := min(int(pos), len(q)-2)
	frac := pos - float64(i)
	return q[i] + frac*(q[i+1]-q[i])
}

// Validate checks that m can be sampled. Errors wrap [ErrInvalidModel].
func (m *PurchaseModel) Validate() error {
	if err := m.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidModel, err)
	}
	return nil
}

func (m *PurchaseModel) validate() error {
	if m.Version != PurchaseModelVersion {
		return fmt.Errorf("version %d, want %d", m.Version, PurchaseModelVersion)
	}
	if len(m.Currency) != 3 || !isUpper(m.Currency) {
		return fmt.Errorf("currency %q is not an ISO 4217 code", m.Currency)
	}
	if err := m.Amount.validate(); err != nil {
		return fmt.Errorf("amount: %w", err)
	}
	if err := m.Interval.validate(); err != nil {
		return fmt.Errorf("interval: %w", err)
	}
	if len(m.HourWeights) != 24 {
		return fmt.Errorf("hour_weights has %d entries, want 24", len(m.HourWeights))
	}
	if err := checkWeights(m.HourWeights); err != nil {
		return fmt.Errorf("hour_weights: %w", err)
	}
	return nil
}

func (a *AmountModel) validate() error {
	if !a.Min.Valid() || !a.Max.Valid() || a.Min.Hundredths() <= 0 ||
		a.Max.Hundredths() < a.Min.Hundredths() {
		return fmt.Errorf("min %q and max %q must be positive with min <= max", a.Min, a.Max)
	}
	switch a.Method {
	case MethodEmpirical:
		if len(a.Values) == 0 {
			return errors.New("empirical method needs values")
		}
		weights := make([]float64, len(a.Values))
		for i, v := range a.Values {
			if !v.Value.Valid() || v.Value.Hundredths() <= 0 {
				return fmt.Errorf("value %d is not a positive amount", i+1)
			}
			weights[i] = v.Weight
		}
		return checkWeights(weights)
	case MethodLogNormal:
		if !a.Step.Valid() || a.Step.Hundredths() <= 0 {
			return fmt.Errorf("step %q must be a positive amount", a.Step)
		}
		return a.LogNormal.validate()
	}
	return fmt.Errorf("method %q is not %q or %q", a.Method, MethodEmpirical, MethodLogNormal)
}

// maxIntervalHours keeps every interval within what a time.Duration holds.
const maxIntervalHours = 1e6

func (iv *IntervalModel) validate() error {
	if !(iv.MinHours >= 0 && iv.MinHours <= iv.MaxHours && iv.MaxHours <= maxIntervalHours) {
		return fmt.Errorf("min_hours %v and max_hours %v must satisfy 0 <= min <= max <= %v",
			iv.MinHours, iv.MaxHours, float64(maxIntervalHours))
	}
	switch iv.Method {
	case MethodEmpirical:
		if len(iv.QuantilesHours) < 2 {
			return errors.New("empirical method needs at least 2 quantiles")
		}
		prev := 0.0
		for i, q := range iv.QuantilesHours {
			if math.IsNaN(q) || q > maxIntervalHours || q < prev {
				return fmt.Errorf("quantile %d (%v) is not finite, non-negative and ascending",
					i+1, q)
			}
			prev = q
		}
		return nil
	case MethodLogNormal:
		return iv.LogNormal.validate()
	}
	return fmt.Errorf("method %q is not %q or %q", iv.Method, MethodEmpirical, MethodLogNormal)
}

func (ln *LogNormal) validate() error {
	if ln == nil {
		return errors.New("lognormal method needs lognormal parameters")
	}
	if math.IsNaN(ln.Mu) || math.IsInf(ln.Mu, 0) || math.IsNaN(ln.Sigma) ||
		math.IsInf(ln.Sigma, 0) || ln.Sigma < 0 {
		return fmt.Errorf("lognormal mu %v, sigma %v: want finite, sigma >= 0", ln.Mu, ln.Sigma)
	}
	return nil
}

func checkWeights(w []float64) error {
	total := 0.0
	for i, x := range w {
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
			return fmt.Errorf("weight %d (%v) is not finite and non-negative", i+1, x)
		}
		total += x
	}
	if total <= 0 {
		return errors.New("weights sum to zero")
	}
	return nil
}

func isUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// LoadPurchaseModel reads a model written by [PurchaseModel.WriteFile] and
// validates it. Unknown fields are an error, so a typo does not silently
// fall back to a default.
func LoadPurchaseModel(path string) (*PurchaseModel, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load purchase model: %w", err)
	}
	m, err := DecodePurchaseModel(data)
	if err != nil {
		return nil, fmt.Errorf("load purchase model %s: %w", path, err)
	}
	return m, nil
}

// DecodePurchaseModel parses and validates model JSON.
func DecodePurchaseModel(data []byte) (*PurchaseModel, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m PurchaseModel
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModel, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the model object", ErrInvalidModel)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// WriteFile writes m as indented JSON, atomically.
func (m *PurchaseModel) WriteFile(path string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write purchase model: %w", err)
	}
	f, err := CreateAtomic(path, 0o644)
	if err != nil {
		return fmt.Errorf("write purchase model: %w", err)
	}
	defer f.Abort()
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("write purchase model: %w", err)
	}
	return f.Commit()
}
