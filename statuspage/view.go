package statuspage

import (
	"cmp"
	_ "embed"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"
)

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

// view is what the template renders.
type view struct {
	Title string
	// Refresh is the reload period in seconds.
	Refresh int
	Updated string
	// Span describes the history the charts cover.
	Span      string
	Tiles     []tile
	Utilities []utilityRow
	Charts    []template.HTML
}

// tile is one headline figure.
type tile struct {
	Label, Value, Note string
	// Alert marks a figure that wants attention.
	Alert bool
}

// utilityRow is one line of the energy table.
type utilityRow struct {
	Name, Unit, Sold, Consumed, Remaining string
}

// outcomeColors colour the outcome bars: accepts green, replays and
// tampering in warm colours, the rest grey.
var outcomeColors = map[string]string{
	"accept": "#2ca02c", "kct_pending": "#98df8a", "used_error": "#d62728",
	"crc_error": "#ff7f0e", "old_error": "#e377c2", "format_error": "#8c564b",
	"function_error": "#bcbd22", "keypad_locked": "#9467bd",
}

// view lays out the page: tiles and table from now, the reading taken for
// this request, and charts from the history h.
func (p *Page) view(h []sample, now sample) view {
	last := now
	v := view{
		Title:   p.cfg.Title,
		Refresh: max(1, int(p.cfg.Refresh.Round(time.Second)/time.Second)),
		Updated: now.at.Format("2006-01-02 15:04:05 MST"),
		Span: strings.Join([]string{"charts: ", count(float64(len(h))), " samples over ",
			h[len(h)-1].at.Sub(h[0].at).Round(time.Second).String()}, ""),
		Tiles: tiles(h, now),
	}
	for i, u := range utilities {
		f := last.byUtility[i]
		if math.IsNaN(f.sold) && math.IsNaN(f.remaining) {
			continue
		}
		v.Utilities = append(v.Utilities, utilityRow{Name: u.name, Unit: u.unit,
			Sold: decimal(f.sold, 1), Consumed: decimal(f.consumed, 1),
			Remaining: decimal(f.remaining, 1)})
	}
	v.Charts = charts(h, now)
	return v
}

// tiles are the headline figures of now; rates come from the history h.
func tiles(h []sample, now sample) []tile {
	last := now
	var out []tile
	add := func(label string, value float64, note string, alert bool) {
		if !math.IsNaN(value) {
			out = append(out, tile{Label: label, Value: count(value), Note: note, Alert: alert})
		}
	}
	connected := ""
	if !math.IsNaN(last.connected) {
		connected = count(last.connected) + " connected"
	}
	add("Meters", last.meters, connected, last.connected < last.meters)
	add("Tokens vended", last.vends, perSecond(h, func(s sample) float64 { return s.vends }),
		false)
	add("Accepted", last.accepted, "first result accept", false)
	add("Rejected", last.rejected, "first result any other", last.rejected > 0)
	if q := quantile(last.vendToCredit, 0.99); !math.IsNaN(q) {
		out = append(out, tile{Label: "Vend to credit p99",
			Value: decimal(q*1000, 1) + " ms",
			Note:  "p50 " + decimal(quantile(last.vendToCredit, 0.5)*1000, 1) + " ms"})
	}
	e := last.byUtility[0]
	if !math.IsNaN(e.sold) {
		out = append(out, tile{Label: "Electricity sold", Value: quantity(e.sold) + " kWh",
			Note: quantity(e.remaining) + " kWh remaining"})
	}
	add("Meters without credit", last.noCredit, "supply cut", last.noCredit > 0)
	add("Revenue", last.revenue, "currency units", false)
	fraud := math.NaN()
	if last.fraud != nil {
		fraud = 0
		for _, n := range last.fraud {
			fraud += n
		}
	}
	add("Fraud attempts", fraud, "rejected keypad entries", fraud > 0)
	add("ACL refusals", last.refusals, "by the broker", last.refusals > 0)
	return out
}

// quantity formats a tile's quantity: one decimal below a thousand, none
// above, so that it fits its tile.
func quantity(v float64) string {
	if math.Abs(v) >= 1000 {
		return decimal(v, 0)
	}
	return decimal(v, 1)
}

// perSecond describes the rate of a counter over the last two samples.
func perSecond(h []sample, get func(sample) float64) string {
	r := rates(h, get)
	if len(r) == 0 || math.IsNaN(r[len(r)-1].v) {
		return ""
	}
	return decimal(r[len(r)-1].v, 1) + " per second now"
}

// rates turns a counter into per-second rates between neighbouring
// samples. A counter that goes back was reset: its new value is the
// increase, as in PromQL's rate.
func rates(h []sample, get func(sample) float64) []point {
	var out []point
	for i := 1; i < len(h); i++ {
		prev, cur := get(h[i-1]), get(h[i])
		dt := h[i].at.Sub(h[i-1].at).Seconds()
		d := cur - prev
		if d < 0 {
			d = cur
		}
		v := d / dt
		if dt <= 0 || math.IsNaN(d) {
			v = math.NaN()
		}
		out = append(out, point{t: h[i].at, v: v})
	}
	return out
}

func levels(h []sample, get func(sample) float64) []point {
	out := make([]point, len(h))
	for i, s := range h {
		out[i] = point{t: s.at, v: get(s)}
	}
	return out
}

// charts draws the time series of the history h and, from now, the bars
// of counts so far, so that they agree with the tiles.
func charts(h []sample, now sample) []template.HTML {
	from, to := h[0].at, h[len(h)-1].at
	last := now
	out := []template.HTML{lineChart("Vends per second", "/s", []series{
		{"tokens vended", palette[0], rates(h, func(s sample) float64 { return s.vends })},
		{"results rejected", palette[3], rates(h, func(s sample) float64 {
			_, rejected := split(s.results)
			return rejected
		})},
	}, from, to)}

	if !math.IsNaN(last.byUtility[0].sold) {
		elec := func(get func(figures) float64) []point {
			return levels(h, func(s sample) float64 { return get(s.byUtility[0]) })
		}
		out = append(out, lineChart("Electricity", "kWh", []series{
			{"sold", palette[0], elec(func(f figures) float64 { return f.sold })},
			{"consumed", palette[1], elec(func(f figures) float64 { return f.consumed })},
			{"remaining", palette[2], elec(func(f figures) float64 { return f.remaining })},
		}, from, to))
	}
	if last.results != nil {
		out = append(out, barChart("Token results by outcome", outcomeBars(last.results)))
	}
	if last.fraud != nil {
		var bars []bar
		for i, k := range sortedKeys(last.fraud) {
			bars = append(bars, bar{label: k, value: last.fraud[k],
				color: palette[(i+3)%len(palette)]})
		}
		out = append(out, barChart("Fraud attempts by kind", bars))
	}
	return out
}

// outcomeBars are the outcomes seen so far, most frequent first; accept is
// always shown, so that an idle fleet reads as a zero, not as nothing.
func outcomeBars(results map[string]float64) []bar {
	var bars []bar
	for _, o := range sortedKeys(results) {
		if results[o] == 0 && o != "accept" {
			continue
		}
		c, ok := outcomeColors[o]
		if !ok {
			c = palette[7]
		}
		bars = append(bars, bar{label: o, value: results[o], color: c})
	}
	slices.SortStableFunc(bars, func(a, b bar) int { return cmp.Compare(b.value, a.value) })
	return bars
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
