package receipts

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var decimalComparer = cmp.Comparer(func(a, b Decimal) bool { return a == b })

// fixtureModel fits the fixture and returns the model and its rows.
func fixtureModel(t *testing.T, opt FitOptions) (*PurchaseModel, []Receipt) {
	t.Helper()
	rows, _ := importFile(t, "testdata/sample.txt")
	mf := NewModelFitter()
	for i := range rows {
		mf.Add(&rows[i])
	}
	m, err := mf.Fit(opt)
	if err != nil {
		t.Fatal(err)
	}
	return m, rows
}

func TestFitFixture(t *testing.T) {
	m, rows := fixtureModel(t, FitOptions{})
	counts := map[string]int{}
	times := map[string][]time.Time{}
	var hours [24]int
	n := 0
	for _, r := range rows {
		if !r.Accepted() || r.Currency != m.Currency {
			continue
		}
		n++
		counts[r.Amount.String()]++
		if r.Dated() {
			times[r.Meter] = append(times[r.Meter], r.Time)
			hours[r.Time.Hour()]++
		}
	}
	if m.Fitted.Purchases != n {
		t.Errorf("fitted %d purchases, want %d", m.Fitted.Purchases, n)
	}
	for _, v := range m.Amount.Values {
		want := float64(counts[v.Value.String()]) / float64(n)
		if math.Abs(v.Weight-want) > 1e-12 {
			t.Errorf("weight of %s is %v, want %v", v.Value, v.Weight, want)
		}
		delete(counts, v.Value.String())
	}
	if len(counts) != 0 {
		t.Errorf("amounts missing from the model: %v", counts)
	}
	var gaps []float64
	for _, ts := range times {
		slices.SortFunc(ts, time.Time.Compare)
		for i := 1; i < len(ts); i++ {
			gaps = append(gaps, ts[i].Sub(ts[i-1]).Hours())
		}
	}
	q := m.Interval.QuantilesHours
	if q[0] != slices.Min(gaps) || q[len(q)-1] != slices.Max(gaps) {
		t.Errorf("quantiles run %v..%v, want the gaps' %v..%v", q[0], q[len(q)-1],
			slices.Min(gaps), slices.Max(gaps))
	}
	for h, w := range m.HourWeights {
		if (w > 0) != (hours[h] > 0) {
			t.Errorf("hour %d has weight %v but %d purchases", h, w, hours[h])
		}
	}
}

func TestFitHourPrior(t *testing.T) {
	m, _ := fixtureModel(t, FitOptions{HourPrior: 0.5})
	sum := 0.0
	for h, w := range m.HourWeights {
		if w <= 0 {
			t.Errorf("hour %d has weight %v with a prior", h, w)
		}
		sum += w
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("hour weights sum to %v", sum)
	}
}

func TestFitNotEnoughData(t *testing.T) {
	rows := importString(t, "Mtr:"+okMeter+" Token:"+okToken+kplcTail+"\n")
	mf := NewModelFitter()
	mf.Add(&rows[0])
	if _, err := mf.Fit(FitOptions{}); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("one purchase: got %v, want %v", err, ErrNotEnoughData)
	}
	if _, err := NewModelFitter().Fit(FitOptions{}); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("no purchase: got %v, want %v", err, ErrNotEnoughData)
	}
}

func TestModelRoundTrip(t *testing.T) {
	m, _ := fixtureModel(t, FitOptions{})
	path := filepath.Join(t.TempDir(), "model.json")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadPurchaseModel(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, back, decimalComparer); diff != "" {
		t.Errorf("model read back differs (-written +read):\n%s", diff)
	}
	again, _ := json.Marshal(back)
	first, _ := json.Marshal(m)
	if !bytes.Equal(first, again) {
		t.Errorf("JSON changed on a round trip:\n%s\n%s", first, again)
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	sch, err := jsonschema.NewCompiler().Compile("../../docs/purchase-model.schema.json")
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return sch
}

func TestModelMatchesSchema(t *testing.T) {
	sch := compileSchema(t)
	for _, opt := range []FitOptions{{}, {MaxValues: 1}} {
		m, _ := fixtureModel(t, opt)
		data, _ := json.Marshal(m)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(doc); err != nil {
			t.Errorf("%s model does not match the schema: %v", m.Amount.Method, err)
		}
	}
}

// modelMutations break a valid model document in ways both the schema and
// LoadPurchaseModel must refuse.
var modelMutations = []struct {
	name string
	edit func(doc map[string]any)
}{
	{"version 2", func(d map[string]any) { d["version"] = 2 }},
	{"lower-case currency", func(d map[string]any) { d["currency"] = "kes" }},
	{"23 hours", func(d map[string]any) { d["hour_weights"] = d["hour_weights"].([]any)[:23] }},
	{"negative hour weight", func(d map[string]any) { d["hour_weights"].([]any)[3] = -1.0 }},
	{"unknown field", func(d map[string]any) { d["colour"] = "blue" }},
	{"unknown method", func(d map[string]any) { sub(d, "amount")["method"] = "uniform" }},
	{"lognormal without parameters", func(d map[string]any) {
		sub(d, "interval")["method"] = "lognormal"
		delete(sub(d, "interval"), "lognormal")
	}},
	{"money as a number", func(d map[string]any) { sub(d, "amount")["min"] = 30 }},
	{"negative sigma", func(d map[string]any) {
		sub(sub(d, "amount"), "lognormal")["sigma"] = -1.0
		sub(d, "amount")["method"] = "lognormal"
	}},
}

func sub(d map[string]any, key string) map[string]any { return d[key].(map[string]any) }

func TestModelRejects(t *testing.T) {
	m, _ := fixtureModel(t, FitOptions{})
	sch := compileSchema(t)
	for _, mu := range modelMutations {
		t.Run(mu.name, func(t *testing.T) {
			data, _ := json.Marshal(m)
			var doc map[string]any
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			mu.edit(doc)
			data, _ = json.Marshal(doc)
			if _, err := DecodePurchaseModel(data); !errors.Is(err, ErrInvalidModel) {
				t.Errorf("DecodePurchaseModel: got %v, want %v", err, ErrInvalidModel)
			}
			inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(data))
			if err := sch.Validate(inst); err == nil {
				t.Error("schema accepts it")
			}
		})
	}
}

// TestModelChecksBeyondSchema covers what only Validate can see.
func TestModelChecksBeyondSchema(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *PurchaseModel)
	}{
		{"hours all zero", func(m *PurchaseModel) { m.HourWeights = make([]float64, 24) }},
		{"min above max", func(m *PurchaseModel) { m.Amount.Min = DecimalOf(m.Amount.Max.h + 1) }},
		{"descending quantiles", func(m *PurchaseModel) {
			q := m.Interval.QuantilesHours
			q[0], q[len(q)-1] = q[len(q)-1], q[0]
		}},
		{"NaN weight", func(m *PurchaseModel) { m.Amount.Values[0].Weight = math.NaN() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := fixtureModel(t, FitOptions{})
			tt.edit(m)
			if err := m.Validate(); !errors.Is(err, ErrInvalidModel) {
				t.Errorf("got %v, want %v", err, ErrInvalidModel)
			}
		})
	}
}

func TestLoadPurchaseModelErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadPurchaseModel(filepath.Join(dir, "missing.json")); !errors.Is(err,
		os.ErrNotExist) {
		t.Errorf("missing file: got %v", err)
	}
	path := filepath.Join(dir, "two.json")
	m, _ := fixtureModel(t, FitOptions{})
	data, _ := json.Marshal(m)
	if err := os.WriteFile(path, append(data, data...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPurchaseModel(path); !errors.Is(err, ErrInvalidModel) ||
		!strings.Contains(err.Error(), path) {
		t.Errorf("two objects: got %v, want %v naming the file", err, ErrInvalidModel)
	}
}

func TestSampleEmpirical(t *testing.T) {
	m, _ := fixtureModel(t, FitOptions{})
	r := rand.New(rand.NewPCG(7, 8))
	const draws = 40_000
	seen := map[Decimal]int{}
	q := m.Interval.QuantilesHours
	for range draws {
		p := m.Sample(r)
		seen[p.Amount]++
		if m.HourWeights[p.Hour] == 0 {
			t.Fatalf("drew hour %d of weight 0", p.Hour)
		}
		if h := p.Interval.Hours(); h < q[0]-1e-9 || h > q[len(q)-1]+1e-9 {
			t.Fatalf("interval %v h outside %v..%v", h, q[0], q[len(q)-1])
		}
	}
	for _, v := range m.Amount.Values {
		got := float64(seen[v.Value]) / draws
		if math.Abs(got-v.Weight) > 0.015 {
			t.Errorf("amount %s drawn %.3f of the time, weight %.3f", v.Value, got, v.Weight)
		}
		delete(seen, v.Value)
	}
	if len(seen) != 0 {
		t.Errorf("drew amounts not in the model: %v", seen)
	}
}

func TestSampleLogNormal(t *testing.T) {
	m, _ := fixtureModel(t, FitOptions{MaxValues: 1})
	if m.Amount.Method != MethodLogNormal {
		t.Fatalf("method %s, want %s", m.Amount.Method, MethodLogNormal)
	}
	m.Interval.Method = MethodLogNormal
	r := rand.New(rand.NewPCG(9, 10))
	last := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	for range 10_000 {
		a := m.SampleAmount(r)
		if a.h%m.Amount.Step.h != 0 && a != m.Amount.Min && a != m.Amount.Max ||
			a.h < m.Amount.Min.h || a.h > m.Amount.Max.h {
			t.Fatalf("amount %s not a multiple of %s within %s..%s", a, m.Amount.Step,
				m.Amount.Min, m.Amount.Max)
		}
		if iv := m.SampleInterval(r); iv <= 0 {
			t.Fatalf("interval %v", iv)
		}
		next := m.NextPurchase(r, last)
		if !next.After(last) || m.HourWeights[next.Hour()] == 0 {
			t.Fatalf("next purchase %v after %v at an hour of weight 0", next, last)
		}
		last = next
	}
}
