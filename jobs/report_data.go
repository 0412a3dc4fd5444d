package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/iact/iactq/jobs/internal/jobsdb"
	"github.com/iact/iactq/queue"
)

// What a report's data covers: the flows that have calls, and the span of the calls
// held, so that a request for a flow or a period without data is told so.

// ReportKinds are the kinds that read the IVR call data, in the order people see them.
var ReportKinds = []string{"dashboard_metrics", "call_flow_analysis", "abandonment_report", "call_volume_trend"}

// KnownFlows lists the IVR flows that have calls.
func KnownFlows(ctx context.Context, db *sql.DB) ([]string, error) {
	flows, err := jobsdb.New(db).FlowList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list flows: %w", err)
	}
	return flows, nil
}

// ErrUnknownFlow is returned by CheckFlows for a flow_id that has no calls.
var ErrUnknownFlow = errors.New("unknown flow")

// CheckFlows refuses report jobs whose flow_id names no flow of the call data,
// naming the known ones. Jobs of other kinds, and any job while no calls are loaded
// at all, pass.
func CheckFlows(ctx context.Context, db *sql.DB, ps ...queue.InsertParams) error {
	var known []string
	for _, p := range ps {
		if !slices.Contains(ReportKinds, p.Kind) {
			continue
		}
		flow, err := flowOf(p.Args)
		if err != nil || flow == "" {
			continue // bad args are the kind's validation's to report
		}
		if known == nil {
			if known, err = KnownFlows(ctx, db); err != nil {
				return err
			}
			if len(known) == 0 {
				return nil
			}
		}
		if !slices.Contains(known, flow) {
			return fmt.Errorf("%s: flow_id %q: %w; the known flows are %s", p.Kind, flow, ErrUnknownFlow, strings.Join(known, ", "))
		}
	}
	return nil
}

// flowOf reads the flow_id of a job's args (an Args value or raw JSON).
func flowOf(args any) (string, error) {
	var raw []byte
	switch a := args.(type) {
	case nil:
		return "", nil
	case json.RawMessage:
		raw = a
	case []byte:
		raw = a
	default:
		var err error
		if raw, err = json.Marshal(a); err != nil {
			return "", err
		}
	}
	var v struct {
		FlowID string `json:"flow_id"`
	}
	err := json.Unmarshal(raw, &v)
	return v.FlowID, err
}

// noDataNote says, when a report's period holds no calls (of its flow), what the data
// does cover: "no calls between A and B; the data covers C..D". Empty when there are
// calls.
func noDataNote(ctx context.Context, q *jobsdb.Queries, res *ReportResult, loc *time.Location) (string, error) {
	from, to := res.Period.From, res.Period.To
	var found bool
	if res.FlowID == "" {
		ok, err := q.CallsExistInPeriod(ctx, jobsdb.CallsExistInPeriodParams{FromTime: from, ToTime: to})
		if err != nil {
			return "", fmt.Errorf("look for calls: %w", err)
		}
		found = ok
	} else {
		n, err := q.FlowCallCount(ctx, jobsdb.FlowCallCountParams{FlowID: res.FlowID, FromTime: from, ToTime: to})
		if err != nil {
			return "", fmt.Errorf("look for calls: %w", err)
		}
		found = n > 0
	}
	if found {
		return "", nil
	}
	const layout = "2006-01-02 15:04"
	what := "no calls"
	if res.FlowID != "" {
		what = "no calls of flow " + res.FlowID
	}
	note := fmt.Sprintf("%s between %s and %s %s", what, from.In(loc).Format(layout), to.In(loc).Format(layout), loc)
	first, err := q.CallsFirst(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return note + "; no call data is loaded (iactq demo load)", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the first call: %w", err)
	}
	last, err := q.CallsLast(ctx)
	if err != nil {
		return "", fmt.Errorf("read the last call: %w", err)
	}
	return fmt.Sprintf("%s; the data covers %s..%s", note, first.In(loc).Format(layout), last.In(loc).Format(layout)), nil
}
