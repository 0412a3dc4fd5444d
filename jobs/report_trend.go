package jobs

import (
	"context"
	"fmt"
	"math"
	"strconv"
)

// CallVolumeTrendArgs are the args of call_volume_trend: call volume over a period,
// against the previous period of the same length.
type CallVolumeTrendArgs struct {
	ReportScope
}

// Kind implements queue.Args.
func (CallVolumeTrendArgs) Kind() string { return "call_volume_trend" }

// slope is the least-squares slope of ys against their index 0, 1, 2, ...: the
// change in volume per bucket. 0 with fewer than two points.
func slope(ys []int) float64 {
	xs := make([]int, len(ys))
	for i := range xs {
		xs[i] = i
	}
	return slopeAt(xs, ys)
}

// slopeAt is the least-squares slope of ys against xs; 0 with fewer than two points.
func slopeAt(xs, ys []int) float64 {
	n := float64(len(ys))
	if len(ys) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i, y := range ys {
		x := float64(xs[i])
		sx += x
		sy += float64(y)
		sxx += x * x
		sxy += x * float64(y)
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

func buildVolumeTrend(ctx context.Context, env reportEnv, a CallVolumeTrendArgs) (*ReportResult, error) {
	p, b, err := env.resolve(a.Period, a.Granularity)
	if err != nil {
		return nil, err
	}
	length := p.To.Sub(p.From)
	prevFrom := p.From.Add(-length)
	if prevFrom.Before(minPeriodTime) {
		prevFrom = minPeriodTime
	}
	// One range scan covers both periods.
	calls, err := loadCalls(ctx, env.q, a.FlowID, prevFrom, p.To)
	if err != nil {
		return nil, err
	}
	starts := b.buckets(p)
	cur := make([]int, len(starts))
	prev := make([]int, len(starts)) // the previous period's calls, shifted by its length
	var total, prevTotal int
	for _, c := range calls {
		if c.startedAt.Before(p.From) {
			prev[bucketIndex(starts, c.startedAt.Add(length))]++
			prevTotal++
		} else {
			cur[bucketIndex(starts, c.startedAt)]++
			total++
		}
	}
	table := Table{Name: "intervals", Title: "Calls by " + b.unit() + ", against the previous period",
		Columns: []string{b.unit(), "calls", "previous_" + b.unit(), "previous_calls", "change_pct"}}
	for i, st := range starts {
		table.Rows = append(table.Rows, []any{b.label(st), cur[i], b.label(st.Add(-length)), prev[i], changePct(cur[i], prev[i])})
	}
	// The line is fitted to whole buckets only: a relative period ("last 7d") cuts
	// its first and last day short, which would read as a trend.
	var xs, ys []int
	for i, st := range starts {
		if !st.Before(p.From) && !b.next(st).After(p.To) {
			xs, ys = append(xs, i), append(ys, cur[i])
		}
	}
	if len(ys) < 2 {
		xs, ys = nil, cur
		for i := range cur {
			xs = append(xs, i)
		}
	}
	s := round2(slopeAt(xs, ys))
	mean := 0.0
	for _, y := range ys {
		mean += float64(y)
	}
	if len(ys) > 0 {
		mean /= float64(len(ys))
	}
	// The trend is flat when the fitted line moves less than 5% of the mean volume
	// over the whole period.
	direction := "flat"
	if drift := s * float64(len(cur)-1); mean > 0 && math.Abs(drift) >= 0.05*mean {
		direction = "rising"
		if s < 0 {
			direction = "falling"
		}
	}
	change := changePct(total, prevTotal)
	totals := Fields{
		{"calls", total},
		{"previous_calls", prevTotal},
		{"change_pct", change},
		{"previous_from", prevFrom},
		{"previous_to", p.From},
		{"mean_per_" + b.unit(), round1(mean)},
		{"slope_per_" + b.unit(), s},
		{"trend", direction},
	}
	changeText := "no calls in the previous period"
	if change != nil {
		changeText = fmt.Sprintf("%s%s vs the previous period (%s)", sign(change.(float64)), fmtPct(change), groupDigits(prevTotal))
	}
	summary := fmt.Sprintf("call volume %s: %s calls, %s; trend %s (%s calls/%s per %s)",
		p.Label, groupDigits(total), changeText, direction, signed(s), b.unit(), b.unit())
	return &ReportResult{
		Title:       "Call volume trend",
		Period:      reportPeriod(p),
		Granularity: b.granularity,
		FlowID:      a.FlowID,
		Summary:     summary,
		Totals:      totals,
		Tables:      []Table{table},
		Notes: []string{
			"The previous period has the same length and ends where this one starts; previous_calls of a row counts the calls of the bucket one period earlier.",
			"change_pct = (calls - previous_calls) / previous_calls; empty when the previous period had none.",
			"slope is the least-squares slope of calls per bucket against the bucket's position (calls per bucket, per bucket), fitted to the buckets wholly inside the period (all of them if fewer than two are); mean is over the same buckets. The trend is flat when the fitted line moves less than 5% of the mean over the period.",
			"With a relative period (\"last 7d\") the first and last buckets are cut short by the period's ends.",
		},
	}, nil
}

// changePct is the change from prev to cur in percent, or nil when prev is 0.
func changePct(cur, prev int) any {
	if prev == 0 {
		return nil
	}
	return round1(100 * float64(cur-prev) / float64(prev))
}

func sign(x float64) string {
	if x > 0 {
		return "+"
	}
	return ""
}

func signed(x float64) string {
	return sign(x) + strconv.FormatFloat(x, 'f', -1, 64)
}

// round2 rounds x to two decimals, never to -0.
func round2(x float64) float64 {
	r := math.Round(x*100) / 100
	if r == 0 {
		return 0
	}
	return r
}
