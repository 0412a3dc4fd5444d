package jobs

import (
	"context"
	"fmt"

	"github.com/iact/iactq/jobs/internal/jobsdb"
)

// AbandonmentReportArgs are the args of abandonment_report: abandoned calls for a
// period and a wait threshold, by hour or day.
type AbandonmentReportArgs struct {
	ReportScope
	// ThresholdSeconds: an abandoned call counts when the caller waited at least this
	// long for an agent; shorter ones are "short abandons" (misdials, callers who
	// changed their mind), left out of the rate. Default 30; 0 counts every one.
	ThresholdSeconds *int `json:"threshold_seconds,omitempty"`
}

// Kind implements queue.Args.
func (AbandonmentReportArgs) Kind() string { return "abandonment_report" }

// defaultAbandonThreshold is threshold_seconds when a job gives none.
const defaultAbandonThreshold = 30

// Validate implements queue.Validator.
func (a AbandonmentReportArgs) Validate() error {
	if err := a.ReportScope.Validate(); err != nil {
		return err
	}
	if a.ThresholdSeconds != nil && (*a.ThresholdSeconds < 0 || *a.ThresholdSeconds > 3600) {
		return fmt.Errorf("threshold_seconds %d is out of range 0..3600", *a.ThresholdSeconds)
	}
	return nil
}

func (a AbandonmentReportArgs) threshold() int {
	if a.ThresholdSeconds == nil {
		return defaultAbandonThreshold
	}
	return *a.ThresholdSeconds
}

// abandonStats counts one bucket's calls for the abandonment report.
type abandonStats struct {
	calls, answered, abandoned, short int
	abandonedWait                     int64 // sum of the counted abandoned calls' waits
}

func (s *abandonStats) add(c callRow, threshold int) {
	s.calls++
	switch c.outcome {
	case jobsdb.IvrCallsOutcomeAnswered:
		s.answered++
	case jobsdb.IvrCallsOutcomeAbandoned:
		if int(c.waitSeconds) >= threshold {
			s.abandoned++
			s.abandonedWait += int64(c.waitSeconds)
		} else {
			s.short++
		}
	}
}

// offered are the calls the rate is out of: answered plus counted abandoned.
func (s *abandonStats) offered() int { return s.answered + s.abandoned }

func (s *abandonStats) values() []any {
	return []any{s.calls, s.answered, s.abandoned, s.short, s.offered(),
		pct(s.abandoned, s.offered()), avg(s.abandonedWait, s.abandoned)}
}

var abandonColumns = []string{"calls", "answered", "abandoned", "short_abandoned", "offered", "abandon_rate_pct", "avg_abandoned_wait_s"}

func buildAbandonment(ctx context.Context, env reportEnv, a AbandonmentReportArgs) (*ReportResult, error) {
	p, b, calls, err := a.load(ctx, env)
	if err != nil {
		return nil, err
	}
	threshold := a.threshold()
	starts := b.buckets(p)
	per := make([]abandonStats, len(starts))
	var total abandonStats
	for _, c := range calls {
		per[bucketIndex(starts, c.startedAt)].add(c, threshold)
		total.add(c, threshold)
	}
	table := Table{Name: "intervals", Title: "Abandoned calls by " + b.unit(), Columns: append([]string{b.unit()}, abandonColumns...)}
	worst := -1
	for i, st := range starts {
		table.Rows = append(table.Rows, append([]any{b.label(st)}, per[i].values()...))
		// The worst bucket has the most counted abandoned calls; on a tie, the
		// higher rate, then the earlier.
		if per[i].abandoned > 0 && (worst < 0 || per[i].abandoned > per[worst].abandoned ||
			per[i].abandoned == per[worst].abandoned && per[i].abandoned*per[worst].offered() > per[worst].abandoned*per[i].offered()) {
			worst = i
		}
	}
	byWait := abandonedByWait(calls, threshold)
	tv := total.values()
	totals := Fields{{"threshold_seconds", threshold}}
	for i, name := range abandonColumns {
		totals = append(totals, Field{name, tv[i]})
	}
	worstText := "no abandoned calls"
	if worst >= 0 {
		w := &per[worst]
		totals = append(totals,
			Field{"worst_" + b.unit(), b.label(starts[worst])},
			Field{"worst_abandoned", w.abandoned},
			Field{"worst_rate_pct", pct(w.abandoned, w.offered())})
		worstText = fmt.Sprintf("worst %s %s (%s abandoned, %s)", b.unit(), b.label(starts[worst]),
			groupDigits(w.abandoned), fmtPct(pct(w.abandoned, w.offered())))
	} else {
		totals = append(totals, Field{"worst_" + b.unit(), nil}, Field{"worst_abandoned", 0}, Field{"worst_rate_pct", nil})
	}
	summary := fmt.Sprintf("abandonment %s %s (%s of %s calls offered to agents, waits ≥ %ds; %s short abandons left out), %s",
		p.Label, fmtPct(tv[5]), groupDigits(total.abandoned), groupDigits(total.offered()), threshold,
		groupDigits(total.short), worstText)
	return &ReportResult{
		Title:       "Abandoned calls",
		Period:      reportPeriod(p),
		Granularity: b.granularity,
		FlowID:      a.FlowID,
		Summary:     summary,
		Totals:      totals,
		Tables:      []Table{table, byWait},
		Notes: []string{
			fmt.Sprintf("abandoned: the caller hung up after waiting at least %d s (threshold_seconds) for an agent; short_abandoned: hung up sooner, left out of the rate.", threshold),
			"offered = answered + abandoned; abandon_rate_pct = abandoned / offered. Self-served and dropped calls never queued for an agent and count only in calls.",
			"The worst bucket has the most abandoned calls (ties: the higher rate, then the earlier).",
			"by_wait counts every abandoned call, short ones too, by how long the caller waited before hanging up: [from_s, to_s); counted says whether the band is in the rate (at or above threshold_seconds).",
		},
	}, nil
}

// waitBands are the edges, in seconds, of the abandoned-calls-by-wait table. Chosen
// from the demo's calls (a week: 25% of abandoned callers hung up within 10 s, 33%
// at 10-30 s, 23% at 30-60 s, 13% at 1-2 min, 5% at 2-5 min, almost none later):
// misdials, the default threshold, then the minutes callers give up in.
var waitBands = []int{10, 30, 60, 120, 300}

// waitEdges are waitBands with the threshold added, so that each band is wholly in
// or out of the rate.
func waitEdges(threshold int) []int {
	edges := []int{0}
	for _, e := range waitBands {
		if threshold > edges[len(edges)-1] && threshold < e {
			edges = append(edges, threshold)
		}
		edges = append(edges, e)
	}
	if threshold > edges[len(edges)-1] {
		edges = append(edges, threshold)
	}
	return edges
}

// waitLabel writes a wait in seconds as people say it: 45 s, 2 min, 1.5 min.
func waitLabel(s int) string {
	if s < 60 || s%30 != 0 {
		return fmt.Sprintf("%d s", s)
	}
	if s%60 == 0 {
		return fmt.Sprintf("%d min", s/60)
	}
	return fmt.Sprintf("%.1f min", float64(s)/60)
}

var byWaitColumns = []string{"wait", "from_s", "to_s", "abandoned", "share_pct", "cumulative_pct", "counted"}

// abandonedByWait is the by_wait table: every abandoned call of the period, short
// ones too, by how long its caller waited before hanging up.
func abandonedByWait(calls []callRow, threshold int) Table {
	edges := waitEdges(threshold)
	counts := make([]int, len(edges))
	all := 0
	for _, c := range calls {
		if c.outcome != jobsdb.IvrCallsOutcomeAbandoned {
			continue
		}
		all++
		i := len(edges) - 1
		for i > 0 && int(c.waitSeconds) < edges[i] {
			i--
		}
		counts[i]++
	}
	t := Table{Name: "by_wait", Title: "Abandoned calls by wait", Columns: byWaitColumns}
	cum := 0
	for i, from := range edges {
		label, to := waitLabel(from)+"+", any(nil)
		if i+1 < len(edges) {
			label, to = waitLabel(from)+" – "+waitLabel(edges[i+1]), edges[i+1]
			if from == 0 {
				label = "under " + waitLabel(edges[i+1])
			}
		}
		cum += counts[i]
		counted := "yes"
		if from < threshold {
			counted = "no (short)"
		}
		t.Rows = append(t.Rows, []any{label, from, to, counts[i], pct(counts[i], all), pct(cum, all), counted})
	}
	return t
}
