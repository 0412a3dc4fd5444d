package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// Charts are inline SVG drawn on the server: no chart library, nothing fetched.

// series is one line or bar set of a chart.
type series struct {
	name   string
	class  string // CSS class: its colour
	values []float64
}

// chart draws per-minute values over [from, from+n minutes) as stacked bars (bars
// true) or lines, with a y axis labelled by unit.
func chart(title string, from time.Time, n int, ss []series, bars bool, unit func(float64) string) template.HTML {
	labels := make([]string, n)
	for i := range labels {
		labels[i] = from.Add(time.Duration(i) * time.Minute).Format("15:04")
	}
	return labelledChart(title, labels, 15, ss, bars, unit)
}

// axisCharWidth is about the width of one character of an axis label (10px font).
const axisCharWidth = 6.5

// labelledChart draws one value per label (a time bucket, a node) as stacked bars or
// lines, writing every labelEvery-th label under the x axis (0: as many as fit).
func labelledChart(title string, labels []string, labelEvery int, ss []series, bars bool, unit func(float64) string) template.HTML {
	const w, h, left, right, top, bottom = 640.0, 180.0, 56.0, 8.0, 22.0, 22.0
	n := len(labels)
	if n == 0 {
		return ""
	}
	if labelEvery <= 0 {
		widest := 1
		for _, l := range labels {
			widest = max(widest, len(l))
		}
		fit := max(int((w-left-right)/(axisCharWidth*float64(widest)+8)), 1)
		labelEvery = (n + fit - 1) / fit
	}
	plotW, plotH := w-left-right, h-top-bottom
	maxV := 0.0
	for i := 0; i < n; i++ {
		stack := 0.0
		for _, s := range ss {
			if math.IsNaN(s.values[i]) {
				continue
			}
			if bars {
				stack += s.values[i]
			} else {
				stack = math.Max(stack, s.values[i])
			}
		}
		maxV = math.Max(maxV, stack)
	}
	maxV = niceCeil(maxV)
	if whole(ss) && maxV/4 != math.Floor(maxV/4) {
		maxV = math.Ceil(maxV/4) * 4 // counts: no "1.5 calls" on the axis
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text class="chart-title" x="%.0f" y="14">%s</text>`, left, template.HTMLEscapeString(title))
	for i := 0; i <= 4; i++ { // grid and y labels
		y := top + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, left, y, w-right, y)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, left-4, y+4, template.HTMLEscapeString(unit(maxV*float64(i)/4)))
	}
	for i := 0; i < n; i += max(labelEvery, 1) { // x labels
		x := left + plotW*float64(i)/float64(n)
		if x+axisCharWidth*float64(len(labels[i])) > w {
			break // it would be cut off at the chart's right edge
		}
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f">%s</text>`, x, h-6, template.HTMLEscapeString(labels[i]))
	}
	slot := plotW / float64(n)
	yOf := func(v float64) float64 { return top + plotH - plotH*v/maxV }
	if bars {
		for i := 0; i < n; i++ {
			base := 0.0
			for _, s := range ss {
				v := s.values[i]
				if v <= 0 {
					continue
				}
				fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s %s: %s</title></rect>`,
					s.class, left+slot*float64(i)+0.5, yOf(base+v), math.Max(slot-1, 1), yOf(base)-yOf(base+v),
					template.HTMLEscapeString(labels[i]), template.HTMLEscapeString(s.name), unit(v))
				base += v
			}
		}
	} else {
		for _, s := range ss {
			var pts []string
			for i := 0; i < n; i++ {
				if math.IsNaN(s.values[i]) {
					continue
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", left+slot*(float64(i)+0.5), yOf(s.values[i])))
			}
			if len(pts) > 0 {
				fmt.Fprintf(&b, `<polyline class="%s" fill="none" points="%s"/>`, s.class, strings.Join(pts, " "))
			}
		}
	}
	legendW := 0.0 // legend, right-aligned above the plot
	for _, s := range ss {
		legendW += 14 + 6.5*float64(len(s.name)) + 12
	}
	x := w - right - legendW
	for _, s := range ss {
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="5" width="10" height="10"/><text class="legend" x="%.1f" y="14">%s</text>`,
			s.class, x, x+14, template.HTMLEscapeString(s.name))
		x += 14 + 6.5*float64(len(s.name)) + 12
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every piece of text above is escaped or a number
}

// whole tells whether every value of the series is a whole number (counts).
func whole(ss []series) bool {
	for _, s := range ss {
		for _, v := range s.values {
			if !math.IsNaN(v) && v != math.Floor(v) {
				return false
			}
		}
	}
	return true
}

// niceCeil rounds v up to 1, 2, 4, 6 or 8 times a power of ten (at least 1), so that
// quarters of it are round too.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 4, 6, 8, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func countUnit(v float64) string {
	if v >= 1000 {
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v/1000), ".0") + "k"
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0")
}

func secondsUnit(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1:
		return fmt.Sprintf("%.0fms", v*1000)
	case v < 120:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0") + "s"
	case v < 7200:
		return fmt.Sprintf("%.0fm", v/60)
	}
	return fmt.Sprintf("%.1fh", v/3600)
}
