package report

import (
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/stsfleet/stsfleet/bench"
	"github.com/stsfleet/stsfleet/bench/load"
)

// page is the self-contained HTML report: inline CSS and SVG, no script,
// no external asset.
var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(v float64) float64 { return 100 * v },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>stsfleet bench {{.Rep.Kind}}:
{{printf "%.0f" .Rep.AchievedRate}} {{.Rep.Names.Unit}}/s</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:920px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#666}.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
tr:nth-child(even) td{background:#fafafa}
svg{width:100%;height:auto;background:#fff;border:1px solid #ddd}
svg .grid{stroke:#e6e6e6;stroke-width:1}svg text{font:11px system-ui,sans-serif;fill:#444}
svg .label{font-size:12px;fill:#222}svg .legend{font-size:12px}
.kv td{text-align:left}
</style></head><body>
<h1>stsfleet bench {{.Rep.Kind}}
{{if .Rep.Passed}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}</h1>
<div class="sub">{{.Rep.StartedAt.UTC.Format "2006-01-02 15:04:05 MST"}} · {{.Rep.Profile}} ·
{{.Rep.Machine}}</div>

<h2>Summary</h2>
<table class="kv">
<tr><td>achieved rate</td><td><b>{{printf "%.1f" .Rep.AchievedRate}} {{.Rep.Names.Unit}}/s</b>
(target peak {{printf "%.0f" .Rep.TargetRate}}/s)</td></tr>
{{if .Rep.Steps}}<tr><td>highest rate that held</td>
<td><b>{{printf "%.0f" .Rep.MaxRate}}/s</b></td></tr>{{end}}
{{with .Rep.Baseline}}<tr><td>broker alone</td><td>{{printf "%.0f" .MaxRate}} round trips/s
(pipeline share <b>{{printf "%.0f" (pct .Share)}}%</b> of its two-leg rate)</td></tr>{{end}}
{{range .Counts}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>{{end}}
</table>

<h2>Latency (ms, from the intended send time)</h2>
<table><tr><th>name</th><th>count</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th>
<th>p99.9</th><th>max</th></tr>
{{range .Latencies}}<tr><td>{{.Name}}</td><td>{{.P.Count}}</td><td>{{printf "%.2f" .P.Mean}}</td>
<td>{{printf "%.2f" .P.P50}}</td><td>{{printf "%.2f" .P.P90}}</td><td>{{printf "%.2f" .P.P99}}</td>
<td>{{printf "%.2f" .P.P999}}</td><td>{{printf "%.2f" .P.Max}}</td></tr>{{end}}
</table>

{{if .Rep.Thresholds}}<h2>Thresholds</h2>
<table><tr><th>threshold</th><th>got</th><th>result</th></tr>
{{range .Rep.Thresholds}}<tr><td>{{.Expr}}</td><td>{{if .Err}}{{.Err}}{{else}}{{.Got}}{{end}}</td>
<td>{{if .Pass}}<span class="pass">pass</span>{{else}}<span class="fail">fail</span>{{end}}
</td></tr>{{end}}
</table>{{end}}

{{if .Rep.Steps}}<h2>Find-max steps</h2>
<table><tr><th>target/s</th><th>achieved/s</th><th>p99 ms</th><th>held</th><th>broke</th></tr>
{{range .Rep.Steps}}<tr><td>{{printf "%.0f" .Target}}</td><td>{{printf "%.1f" .AchievedRate}}</td>
<td>{{printf "%.2f" .P99}}</td><td>{{.Held}}</td><td>{{range .Broke}}{{.}} {{end}}</td></tr>{{end}}
</table>{{end}}

<h2>Throughput over time</h2>
{{.Throughput}}
<h2>{{.Primary}} percentiles over time</h2>
{{.Percentiles}}
<h2>{{.Primary}} distribution</h2>
{{.Histogram}}
<h2>Outcomes</h2>
{{.Outcomes}}

<h2>Set-up</h2>
<table class="kv">{{range .Config}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>{{end}}</table>
</body></html>
`))

type pair struct {
	Name  string
	Value string
}

type latencyRow struct {
	Name string
	P    load.Percentiles
}

// WriteHTML writes the report as one self-contained HTML page with SVG
// charts: throughput, percentiles over time, the latency distribution and
// the outcome breakdown.
func WriteHTML(w io.Writer, rep *bench.Report) error {
	primary := rep.Names.Latencies[0]
	data := struct {
		Rep                                          *bench.Report
		Primary                                      string
		Counts, Config                               []pair
		Latencies                                    []latencyRow
		Throughput, Percentiles, Histogram, Outcomes template.HTML
	}{
		Rep: rep, Primary: primary,
		// The charts are built from numbers and escaped labels only.
		Throughput:  template.HTML(throughputChart(rep)),
		Percentiles: template.HTML(percentileChart(rep, primary)),
		Histogram:   template.HTML(histogramChart(rep, primary)),
		Outcomes:    template.HTML(outcomeChart(rep)),
	}
	for _, n := range rep.CountNames() {
		v, _ := rep.Count(n)
		data.Counts = append(data.Counts, pair{n, strconv.FormatInt(v, 10)})
	}
	for _, n := range rep.Names.Latencies {
		data.Latencies = append(data.Latencies, latencyRow{n, rep.Latencies[n]})
	}
	for _, k := range slices.Sorted(maps.Keys(rep.Config)) {
		data.Config = append(data.Config, pair{k, fmt.Sprint(rep.Config[k])})
	}
	if err := page.Execute(w, data); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

func throughputChart(rep *bench.Report) string {
	target := series{name: "target", color: "#7f7f7f", dashed: true}
	sent := series{name: "sent", color: palette[0]}
	done := series{name: "accepted", color: palette[2]}
	bad := series{name: "not accepted", color: palette[3]}
	for _, p := range rep.Series {
		x := float64(p.Second) + 0.5
		if !p.Drain {
			target.x, target.y = append(target.x, x), append(target.y, p.Target)
		}
		sent.x, sent.y = append(sent.x, x), append(sent.y, float64(p.Sent))
		done.x, done.y = append(done.x, x), append(done.y, float64(p.Accepted))
		bad.x = append(bad.x, x)
		bad.y = append(bad.y, float64(p.Rejected+p.Failed+p.TimedOut+p.Lost))
	}
	c := lineChart{title: "throughput per second", xLabel: "seconds", yLabel: "per second",
		series: []series{target, sent, done, bad}}
	return c.svg()
}

func percentileChart(rep *bench.Report, name string) string {
	ss := []series{{name: "p50", color: palette[0]}, {name: "p90", color: palette[1]},
		{name: "p99", color: palette[3]}, {name: "max", color: palette[4]}}
	for _, p := range rep.Series {
		q, ok := p.Latencies[name]
		if !ok {
			continue
		}
		x := float64(p.Second) + 0.5
		for i, v := range []float64{q.P50, q.P90, q.P99, q.Max} {
			ss[i].x, ss[i].y = append(ss[i].x, x), append(ss[i].y, v)
		}
	}
	c := lineChart{title: name + " percentiles per second", xLabel: "seconds",
		yLabel: "ms (log scale)", logY: true, series: ss}
	return c.svg()
}

func histogramChart(rep *bench.Report, name string) string {
	var bars []bar
	for _, b := range rep.Histograms[name] {
		bars = append(bars, bar{label: trimMS(b.FromMS), value: float64(b.Count),
			color: palette[0]})
	}
	return columnChart(name+" distribution", "ms (log scale, bar start)", "requests", bars)
}

func trimMS(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func outcomeChart(rep *bench.Report) string {
	bars := []bar{{rep.Names.States[load.Accepted], float64(rep.States[load.Accepted]),
		palette[2]}}
	for _, k := range sortedKeys(rep.RejectedBy) {
		bars = append(bars, bar{"rejected: " + k, float64(rep.RejectedBy[k]), palette[1]})
	}
	for _, k := range sortedKeys(rep.FailedBy) {
		bars = append(bars, bar{"failed: " + k, float64(rep.FailedBy[k]), palette[3]})
	}
	bars = append(bars,
		bar{rep.Names.States[load.TimedOut], float64(rep.States[load.TimedOut]), palette[4]},
		bar{rep.Names.States[load.Lost], float64(rep.States[load.Lost]), palette[7]})
	return rowChart("outcomes", bars)
}

func sortedKeys(m map[string]int64) []string { return slices.Sorted(maps.Keys(m)) }
