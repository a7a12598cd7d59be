package chart

import (
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// maxAmountBars is the most distinct amounts shown as bars of their own;
// with more, the amount chart is a histogram.
const maxAmountBars = 16

// unitsOverTime draws the cumulative kWh bought by each of the busiest
// meters.
func unitsOverTime(pts []point, maxMeters int) (*plot.Plot, error) {
	dated := byTime(pts)
	if len(dated) == 0 {
		return nil, fmt.Errorf("%w with a timestamp", ErrNoData)
	}
	p := newPlot("Energy bought over time", "", "kWh bought, cumulative")
	timeAxis(p, dated)
	meters := topMeters(dated, maxMeters)
	for i, meter := range meters {
		var xy plotter.XYs
		total := 0.0
		for _, pt := range dated {
			if pt.meter != meter {
				continue
			}
			total += pt.units
			xy = append(xy, plotter.XY{X: float64(pt.t.Unix()), Y: total})
		}
		line, points, err := lineAndPoints(xy, i)
		if err != nil {
			return nil, err
		}
		line.StepStyle = plotter.PostStep
		p.Add(line, points)
		p.Legend.Add(fmt.Sprintf("meter %s: %d purchases, %.1f kWh", meter, len(xy), total),
			line, points)
	}
	p.Y.Min = 0
	headroom(p, 1.1+0.07*float64(len(meters)))
	return p, nil
}

// spendPerMonth draws the money spent in each calendar month, empty months
// included so that gaps show.
func spendPerMonth(pts []point, currency string) (*plot.Plot, error) {
	dated := byTime(pts)
	if len(dated) == 0 {
		return nil, fmt.Errorf("%w with a timestamp", ErrNoData)
	}
	first, last := monthOf(dated[0].t), monthOf(dated[len(dated)-1].t)
	var months []time.Time
	for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
		months = append(months, m)
	}
	sums := make(plotter.Values, len(months))
	for _, pt := range dated {
		m := monthOf(pt.t)
		i := (m.Year()-first.Year())*12 + int(m.Month()-first.Month())
		sums[i] += pt.amount
	}
	total := 0.0
	for _, s := range sums {
		total += s
	}
	p := newPlot(fmt.Sprintf("Spend per month (%s %s in total)", currency, formatMoney(total)),
		"", currency)
	width := max(vg.Points(2), vg.Points(440)/vg.Length(len(months)))
	bars, err := plotter.NewBarChart(sums, width)
	if err != nil {
		return nil, err
	}
	bars.Color = colour(0)
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(monthLabels(months)...)
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	headroom(p, 1.08)
	return p, nil
}

func monthOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// monthLabels names months "May 2023", leaving out labels so that at most
// about 16 show.
func monthLabels(months []time.Time) []string {
	every := max(1, (len(months)+15)/16)
	labels := make([]string, len(months))
	for i, m := range months {
		if i%every == 0 {
			labels[i] = m.Format("Jan 2006")
		}
	}
	return labels
}

// amountDistribution draws how often each amount is bought.
func amountDistribution(pts []point, currency string) (*plot.Plot, error) {
	counts := make(map[int64]int)
	for _, pt := range pts {
		counts[int64(math.Round(pt.amount*100))]++
	}
	title := fmt.Sprintf("How much is paid per purchase (%d purchases)", len(pts))
	p := newPlot(title, "amount per purchase, "+currency, "purchases")
	if len(counts) > maxAmountBars {
		values := make(plotter.Values, len(pts))
		for i, pt := range pts {
			values[i] = pt.amount
		}
		h, err := plotter.NewHist(values, 20)
		if err != nil {
			return nil, err
		}
		h.FillColor = colour(0)
		p.Add(h)
		return p, nil
	}
	amounts := make([]int64, 0, len(counts))
	for a := range counts {
		amounts = append(amounts, a)
	}
	slices.Sort(amounts)
	values := make(plotter.Values, len(amounts))
	labels := make([]string, len(amounts))
	for i, a := range amounts {
		values[i] = float64(counts[a])
		labels[i] = formatMoney(float64(a) / 100)
	}
	bars, err := plotter.NewBarChart(values, vg.Points(28))
	if err != nil {
		return nil, err
	}
	bars.Color = colour(0)
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(labels...)
	p.Y.Tick.Marker = integerTicks{}
	headroom(p, 1.08)
	return p, nil
}

// pricePerKWh draws what a kWh cost: all money paid, and the energy part
// alone where the receipt says it (TknAmt).
func pricePerKWh(pts []point, currency string) (*plot.Plot, error) {
	dated := filter(byTime(pts), func(p point) bool { return p.units > 0 })
	if len(dated) == 0 {
		return nil, fmt.Errorf("%w with a timestamp and units", ErrNoData)
	}
	p := newPlot("Effective price per kWh", "", currency+" per kWh")
	timeAxis(p, dated)
	var allIn, energy plotter.XYs
	for _, pt := range dated {
		x := float64(pt.t.Unix())
		allIn = append(allIn, plotter.XY{X: x, Y: pt.amount / pt.units})
		if pt.hasToken {
			energy = append(energy, plotter.XY{X: x, Y: pt.tokenAmt / pt.units})
		}
	}
	series := []struct {
		name string
		xy   plotter.XYs
	}{
		{"all money paid (Amt / Units)", allIn},
		{"energy part only (TknAmt / Units)", energy},
	}
	for i, s := range series {
		if len(s.xy) == 0 {
			continue
		}
		line, points, err := lineAndPoints(s.xy, i)
		if err != nil {
			return nil, err
		}
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
	}
	p.Y.Min = 0
	headroom(p, 1.3)
	return p, nil
}

func lineAndPoints(xy plotter.XYs, i int) (*plotter.Line, *plotter.Scatter, error) {
	line, err := plotter.NewLine(xy)
	if err != nil {
		return nil, nil, err
	}
	line.Color = colour(i)
	line.Width = vg.Points(1.5)
	points, err := plotter.NewScatter(xy)
	if err != nil {
		return nil, nil, err
	}
	points.Color = colour(i)
	points.Shape = draw.CircleGlyph{}
	points.Radius = vg.Points(2.5)
	return line, points, nil
}

// integerTicks marks whole numbers only, for counts.
type integerTicks struct{}

// Ticks returns ticks at whole numbers from min to max, thinned to about
// eight.
func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := max(1, math.Ceil((hi-lo)/8))
	var ticks []plot.Tick
	for v := math.Ceil(lo); v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f", v)})
	}
	return ticks
}
