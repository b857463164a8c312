package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// The HTML report is one self-contained page: inline CSS and inline SVG
// charts, no script and no network, so it opens from a file anywhere.

// WriteHTML writes the report as a self-contained HTML page.
func (r *Report) WriteHTML(w io.Writer) error {
	var b strings.Builder
	esc := html.EscapeString
	b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>`)
	b.WriteString(esc(r.title()))
	b.WriteString(`</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:780px;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
svg{display:block;margin:.5em 0}svg text{font:11px system-ui,sans-serif;fill:#444}
.muted{color:#777}
</style></head><body>
`)
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p class=\"muted\">%s, %s/%s, %d CPUs, %s, started %s</p>\n", esc(r.title()),
		esc(r.Host.Hostname), esc(r.Host.OS), esc(r.Host.Arch), r.Host.CPUs, esc(r.Host.GoVersion), r.StartedAt.Format(time.RFC3339))
	table := func(rows []figure) {
		b.WriteString("<table>\n")
		for _, f := range rows {
			fmt.Fprintf(&b, "<tr><th>%s</th><td>%s</td></tr>\n", esc(f.name), esc(f.value))
		}
		b.WriteString("</table>\n")
	}
	if rows := r.figures(); len(rows) > 0 {
		table(rows)
	}
	if len(r.Series) > 0 {
		b.WriteString("<h2>Throughput over time</h2>\n")
		b.WriteString(r.throughputChart())
		b.WriteString("<h2>p99 latency per second</h2>\n")
		b.WriteString(r.p99Chart())
	}
	if len(r.LatencyCurve) > 0 {
		fmt.Fprintf(&b, "<h2>Latency by percentile (%s)</h2>\n", esc(r.LatencyKind))
		b.WriteString(r.percentileChart())
		l := r.LatencyUs
		b.WriteString("<table><tr><th>count</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>p99.99</th><th>max</th></tr>\n")
		fmt.Fprintf(&b, "<tr><td class=n>%d</td><td class=n>%.1f µs</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td></tr></table>\n",
			l.Count, l.Mean, fmtUs(l.P50), fmtUs(l.P90), fmtUs(l.P99), fmtUs(l.P999), fmtUs(l.P9999), fmtUs(l.Max))
	}
	if rows := r.ceilingFigures(); len(rows) > 0 {
		b.WriteString("<h2>Ceiling of this machine</h2>\n")
		table(rows)
	}
	if len(r.Notes) > 0 {
		b.WriteString("<h2>Notes</h2>\n<ul>\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "<li>%s</li>\n", esc(n))
		}
		b.WriteString("</ul>\n")
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

type xy struct{ x, y float64 }

type line struct {
	name, color string
	pts         []xy
}

type tick struct {
	at    float64
	label string
}

// chartSeries is the series the charts draw: without a last interval
// shorter than half a second, whose rate is noise (the JSON keeps it).
func (r *Report) chartSeries() []SeriesPoint {
	s := r.Series
	if n := len(s); n > 1 && s[n-1].T-s[n-2].T < 0.5 {
		s = s[:n-1]
	}
	return s
}

func (r *Report) throughputChart() string {
	var sent, acked, recv []xy
	for _, p := range r.chartSeries() {
		secs := r.intervalOf(p)
		sent = append(sent, xy{p.T, float64(p.Sent) / secs})
		acked = append(acked, xy{p.T, float64(p.Acked) / secs})
		recv = append(recv, xy{p.T, float64(p.Received) / secs})
	}
	var lines []line
	if r.Mode != ModeConsume {
		lines = append(lines, line{"sent/s", "#9aa", sent}, line{"acked/s", "#1f77b4", acked})
	}
	if r.Mode != ModeProduce {
		lines = append(lines, line{"received/s", "#d62728", recv})
	}
	return chart(lines, timeTicks(r.chartSeries()), "seconds", "messages per second", 0)
}

func (r *Report) p99Chart() string {
	s := r.chartSeries()
	top := int64(0)
	for _, p := range s {
		top = max(top, p.P99Us)
	}
	div, unit := latencyUnit(top)
	var p99, p50 []xy
	for _, p := range s {
		p99 = append(p99, xy{p.T, float64(p.P99Us) / div})
		p50 = append(p50, xy{p.T, float64(p.P50Us) / div})
	}
	return chart([]line{{"p50", "#2ca02c", p50}, {"p99", "#ff7f0e", p99}}, timeTicks(s), "seconds", unit, 0)
}

// latencyUnit picks ms for an axis that reaches 10 ms, µs below.
func latencyUnit(maxUs int64) (float64, string) {
	if maxUs >= 10_000 {
		return 1000, "ms"
	}
	return 1, "µs"
}

// intervalOf is the length in seconds of the interval a point ends.
func (r *Report) intervalOf(p SeriesPoint) float64 {
	prev := 0.0
	for _, q := range r.Series {
		if q.T >= p.T {
			break
		}
		prev = q.T
	}
	if d := p.T - prev; d > 0 {
		return d
	}
	return 1
}

// percentileChart plots latency against percentile on the "nines" axis
// (x = log10(100/(100-p))), as HdrHistogram's plotter does; the max is a
// label, since it sits at infinity.
func (r *Report) percentileChart() string {
	var pts []xy
	maxUs, top := int64(0), int64(0)
	for _, c := range r.LatencyCurve {
		if c.Percentile >= 100 {
			maxUs = c.Us
		} else {
			top = max(top, c.Us)
		}
	}
	div, unit := latencyUnit(top)
	for _, c := range r.LatencyCurve {
		if c.Percentile < 100 {
			pts = append(pts, xy{nines(c.Percentile), float64(c.Us) / div})
		}
	}
	var ticks []tick
	for i, label := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"} {
		ticks = append(ticks, tick{float64(i), label})
	}
	svg := chart([]line{{r.LatencyKind, "#1f77b4", pts}}, ticks, "percentile", unit, 5)
	return svg + fmt.Sprintf("<p class=\"muted\">max %s</p>\n", fmtUs(maxUs))
}

func nines(p float64) float64 {
	if p >= 100 {
		return 5
	}
	return math.Log10(100 / (100 - p))
}

// timeTicks are about six round ticks over the series' seconds.
func timeTicks(s []SeriesPoint) []tick {
	end := 1.0
	if len(s) > 0 {
		end = math.Max(s[len(s)-1].T, 1)
	}
	step := niceStep(end / 6)
	var t []tick
	for v := 0.0; v <= end+step/1000; v += step {
		t = append(t, tick{v, trimFloat(v)})
	}
	return t
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// shortNum prints an axis value: 1.5k, 2M.
func shortNum(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return trimFloat(v/1e9) + "G"
	case a >= 1e6:
		return trimFloat(v/1e6) + "M"
	case a >= 1e3:
		return trimFloat(v/1e3) + "k"
	}
	return trimFloat(v)
}

// chart draws lines on a 720x280 SVG with the given x ticks, a y axis from
// 0 to a round maximum, and a legend. xMax, when positive, fixes the x
// range; otherwise the last tick ends it.
func chart(lines []line, xticks []tick, xLabel, yLabel string, xMax float64) string {
	const (
		w, h                     = 720, 280
		left, right, top, bottom = 64, 32, 24, 40
		pw, ph                   = w - left - right, h - top - bottom
	)
	if xMax <= 0 && len(xticks) > 0 {
		xMax = xticks[len(xticks)-1].at
	}
	if xMax <= 0 {
		xMax = 1
	}
	yMax := 0.0
	for _, l := range lines {
		for _, p := range l.pts {
			yMax = math.Max(yMax, p.y)
		}
	}
	ystep := niceStep(math.Max(yMax, 1) / 5)
	yTop := math.Ceil(math.Max(yMax, 1)/ystep) * ystep
	X := func(x float64) float64 { return left + x/xMax*pw }
	Y := func(y float64) float64 { return top + ph - y/yTop*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fff" stroke="#bbb"/>`+"\n", left, top, pw, ph)
	for v := 0.0; v <= yTop+ystep/1000; v += ystep {
		y := Y(v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, left, y, left+pw, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, shortNum(v))
	}
	for _, t := range xticks {
		x := X(t.at)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`, x, top, x, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, top+ph+16, html.EscapeString(t.label))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", left+pw/2, h-6, html.EscapeString(xLabel))
	fmt.Fprintf(&b, `<text x="12" y="%d" text-anchor="middle" transform="rotate(-90 12 %d)">%s</text>`+"\n", top+ph/2, top+ph/2, html.EscapeString(yLabel))
	lx := left + 8
	for _, l := range lines {
		if len(l.pts) == 0 {
			continue
		}
		var pts strings.Builder
		for i, p := range l.pts {
			if i > 0 {
				pts.WriteByte(' ')
			}
			fmt.Fprintf(&pts, "%.1f,%.1f", X(p.x), Y(p.y))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`+"\n", l.color, pts.String())
		if len(l.pts) == 1 {
			p := l.pts[0]
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", X(p.x), Y(p.y), l.color)
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			lx, top+6, l.color, lx+14, top+15, html.EscapeString(l.name))
		lx += 24 + 7*len(l.name)
	}
	b.WriteString("</svg>\n")
	return b.String()
}
