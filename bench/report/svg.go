package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 880, 300
	padL, padR     = 64, 16
	padT, padB     = 16, 44
)

// palette colours series in order; chosen to stay apart for common colour
// blindness.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
	"#e377c2", "#7f7f7f"}

// series is one line of a chart.
type series struct {
	name  string
	color string
	// dashed draws a dashed line, for targets.
	dashed bool
	x, y   []float64
}

// lineChart draws series over a shared x axis. A log y axis skips values
// at or below zero.
type lineChart struct {
	title, xLabel, yLabel string
	logY                  bool
	series                []series
}

func (c *lineChart) svg() string {
	xmax, ymin, ymax := 1.0, math.Inf(1), math.Inf(-1)
	for _, s := range c.series {
		for i := range s.x {
			if c.logY && s.y[i] <= 0 {
				continue
			}
			xmax = max(xmax, s.x[i])
			ymin, ymax = min(ymin, s.y[i]), max(ymax, s.y[i])
		}
	}
	if math.IsInf(ymin, 1) {
		ymin, ymax = 0, 1
	}
	y := newAxis(ymin, ymax, c.logY)
	var b strings.Builder
	open(&b, c.title)
	x := newAxis(0, xmax, false)
	c.grid(&b, x, y)
	for _, s := range c.series {
		var pts []string
		for i := range s.x {
			if c.logY && s.y[i] <= 0 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x.pos(s.x[i], padL, chartW-padR),
				y.pos(s.y[i], chartH-padB, padT)))
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8"%s points="%s"/>`,
			s.color, dash, strings.Join(pts, " "))
	}
	c.legend(&b)
	b.WriteString("</svg>")
	return b.String()
}

func (c *lineChart) grid(b *strings.Builder, x, y axis) {
	for _, t := range y.ticks() {
		py := y.pos(t, chartH-padB, padT)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, padL,
			chartW-padR, py, py)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>`,
			padL-6, py+4, esc(y.label(t)))
	}
	for _, t := range x.ticks() {
		px := x.pos(t, padL, chartW-padR)
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" class="grid"/>`, px, px,
			padT, chartH-padB)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" class="tick" text-anchor="middle">%s</text>`,
			px, chartH-padB+16, esc(x.label(t)))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" class="label" text-anchor="middle">%s</text>`,
		(padL+chartW-padR)/2, chartH-6, esc(c.xLabel))
	fmt.Fprintf(b, `<text x="14" y="%d" class="label" text-anchor="middle" `+
		`transform="rotate(-90 14 %d)">%s</text>`, (padT+chartH-padB)/2, (padT+chartH-padB)/2,
		esc(c.yLabel))
}

func (c *lineChart) legend(b *strings.Builder) {
	x := padL + 8
	for _, s := range c.series {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="4" fill="%s"/>`, x, padT+4,
			s.color)
		fmt.Fprintf(b, `<text x="%d" y="%d" class="legend">%s</text>`, x+16, padT+10,
			esc(s.name))
		x += 24 + 7*len(s.name)
	}
}

// bar is one bar of a bar chart.
type bar struct {
	label string
	value float64
	color string
}

// columnChart draws vertical bars side by side, such as a latency
// distribution.
func columnChart(title, xLabel, yLabel string, bars []bar) string {
	var b strings.Builder
	open(&b, title)
	ymax := 1.0
	for _, br := range bars {
		ymax = max(ymax, br.value)
	}
	y := newAxis(0, ymax, false)
	c := lineChart{xLabel: xLabel, yLabel: yLabel}
	c.grid(&b, axis{}, y)
	if len(bars) > 0 {
		w := float64(chartW-padL-padR) / float64(len(bars))
		step := max(1, len(bars)/8)
		for i, br := range bars {
			top := y.pos(br.value, chartH-padB, padT)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">`+
				`<title>%s: %s</title></rect>`, float64(padL)+w*float64(i)+1, top,
				max(w-2, 1), float64(chartH-padB)-top, br.color, esc(br.label),
				strconv.FormatFloat(br.value, 'f', -1, 64))
			if i%step == 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="tick" text-anchor="middle">%s`+
					`</text>`, float64(padL)+w*(float64(i)+0.5), chartH-padB+16, esc(br.label))
			}
		}
	}
	b.WriteString("</svg>")
	return b.String()
}

// rowChart draws horizontal bars, one per row, labelled with their values:
// an outcome breakdown.
func rowChart(title string, bars []bar) string {
	const rowH, labelW = 26, 220
	h := padT + rowH*len(bars) + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img">`+
		`<title>%s</title>`, chartW, h, esc(title))
	vmax := 1.0
	for _, br := range bars {
		vmax = max(vmax, br.value)
	}
	for i, br := range bars {
		y := padT + rowH*i
		w := float64(chartW-labelW-120) * br.value / vmax
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="tick" text-anchor="end">%s</text>`,
			labelW-8, y+16, esc(br.label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="18" fill="%s"/>`, labelW,
			y+3, max(w, 1), br.color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="tick">%s</text>`,
			float64(labelW)+max(w, 1)+6, y+16, strconv.FormatFloat(br.value, 'f', -1, 64))
	}
	b.WriteString("</svg>")
	return b.String()
}

func open(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img">`+
		`<title>%s</title>`, chartW, chartH, esc(title))
}

// axis maps values to positions, linearly or on a log scale.
type axis struct {
	lo, hi float64
	log    bool
}

func newAxis(lo, hi float64, log bool) axis {
	if log {
		lo = math.Pow(10, math.Floor(math.Log10(lo)))
		hi = math.Pow(10, math.Ceil(math.Log10(hi)))
		if hi <= lo {
			hi = lo * 10
		}
		return axis{lo: lo, hi: hi, log: true}
	}
	lo = min(lo, 0)
	if hi <= lo {
		hi = lo + 1
	}
	step := niceStep(hi - lo)
	return axis{lo: lo, hi: math.Ceil(hi/step) * step}
}

// pos maps v to a position between from and to.
func (a axis) pos(v, from, to float64) float64 {
	if a.hi == a.lo {
		return from
	}
	f := (v - a.lo) / (a.hi - a.lo)
	if a.log {
		f = (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	}
	return from + f*(to-from)
}

func (a axis) ticks() []float64 {
	if a.hi == a.lo {
		return nil
	}
	var out []float64
	if a.log {
		for d := a.lo; d <= a.hi*1.0001; d *= 10 {
			for _, m := range []float64{1, 2, 5} {
				if v := d * m; v <= a.hi*1.0001 {
					out = append(out, v)
				}
			}
		}
		return out
	}
	step := niceStep(a.hi - a.lo)
	for v := a.lo; v <= a.hi+step/1000; v += step {
		out = append(out, v)
	}
	return out
}

func (a axis) label(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	case v >= 1:
		return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// niceStep returns a round step that cuts span into about five parts.
func niceStep(span float64) float64 {
	raw := span / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

func esc(s string) string { return html.EscapeString(s) }
