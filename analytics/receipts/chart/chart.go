// Package chart draws PNG charts of accepted receipts: energy bought over
// time, spend per month, the distribution of amounts and the effective
// price per kWh. It lives apart from package receipts so that programs
// which only need the receipt model do not link the plotting library.
//
// [Render] holds all the rows it is given and is safe for concurrent use
// with distinct output directories.
package chart

import (
	"cmp"
	"errors"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/stsfleet/stsfleet/analytics/receipts"
)

// ErrNoData reports rows with nothing to chart.
var ErrNoData = errors.New("no accepted receipts to chart")

// File names of the charts, in the order [Render] writes them.
const (
	UnitsFile  = "units_over_time.png"
	SpendFile  = "spend_per_month.png"
	AmountFile = "amount_distribution.png"
	PriceFile  = "price_per_kwh.png"
)

// Options tune [Render]. The zero value picks the defaults.
type Options struct {
	// Currency selects the receipts of the money charts; "" picks the
	// currency with the most accepted receipts.
	Currency string
	// MaxMeters is how many meters, those with the most purchases, get a
	// line in the energy chart. 0 means 4.
	MaxMeters int
	// Width and Height are the image size; 0 means 8 by 4.5 inches.
	Width, Height vg.Length
	// DPI is the resolution; 0 means 120.
	DPI int
}

func (o Options) withDefaults() Options {
	if o.MaxMeters <= 0 {
		o.MaxMeters = 4
	}
	if o.Width <= 0 {
		o.Width = 8 * vg.Inch
	}
	if o.Height <= 0 {
		o.Height = 4.5 * vg.Inch
	}
	if o.DPI <= 0 {
		o.DPI = 120
	}
	return o
}

// point is one accepted receipt reduced to what the charts use.
type point struct {
	t        time.Time
	dated    bool
	meter    string
	currency string
	units    float64
	amount   float64
	tokenAmt float64
	hasToken bool
}

// Render writes the four charts into dir and returns their paths. Rows
// that are not accepted are ignored; money charts use one currency. A chart
// that has no data (no dated receipt, say) is left out of the result.
func Render(rows []receipts.Receipt, dir string, opt Options) ([]string, error) {
	opt = opt.withDefaults()
	pts := collect(rows)
	if len(pts) == 0 {
		return nil, fmt.Errorf("render charts: %w", ErrNoData)
	}
	currency := opt.Currency
	if currency == "" {
		currency = mainCurrency(pts)
	}
	money := filter(pts, func(p point) bool { return p.currency == currency })
	if len(money) == 0 {
		return nil, fmt.Errorf("render charts: %w in %s", ErrNoData, currency)
	}
	plots := []struct {
		file  string
		build func() (*plot.Plot, error)
	}{
		{UnitsFile, func() (*plot.Plot, error) { return unitsOverTime(pts, opt.MaxMeters) }},
		{SpendFile, func() (*plot.Plot, error) { return spendPerMonth(money, currency) }},
		{AmountFile, func() (*plot.Plot, error) { return amountDistribution(money, currency) }},
		{PriceFile, func() (*plot.Plot, error) { return pricePerKWh(money, currency) }},
	}
	var paths []string
	for _, pl := range plots {
		p, err := pl.build()
		if errors.Is(err, ErrNoData) {
			continue
		}
		if err != nil {
			return paths, fmt.Errorf("render %s: %w", pl.file, err)
		}
		path := filepath.Join(dir, pl.file)
		if err := save(p, path, opt); err != nil {
			return paths, fmt.Errorf("render %s: %w", pl.file, err)
		}
		paths = append(paths, path)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("render charts: %w with a timestamp", ErrNoData)
	}
	return paths, nil
}

func collect(rows []receipts.Receipt) []point {
	var pts []point
	for i := range rows {
		r := &rows[i]
		if !r.Accepted() || !r.Amount.Valid() || !r.Units.Valid() {
			continue
		}
		pts = append(pts, point{t: r.Time, dated: r.Dated(),
			meter: r.Meter, currency: r.Currency, units: r.Units.Float64(),
			amount: r.Amount.Float64(), tokenAmt: r.TokenAmount.Float64(),
			hasToken: r.TokenAmount.Valid()})
	}
	return pts
}

func filter(pts []point, keep func(point) bool) []point {
	var out []point
	for _, p := range pts {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

func mainCurrency(pts []point) string {
	counts := make(map[string]int)
	for _, p := range pts {
		counts[p.currency]++
	}
	best := ""
	for c, n := range counts {
		if best == "" || n > counts[best] || n == counts[best] && c < best {
			best = c
		}
	}
	return best
}

func byTime(pts []point) []point {
	out := filter(pts, func(p point) bool { return p.dated })
	slices.SortStableFunc(out, func(a, b point) int { return a.t.Compare(b.t) })
	return out
}

// newPlot returns a plot with the house style.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(6), vg.Points(-6)
	return p
}

// timeAxis labels the X axis with months, or with days for a short span.
func timeAxis(p *plot.Plot, pts []point) {
	if pts[len(pts)-1].t.Sub(pts[0].t) < 60*24*time.Hour {
		p.X.Tick.Marker = plot.TimeTicks{Format: "2 Jan 2006"}
		return
	}
	p.X.Tick.Marker = monthTicks{}
}

// monthTicks puts labelled ticks on month starts, every 1, 2, 3, 6 or 12
// months so that at most about eight show, and small ticks on the months
// between. Values are Unix seconds.
type monthTicks struct{}

// Ticks returns the ticks between lo and hi.
func (monthTicks) Ticks(lo, hi float64) []plot.Tick {
	t0, t1 := time.Unix(int64(lo), 0).UTC(), time.Unix(int64(hi), 0).UTC()
	months := (t1.Year()-t0.Year())*12 + int(t1.Month()-t0.Month()) + 1
	step := 12 * ((months + 95) / 96)
	for _, s := range []int{1, 2, 3, 6} {
		if months/s <= 8 {
			step = s
			break
		}
	}
	var ticks []plot.Tick
	m := time.Date(t0.Year(), t0.Month(), 1, 0, 0, 0, 0, time.UTC)
	for ; !m.After(t1); m = m.AddDate(0, 1, 0) {
		if m.Before(t0) {
			continue
		}
		tick := plot.Tick{Value: float64(m.Unix())}
		if (m.Year()*12+int(m.Month())-1)%step == 0 {
			tick.Label = m.Format("Jan 2006")
		} else if step > 6 {
			continue
		}
		ticks = append(ticks, tick)
	}
	return ticks
}

// headroom raises the top of the Y axis so that the legend, drawn in the
// top left corner, does not cover the data.
func headroom(p *plot.Plot, factor float64) {
	p.Y.Max *= factor
}

// palette are colours that stay apart for readers with a colour deficit
// (Okabe-Ito).
var palette = []color.Color{
	color.RGBA{R: 0, G: 114, B: 178, A: 255},
	color.RGBA{R: 213, G: 94, B: 0, A: 255},
	color.RGBA{R: 0, G: 158, B: 115, A: 255},
	color.RGBA{R: 204, G: 121, B: 167, A: 255},
	color.RGBA{R: 230, G: 159, B: 0, A: 255},
	color.RGBA{R: 86, G: 180, B: 233, A: 255},
}

func colour(i int) color.Color { return palette[i%len(palette)] }

func save(p *plot.Plot, path string, opt Options) error {
	c := vgimg.NewWith(vgimg.UseWH(opt.Width, opt.Height), vgimg.UseDPI(opt.DPI),
		vgimg.UseBackgroundColor(color.White))
	p.Draw(draw.New(c))
	f, err := receipts.CreateAtomic(path, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		return err
	}
	return f.Commit()
}

// formatMoney prints an amount with thousands separators and no decimals
// when it is whole: "1,000", "52.50".
func formatMoney(v float64) string {
	cents := int64(math.Round(v * 100))
	whole := strconv.FormatInt(cents/100, 10)
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	if cents%100 == 0 {
		return whole
	}
	return fmt.Sprintf("%s.%02d", whole, cents%100)
}

// topMeters returns the meters with the most dated purchases, most first.
func topMeters(pts []point, n int) []string {
	counts := make(map[string]int)
	for _, p := range pts {
		counts[p.meter]++
	}
	meters := make([]string, 0, len(counts))
	for m := range counts {
		meters = append(meters, m)
	}
	slices.SortFunc(meters, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	return meters[:min(n, len(meters))]
}
