package jobs

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/iact/iactq/jobs/internal/jobsdb"
)

// DashboardMetricsArgs are the args of dashboard_metrics: the IVR dashboard's numbers
// for a period, by hour or day (also "today" as a period).
type DashboardMetricsArgs struct {
	ReportScope
}

// Kind implements queue.Args.
func (DashboardMetricsArgs) Kind() string { return "dashboard_metrics" }

// callRow is one call as the reports read it.
type callRow struct {
	startedAt     time.Time
	outcome       jobsdb.IvrCallsOutcome
	waitSeconds   int32
	handleSeconds int32
}

// queued tells whether the call waited for an agent (answered or abandoned).
func (c callRow) queued() bool {
	return c.outcome == jobsdb.IvrCallsOutcomeAnswered || c.outcome == jobsdb.IvrCallsOutcomeAbandoned
}

// loadCalls reads the calls started in [from, to), of one flow or all: one range scan
// of a covering index.
func loadCalls(ctx context.Context, q *jobsdb.Queries, flowID string, from, to time.Time) ([]callRow, error) {
	var calls []callRow
	if flowID == "" {
		rows, err := q.CallsInPeriod(ctx, jobsdb.CallsInPeriodParams{FromTime: from, ToTime: to})
		if err != nil {
			return nil, fmt.Errorf("read calls: %w", err)
		}
		calls = make([]callRow, len(rows))
		for i, r := range rows {
			calls[i] = callRow{r.StartedAt, r.Outcome, r.WaitSeconds, r.HandleSeconds}
		}
		return calls, nil
	}
	rows, err := q.FlowCallsInPeriod(ctx, jobsdb.FlowCallsInPeriodParams{FlowID: flowID, FromTime: from, ToTime: to})
	if err != nil {
		return nil, fmt.Errorf("read calls of flow %s: %w", flowID, err)
	}
	calls = make([]callRow, len(rows))
	for i, r := range rows {
		calls[i] = callRow{r.StartedAt, r.Outcome, r.WaitSeconds, r.HandleSeconds}
	}
	return calls, nil
}

// percentile is the nearest-rank percentile p (0 < p ≤ 100) of values: the smallest
// value such that at least p% of values are less or equal, i.e. the
// ceil(p/100·n)-th smallest. nil when there are none. values is sorted in place.
func percentile(values []int32, p float64) any {
	if len(values) == 0 {
		return nil
	}
	slices.Sort(values)
	rank := int(math.Ceil(p / 100 * float64(len(values))))
	if rank < 1 {
		rank = 1
	}
	return float64(values[rank-1])
}

// dashStats accumulates the dashboard numbers of a set of calls.
type dashStats struct {
	calls, answered, abandoned, selfServed, dropped int
	waits                                           []int32 // of calls that queued for an agent
	waitSum, handleSum                              int64
}

func (s *dashStats) add(c callRow) {
	s.calls++
	switch c.outcome {
	case jobsdb.IvrCallsOutcomeAnswered:
		s.answered++
		s.handleSum += int64(c.handleSeconds)
	case jobsdb.IvrCallsOutcomeAbandoned:
		s.abandoned++
	case jobsdb.IvrCallsOutcomeSelfServed:
		s.selfServed++
	default:
		s.dropped++
	}
	if c.queued() {
		s.waits = append(s.waits, c.waitSeconds)
		s.waitSum += int64(c.waitSeconds)
	}
}

// values are the stats in the order of dashColumns (after the interval).
func (s *dashStats) values() []any {
	return []any{
		s.calls, s.answered, s.abandoned, s.selfServed, s.dropped,
		pct(s.abandoned, s.answered+s.abandoned),
		avg(s.waitSum, len(s.waits)), percentile(s.waits, 90),
		avg(s.handleSum, s.answered),
	}
}

var dashColumns = []string{"calls", "answered", "abandoned", "self_served", "dropped",
	"abandon_rate_pct", "avg_wait_s", "p90_wait_s", "avg_handle_s"}

func buildDashboard(ctx context.Context, env reportEnv, a DashboardMetricsArgs) (*ReportResult, error) {
	p, b, calls, err := a.load(ctx, env)
	if err != nil {
		return nil, err
	}
	starts := b.buckets(p)
	per := make([]dashStats, len(starts))
	var total dashStats
	for _, c := range calls {
		per[bucketIndex(starts, c.startedAt)].add(c)
		total.add(c)
	}
	table := Table{Name: "intervals", Title: "By " + b.unit(), Columns: append([]string{b.unit()}, dashColumns...)}
	for i, st := range starts {
		table.Rows = append(table.Rows, append([]any{b.label(st)}, per[i].values()...))
	}
	tv := total.values()
	totals := make(Fields, len(dashColumns))
	for i, name := range dashColumns {
		totals[i] = Field{name, tv[i]}
	}
	scope := "all flows"
	if a.FlowID != "" {
		scope = "flow " + a.FlowID
	}
	summary := fmt.Sprintf("dashboard %s (%s): %s calls, %s answered, %s abandoned (%s), avg wait %s, p90 wait %s, avg handle %s",
		p.Label, scope, groupDigits(total.calls), groupDigits(total.answered), groupDigits(total.abandoned),
		fmtPct(tv[5]), secs(tv[6]), secs(tv[7]), secs(tv[8]))
	return &ReportResult{
		Title:       "IVR dashboard metrics",
		Period:      reportPeriod(p),
		Granularity: b.granularity,
		FlowID:      a.FlowID,
		Summary:     summary,
		Totals:      totals,
		Tables:      []Table{table},
		Notes: []string{
			"abandon_rate_pct = abandoned / (answered + abandoned): calls that queued for an agent.",
			"avg_wait_s and p90_wait_s are over calls that queued for an agent (answered or abandoned); p90 is the nearest-rank 90th percentile (the ceil(0.9·n)-th smallest wait).",
			"avg_handle_s is over answered calls.",
		},
	}, nil
}
