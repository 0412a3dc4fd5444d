package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// TestReportWithoutDataSaysSo: a period with no calls is said so in the stored
// report and in the requester's message, naming what the data covers, instead of
// zeros; a period with calls says nothing of the kind.
func TestReportWithoutDataSaysSo(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	insertCalls(t, db, reportFixture)
	c := reportClient(t, db, DefaultConfig())

	want := "no calls between 2026-10-01 00:00 and 2026-10-08 00:00 UTC; the data covers 2026-11-01 08:00..2026-11-03 00:00"
	for _, kind := range ReportKinds {
		job, r := runReport(t, c, db, kind, `{"period":"2026-10-01/2026-10-08"}`)
		if !strings.Contains(r.Result.NoData, strings.TrimPrefix(want, "no calls")) || !strings.Contains(r.Result.Summary, want[len("no calls"):]) {
			t.Errorf("%s: no_data %q, summary %q; want %q", kind, r.Result.NoData, r.Result.Summary, want)
		}
		if msg := message(t, db, "analyst", job.ID); !strings.Contains(msg, want[len("no calls"):]) {
			t.Errorf("%s: message %q does not say %q", kind, msg, want)
		}
	}
	_, r := runReport(t, c, db, "dashboard_metrics", `{"period":"2026-10-01/2026-10-08","flow_id":"support"}`)
	if !strings.HasPrefix(r.Result.NoData, "no calls of flow support between") {
		t.Errorf("flow report: no_data %q", r.Result.NoData)
	}
	_, r = runReport(t, c, db, "dashboard_metrics", `{"period":"2026-11-02/2026-11-03"}`)
	if r.Result.NoData != "" || strings.Contains(r.Result.Summary, "no calls") {
		t.Errorf("a period with calls: no_data %q, summary %q", r.Result.NoData, r.Result.Summary)
	}
}

// TestCheckFlowsNamesTheKnownFlows: a report for a flow without calls is refused
// with the list of known flows; known flows, other kinds and an empty call table pass.
func TestCheckFlowsNamesTheKnownFlows(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	ctx := context.Background()
	p := func(kind, args string) queue.InsertParams {
		return queue.InsertParams{Kind: kind, Args: json.RawMessage(args)}
	}
	if err := CheckFlows(ctx, db.DB, p("dashboard_metrics", `{"flow_id":"nosuch"}`)); err != nil {
		t.Errorf("no calls loaded: %v", err)
	}
	insertCalls(t, db, reportFixture)
	err := CheckFlows(ctx, db.DB, p("noop", `{}`), p("abandonment_report", `{"flow_id":"main"}`), p("call_flow_analysis", `{"flow_id":"mian"}`))
	if !errors.Is(err, ErrUnknownFlow) || !strings.Contains(err.Error(), `flow_id "mian"`) || !strings.Contains(err.Error(), "the known flows are main, support") {
		t.Errorf("unknown flow: %v", err)
	}
	if err := CheckFlows(ctx, db.DB, p("call_flow_analysis", `{"flow_id":"support"}`), p("dashboard_metrics", `{}`),
		queue.InsertParams{Kind: "abandonment_report", Args: AbandonmentReportArgs{ReportScope: ReportScope{FlowID: "main"}}}); err != nil {
		t.Errorf("known flows: %v", err)
	}
}
