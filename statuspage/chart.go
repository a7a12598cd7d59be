package statuspage

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// Chart geometry, in SVG user units; the page scales charts to its
// columns.
const (
	chartW, chartH = 600, 240
	padL, padR     = 60, 16
	padT, padB     = 34, 30
	barH, barGap   = 18, 6
)

// palette colours series in order; chosen to stay apart for the common
// colour blindnesses.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
	"#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// point is one value of a series at a time; NaN leaves a gap.
type point struct {
	t time.Time
	v float64
}

// series is one line of a line chart.
type series struct {
	name  string
	color string
	pts   []point
}

// bar is one bar of a bar chart.
type bar struct {
	label string
	value float64
	color string
}

// esc escapes text for SVG and HTML alike.
func esc(s string) string { return html.EscapeString(s) }

func svgOpen(b *strings.Builder, title string, h int) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %d %d" role="img" `+
		`xmlns="http://www.w3.org/2000/svg" aria-label="%s">`, chartW, h, esc(title))
	fmt.Fprintf(b, `<title>%s</title>`, esc(title))
	fmt.Fprintf(b, `<text class="ct" x="%d" y="20">%s</text>`, padL, esc(title))
}

// lineChart draws series over [from, to]. Where every value is missing it
// says so instead of drawing empty axes.
func lineChart(title, unit string, ss []series, from, to time.Time) template.HTML {
	var b strings.Builder
	svgOpen(&b, title, chartH)
	lo, hi, seen := 0.0, 0.0, false
	for _, s := range ss {
		for _, p := range s.pts {
			if !math.IsNaN(p.v) {
				lo, hi, seen = min(lo, p.v), max(hi, p.v), true
			}
		}
	}
	if !seen {
		fmt.Fprintf(&b, `<text class="empty" x="%d" y="%d">collecting samples…</text></svg>`,
			chartW/2, chartH/2)
		return template.HTML(b.String())
	}
	if to.Sub(from) <= 0 {
		from = to.Add(-time.Second)
	}
	step, top := niceAxis(hi)
	if top <= lo {
		top = lo + 1
	}
	plotW, plotH := float64(chartW-padL-padR), float64(chartH-padT-padB)
	x := func(t time.Time) float64 {
		return padL + plotW*t.Sub(from).Seconds()/to.Sub(from).Seconds()
	}
	y := func(v float64) float64 { return padT + plotH*(1-(v-lo)/(top-lo)) }

	for v := lo; v <= top+step/2; v += step {
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`,
			padL, chartW-padR, y(v), y(v))
		fmt.Fprintf(&b, `<text class="yl" x="%d" y="%.1f">%s</text>`, padL-6, y(v)+4,
			esc(compact(v)))
	}
	fmt.Fprintf(&b, `<text class="unit" x="%d" y="%d">%s</text>`, 4, padT-8, esc(unit))
	for i, anchor := range []string{"start", "middle", "middle", "end"} {
		t := from.Add(time.Duration(float64(to.Sub(from)) * float64(i) / 3))
		fmt.Fprintf(&b, `<text class="xl" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(t),
			chartH-10, anchor, t.Format("15:04:05"))
	}
	// The legend runs right to left from the right edge, each entry as
	// wide as its name.
	lx := chartW - padR
	for i := len(ss) - 1; i >= 0; i-- {
		lx -= legendW(ss[i].name)
		fmt.Fprintf(&b, `<rect x="%d" y="10" width="10" height="10" fill="%s"/>`, lx,
			ss[i].color)
		fmt.Fprintf(&b, `<text class="lg" x="%d" y="19">%s</text>`, lx+14, esc(ss[i].name))
	}
	for _, s := range ss {
		fmt.Fprintf(&b, `<path class="line" stroke="%s" d="%s"><title>%s</title></path>`,
			s.color, pathData(s.pts, x, y), esc(s.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// legendW is the width of a legend entry: swatch, name at about 7 units a
// character at the legend's font size, and a gap.
func legendW(name string) int { return 14 + 7*len(name) + 16 }

// pathData joins the points into an SVG path, lifting the pen over gaps.
func pathData(pts []point, x func(time.Time) float64, y func(float64) float64) string {
	var b strings.Builder
	pen := false
	for _, p := range pts {
		if math.IsNaN(p.v) {
			pen = false
			continue
		}
		cmd := "L"
		if !pen {
			cmd = "M"
		}
		fmt.Fprintf(&b, "%s%.1f %.1f ", cmd, x(p.t), y(p.v))
		pen = true
	}
	return strings.TrimSpace(b.String())
}

// barChart draws horizontal bars, longest scale first, with their values.
func barChart(title string, bars []bar) template.HTML {
	h := padT + len(bars)*(barH+barGap) + 10
	var b strings.Builder
	svgOpen(&b, title, h)
	hi := 0.0
	for _, br := range bars {
		hi = max(hi, br.value)
	}
	const labelW = 130
	plotW := float64(chartW - padL - labelW - padR - 60)
	for i, br := range bars {
		top := padT + i*(barH+barGap)
		w := 0.0
		if hi > 0 {
			w = plotW * br.value / hi
		}
		fmt.Fprintf(&b, `<text class="bl" x="%d" y="%d">%s</text>`, padL+labelW-6,
			top+barH-5, esc(br.label))
		fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="%.1f" height="%d" fill="%s">`+
			`<title>%s: %s</title></rect>`, padL+labelW, top, max(w, 1), barH, br.color,
			esc(br.label), esc(count(br.value)))
		fmt.Fprintf(&b, `<text class="bv" x="%.1f" y="%d">%s</text>`, float64(padL+labelW)+
			max(w, 1)+6, top+barH-5, esc(count(br.value)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceAxis returns a tick step of 1, 2 or 5 times a power of ten that
// covers hi in about four steps, and the top of the axis.
func niceAxis(hi float64) (step, top float64) {
	if hi <= 0 {
		return 1, 1
	}
	raw := hi / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return step, math.Ceil(hi/step) * step
}

// compact formats an axis value: 950, 1.2k, 3.4M.
func compact(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trim(v/1e9) + "G"
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

func trim(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// count formats a count with thousands separators: 12,345.
func count(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// decimal formats a quantity with places decimals and thousands
// separators: 1,234.5.
func decimal(v float64, places int) string {
	if math.IsNaN(v) {
		return "–"
	}
	s := strconv.FormatFloat(v, 'f', places, 64)
	whole, frac, _ := strings.Cut(s, ".")
	w, _ := strconv.ParseFloat(whole, 64)
	out := count(w)
	if strings.HasPrefix(whole, "-") && w == 0 {
		out = "-" + out
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}
