package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/jobs/internal/jobsdb"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// reportClient is a fast-polling client with every kind, over db.
func reportClient(t *testing.T, db *queuetest.DB, cfg Config) *queue.Client {
	t.Helper()
	c, err := queue.NewClient(db.DB, NewRegistry(Deps{DB: db.DB, Config: cfg}),
		queue.Config{PollInterval: 5 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fixtureCall is a hand-made call: start "2026-11-02 09:10", flow, outcome, wait,
// handle, and its nodes as "node:result".
type fixtureCall struct {
	start, flow, outcome string
	wait, handle         int
	nodes                []string
}

// insertCalls writes calls (times UTC) with their node events.
func insertCalls(t *testing.T, db *queuetest.DB, calls []fixtureCall) {
	t.Helper()
	for i, c := range calls {
		start, err := time.Parse("2006-01-02 15:04:05.999999", c.start)
		if err != nil {
			t.Fatal(err)
		}
		res := db.Exec(t, `INSERT INTO ivr_calls (call_ref, flow_id, caller_hash, started_at, ended_at, wait_seconds, handle_seconds, outcome)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, fmt.Sprintf("fixture-%d", i), c.flow, strings.Repeat("a", 64),
			start, start.Add(time.Duration(c.wait+c.handle+30)*time.Second), c.wait, c.handle, c.outcome)
		id, _ := res.LastInsertId()
		for k, n := range c.nodes {
			node, result, _ := strings.Cut(n, ":")
			db.Exec(t, `INSERT INTO ivr_call_events (call_id, seq, node, entered_at, result) VALUES (?, ?, ?, ?, ?)`,
				id, k+1, node, start.Add(time.Duration(k)*time.Second), result)
		}
	}
}

// The hand-computed fixture: Monday 2026-11-02 (UTC), nine calls in the period, three
// on the day before, one right after.
var reportFixture = []fixtureCall{
	{"2026-11-01 08:00:00", "main", "answered", 12, 100, nil},
	{"2026-11-01 12:00:00", "main", "answered", 12, 100, nil},
	{"2026-11-01 23:59:59.999999", "main", "abandoned", 50, 0, nil},
	// 09:00-10:00
	{"2026-11-02 09:00:00", "main", "answered", 10, 100, []string{"welcome:next", "language:next", "menu:next", "billing:next", "agent:completed"}},
	{"2026-11-02 09:15:00", "main", "answered", 20, 200, []string{"welcome:next", "language:next", "menu:next", "support:next", "agent:completed"}},
	{"2026-11-02 09:30:00", "main", "abandoned", 40, 0, []string{"welcome:next", "language:next", "menu:next", "billing:next", "agent:hangup"}},
	{"2026-11-02 09:45:00", "main", "abandoned", 5, 0, []string{"welcome:next", "language:next", "menu:next", "billing:next", "agent:hangup"}},
	{"2026-11-02 09:59:59.999999", "main", "self_served", 0, 0, []string{"welcome:next", "language:next", "menu:next", "billing:next", "payment_selfservice:completed"}},
	// 10:00-11:00
	{"2026-11-02 10:00:00", "support", "answered", 60, 300, nil},
	{"2026-11-02 10:20:00", "support", "abandoned", 90, 0, nil},
	{"2026-11-02 10:40:00", "main", "dropped", 0, 0, []string{"welcome:next", "language:next", "menu:hangup"}},
	// 23:00-24:00
	{"2026-11-02 23:59:59.999999", "main", "answered", 30, 60, []string{"welcome:next", "language:next", "menu:next", "menu:next", "sales:next", "agent:completed"}},
	// The end is exclusive.
	{"2026-11-03 00:00:00", "main", "answered", 1000, 1000, []string{"welcome:next", "agent:completed"}},
}

// runReport runs one report job for "analyst" and returns its job row and report.
func runReport(t *testing.T, c *queue.Client, db *queuetest.DB, kind string, args string) (*queue.JobRow, *Report) {
	t.Helper()
	job := queuetest.RunJobs(t, c, queue.InsertParams{Kind: kind, Args: json.RawMessage(args), Queue: "default", RequestedBy: "analyst"})[0]
	if job.State != queue.StateCompleted {
		t.Fatalf("%s %s: job %s, errors %s", kind, args, job.State, job.Errors)
	}
	r, err := GetReport(context.Background(), db.DB, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	return job, r
}

// message returns the body of the message about job to recipient.
func message(t *testing.T, db *queuetest.DB, recipient string, jobID int64) string {
	t.Helper()
	var body string
	if err := db.DB.QueryRow(`SELECT body FROM internal_messages WHERE recipient = ? AND job_id = ?`, recipient, jobID).Scan(&body); err != nil {
		t.Fatalf("message to %s about job %d: %v", recipient, jobID, err)
	}
	return body
}

// row finds the row of table whose first cell is key and formats its cells.
func row(t *testing.T, tbl *Table, key string) []string {
	t.Helper()
	for _, r := range tbl.Rows {
		if FormatValue(r[0]) == key {
			out := make([]string, len(r))
			for i, v := range r {
				out[i] = FormatValue(v)
			}
			return out
		}
	}
	t.Fatalf("table %s has no row %q", tbl.Name, key)
	return nil
}

func totals(r *Report) map[string]string {
	m := map[string]string{}
	for _, f := range r.Result.Totals {
		m[f.Name] = FormatValue(f.Value)
	}
	return m
}

// checkRows compares every row of tbl, formatted, with want.
func checkRows(t *testing.T, tbl *Table, want [][]string) {
	t.Helper()
	if tbl == nil {
		t.Fatal("no such table")
	}
	var got [][]string
	for _, r := range tbl.Rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = FormatValue(v)
		}
		got = append(got, cells)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("table %s:\n got %q\nwant %q", tbl.Name, got, want)
	}
}

func checkTotals(t *testing.T, r *Report, want map[string]string) {
	t.Helper()
	got := totals(r)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s totals[%s] = %q, want %q", r.Kind, k, got[k], v)
		}
	}
}

func TestDashboardMetricsFixture(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	insertCalls(t, db, reportFixture)
	c := reportClient(t, db, DefaultConfig())

	job, r := runReport(t, c, db, "dashboard_metrics", `{"period": "2026-11-02/2026-11-03"}`)
	// All flows: calls 4-12 of the fixture. Queued for an agent (answered or
	// abandoned): waits 10 20 40 5 60 90 30 → sorted 5 10 20 30 40 60 90, mean
	// 255/7 = 36.4, p90 = the ceil(6.3) = 7th = 90. Handle of the 4 answered:
	// (100+200+300+60)/4 = 165. Abandon rate 3/7 = 42.9%.
	checkTotals(t, r, map[string]string{
		"calls": "9", "answered": "4", "abandoned": "3", "self_served": "1", "dropped": "1",
		"abandon_rate_pct": "42.9", "avg_wait_s": "36.4", "p90_wait_s": "90", "avg_handle_s": "165",
	})
	tbl := r.Result.Table("intervals")
	if len(tbl.Rows) != 24 {
		t.Fatalf("%d hourly rows, want 24", len(tbl.Rows))
	}
	// 09:00: waits 10 20 40 5 → mean 18.75 → 18.8, p90 the 4th of 5 10 20 40 = 40.
	wantRows := map[string][]string{
		"2026-11-02 09:00": {"2026-11-02 09:00", "5", "2", "2", "1", "0", "50", "18.8", "40", "150"},
		"2026-11-02 10:00": {"2026-11-02 10:00", "3", "1", "1", "0", "1", "50", "75", "90", "300"},
		"2026-11-02 11:00": {"2026-11-02 11:00", "0", "0", "0", "0", "0", "", "", "", ""},
		"2026-11-02 23:00": {"2026-11-02 23:00", "1", "1", "0", "0", "0", "0", "30", "30", "60"},
	}
	for key, want := range wantRows {
		if got := row(t, tbl, key); !reflect.DeepEqual(got, want) {
			t.Errorf("row %s = %v, want %v", key, got, want)
		}
	}
	wantMsg := fmt.Sprintf("dashboard 2026-11-02/2026-11-03 (all flows): 9 calls, 4 answered, 3 abandoned (42.9%%), avg wait 36s, p90 wait 1m30s, avg handle 2m45s — iactq reports show %d", job.ID)
	if body := message(t, db, "analyst", job.ID); !strings.HasPrefix(body, wantMsg) {
		t.Errorf("message %q, want it to start with %q", body, wantMsg)
	}

	// One flow, by day: calls 4-8, 11, 12. Waits 10 20 40 5 30: mean 21, p90 the
	// ceil(4.5) = 5th = 40; handle (100+200+60)/3 = 120; rate 2/5 = 40%.
	_, r = runReport(t, c, db, "dashboard_metrics", `{"period": "2026-11-02/2026-11-03", "granularity": "day", "flow_id": "main"}`)
	checkTotals(t, r, map[string]string{
		"calls": "7", "answered": "3", "abandoned": "2", "self_served": "1", "dropped": "1",
		"abandon_rate_pct": "40", "avg_wait_s": "21", "p90_wait_s": "40", "avg_handle_s": "120",
	})
	if tbl := r.Result.Table("intervals"); len(tbl.Rows) != 1 || FormatValue(tbl.Rows[0][0]) != "2026-11-02" {
		t.Errorf("day rows %v, want one for 2026-11-02", tbl.Rows)
	}

	// Relative periods resolve against the clock: the fixture is long gone.
	_, r = runReport(t, c, db, "dashboard_metrics", `{}`)
	checkTotals(t, r, map[string]string{"calls": "0", "avg_wait_s": "", "p90_wait_s": ""})
	if r.Result.Period.Label != "last 24h" || r.Result.Granularity != "hour" {
		t.Errorf("defaults: period %q granularity %q", r.Result.Period.Label, r.Result.Granularity)
	}
}

func TestAbandonmentReportFixture(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	insertCalls(t, db, reportFixture)
	c := reportClient(t, db, DefaultConfig())

	// Threshold 30 (default): abandoned waits 40 and 90 count, 5 is a short abandon.
	// Offered = 4 answered + 2 = 6: rate 33.3%. 09:00 and 10:00 have one each; 10:00
	// has the higher rate (1 of 2 against 1 of 3), so it is the worst hour.
	job, r := runReport(t, c, db, "abandonment_report", `{"period": "2026-11-02/2026-11-03"}`)
	checkTotals(t, r, map[string]string{
		"threshold_seconds": "30", "calls": "9", "answered": "4", "abandoned": "2", "short_abandoned": "1",
		"offered": "6", "abandon_rate_pct": "33.3", "avg_abandoned_wait_s": "65",
		"worst_hour": "2026-11-02 10:00", "worst_abandoned": "1", "worst_rate_pct": "50",
	})
	tbl := r.Result.Table("intervals")
	if got, want := row(t, tbl, "2026-11-02 09:00"), []string{"2026-11-02 09:00", "5", "2", "1", "1", "3", "33.3", "40"}; !reflect.DeepEqual(got, want) {
		t.Errorf("09:00 = %v, want %v", got, want)
	}
	wantMsg := fmt.Sprintf("abandonment 2026-11-02/2026-11-03 33.3%% (2 of 6 calls offered to agents, waits ≥ 30s; 1 short abandons left out), worst hour 2026-11-02 10:00 (1 abandoned, 50.0%%) — iactq reports show %d", job.ID)
	if body := message(t, db, "analyst", job.ID); !strings.HasPrefix(body, wantMsg) {
		t.Errorf("message %q\nwant prefix      %q", body, wantMsg)
	}

	// By wait: the three abandoned calls (waits 5, 40 and 90 s), short ones too, each
	// band wholly in or out of the rate.
	checkRows(t, r.Result.Table("by_wait"), [][]string{
		{"under 10 s", "0", "10", "1", "33.3", "33.3", "no (short)"},
		{"10 s – 30 s", "10", "30", "0", "0", "33.3", "no (short)"},
		{"30 s – 1 min", "30", "60", "1", "33.3", "66.7", "yes"},
		{"1 min – 2 min", "60", "120", "1", "33.3", "100", "yes"},
		{"2 min – 5 min", "120", "300", "0", "0", "100", "yes"},
		{"5 min+", "300", "", "0", "0", "100", "yes"},
	})

	// Threshold 0: every abandoned call counts, 3 of 7 = 42.9%; 09:00 has two.
	_, r = runReport(t, c, db, "abandonment_report", `{"period": "2026-11-02/2026-11-03", "threshold_seconds": 0}`)
	checkTotals(t, r, map[string]string{"abandoned": "3", "short_abandoned": "0", "offered": "7", "abandon_rate_pct": "42.9",
		"worst_hour": "2026-11-02 09:00", "worst_abandoned": "2", "worst_rate_pct": "50"})
	if got := row(t, r.Result.Table("by_wait"), "under 10 s"); got[6] != "yes" {
		t.Errorf("threshold 0: waits under 10 s are %q, want counted", got[6])
	}

	// Threshold 45, between two bands: it becomes an edge; the 40 s wait is short.
	_, r = runReport(t, c, db, "abandonment_report", `{"period": "2026-11-02/2026-11-03", "threshold_seconds": 45, "flow_id": "main"}`)
	checkRows(t, r.Result.Table("by_wait"), [][]string{
		{"under 10 s", "0", "10", "1", "50", "50", "no (short)"},
		{"10 s – 30 s", "10", "30", "0", "0", "50", "no (short)"},
		{"30 s – 45 s", "30", "45", "1", "50", "100", "no (short)"},
		{"45 s – 1 min", "45", "60", "0", "0", "100", "yes"},
		{"1 min – 2 min", "60", "120", "0", "0", "100", "yes"},
		{"2 min – 5 min", "120", "300", "0", "0", "100", "yes"},
		{"5 min+", "300", "", "0", "0", "100", "yes"},
	})

	// By day, with a threshold above every wait: nothing counts, no worst day.
	_, r = runReport(t, c, db, "abandonment_report", `{"period": "2026-11-01/2026-11-03", "threshold_seconds": 600, "granularity": "day"}`)
	checkTotals(t, r, map[string]string{"calls": "12", "abandoned": "0", "short_abandoned": "4", "abandon_rate_pct": "0", "worst_day": ""})
}

func TestCallVolumeTrendFixture(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	insertCalls(t, db, reportFixture)
	c := reportClient(t, db, DefaultConfig())

	// 9 calls on 2026-11-02 against 3 on 2026-11-01: +200%.
	job, r := runReport(t, c, db, "call_volume_trend", `{"period": "2026-11-02", "granularity": "day"}`)
	checkTotals(t, r, map[string]string{"calls": "9", "previous_calls": "3", "change_pct": "200", "slope_per_day": "0", "trend": "flat"})
	if body := message(t, db, "analyst", job.ID); !strings.HasPrefix(body, "call volume 2026-11-02: 9 calls, +200.0% vs the previous period (3); trend flat") {
		t.Errorf("message %q", body)
	}

	// By hour, each hour against the same hour of the day before.
	_, r = runReport(t, c, db, "call_volume_trend", `{"period": "2026-11-02"}`)
	tbl := r.Result.Table("intervals")
	for key, want := range map[string][]string{
		"2026-11-02 08:00": {"2026-11-02 08:00", "0", "2026-11-01 08:00", "1", "-100"},
		"2026-11-02 09:00": {"2026-11-02 09:00", "5", "2026-11-01 09:00", "0", ""},
		"2026-11-02 23:00": {"2026-11-02 23:00", "1", "2026-11-01 23:00", "1", "0"},
	} {
		if got := row(t, tbl, key); !reflect.DeepEqual(got, want) {
			t.Errorf("row %s = %v, want %v", key, got, want)
		}
	}
	// Over 2026-11-01..03 by day: 3 then 9, slope +6 calls/day per day; previous
	// period 2026-10-30..11-01 is empty.
	_, r = runReport(t, c, db, "call_volume_trend", `{"period": "2026-11-01/2026-11-03", "granularity": "day"}`)
	checkTotals(t, r, map[string]string{"calls": "12", "previous_calls": "0", "change_pct": "", "slope_per_day": "6", "trend": "rising"})
}

func TestCallFlowAnalysisFixture(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	insertCalls(t, db, reportFixture)
	c := reportClient(t, db, DefaultConfig())

	job, r := runReport(t, c, db, "call_flow_analysis", `{"period": "2026-11-02/2026-11-03"}`)
	// Flow main (the default): 7 calls with events; completed at agent (3) or at
	// payment_selfservice (1): 4 of 7 = 57.1%.
	checkTotals(t, r, map[string]string{"flow_id": "main", "calls": "7", "calls_with_events": "7", "completed": "4",
		"completion_rate_pct": "57.1", "distinct_paths": "6", "nodes": "8", "worst_drop_node": "agent", "worst_drop_calls": "2"})
	nodes := r.Result.Table("nodes")
	var order []string
	for _, rw := range nodes.Rows {
		order = append(order, FormatValue(rw[0]))
	}
	if want := []string{"welcome", "language", "menu", "billing", "support", "agent", "payment_selfservice", "sales"}; !reflect.DeepEqual(order, want) {
		t.Errorf("node order %v, want %v", order, want)
	}
	for key, want := range map[string][]string{
		// node, entered, continued, completed, dropped, drop_pct
		"welcome":             {"welcome", "7", "7", "0", "0", "0"},
		"menu":                {"menu", "7", "6", "0", "1", "14.3"}, // call 9 entered it twice: counted once
		"billing":             {"billing", "4", "4", "0", "0", "0"},
		"agent":               {"agent", "5", "0", "3", "2", "40"},
		"payment_selfservice": {"payment_selfservice", "1", "0", "1", "0", "0"},
	} {
		if got := row(t, nodes, key); !reflect.DeepEqual(got, want) {
			t.Errorf("node %s = %v, want %v", key, got, want)
		}
	}
	paths := r.Result.Table("paths")
	var got [][]string
	for _, rw := range paths.Rows {
		got = append(got, []string{FormatValue(rw[0]), FormatValue(rw[1]), FormatValue(rw[2]), FormatValue(rw[3])})
	}
	want := [][]string{
		{"1", "welcome > language > menu > billing > agent (hangup)", "2", "28.6"},
		{"2", "welcome > language > menu (hangup)", "1", "14.3"},
		{"3", "welcome > language > menu > billing > agent (completed)", "1", "14.3"},
		{"4", "welcome > language > menu > billing > payment_selfservice (completed)", "1", "14.3"},
		{"5", "welcome > language > menu > menu > sales > agent (completed)", "1", "14.3"},
		{"6", "welcome > language > menu > support > agent (completed)", "1", "14.3"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("paths\n got %v\nwant %v", got, want)
	}
	wantMsg := fmt.Sprintf("flow main 2026-11-02/2026-11-03: 7 calls, completion 57.1%%, most drop-offs at agent (2 of 5, 40.0%%); top path welcome > language > menu > billing > agent (hangup) (2 calls) — iactq reports show %d", job.ID)
	if body := message(t, db, "analyst", job.ID); !strings.HasPrefix(body, wantMsg) {
		t.Errorf("message %q\nwant prefix      %q", body, wantMsg)
	}

	// top limits the paths; a flow without calls is an empty report, not an error.
	_, r = runReport(t, c, db, "call_flow_analysis", `{"period": "2026-11-02/2026-11-03", "top": 2}`)
	if n := len(r.Result.Table("paths").Rows); n != 2 {
		t.Errorf("top 2: %d paths", n)
	}
	_, r = runReport(t, c, db, "call_flow_analysis", `{"period": "2026-11-02/2026-11-03", "flow_id": "support"}`)
	checkTotals(t, r, map[string]string{"calls": "2", "calls_with_events": "0", "completion_rate_pct": ""})
}

func TestReportBadArgsDiscarded(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	c := reportClient(t, db, DefaultConfig())
	cases := []struct{ kind, args, want string }{
		{"dashboard_metrics", `{"granularity": "week"}`, `granularity "week"`},
		{"dashboard_metrics", `{"period": "last fortnight"}`, `period: "last fortnight"`},
		{"dashboard_metrics", `{"perod": "last 7d"}`, `unknown field "perod"`},
		{"dashboard_metrics", `{"flow_id": "main; DROP TABLE ivr_calls"}`, "flow_id"},
		{"abandonment_report", `{"threshold_seconds": -1}`, "threshold_seconds -1"},
		{"abandonment_report", `{"threshold_seconds": "30"}`, "threshold_seconds"},
		{"call_flow_analysis", `{"top": -3}`, "top -3"},
		{"call_flow_analysis", `{"period": "2026-11-08/2026-11-01"}`, "ends before it starts"},
		{"call_volume_trend", `{"period": "2026-11-01/"}`, "needs a start and an end"},
		// Valid args, but longer than the config allows (93 days): refused at run time.
		{"call_volume_trend", `{"period": "2026-01-01/2026-12-01"}`, "max_period_days"},
	}
	var ps []queue.InsertParams
	for _, tc := range cases {
		ps = append(ps, queue.InsertParams{Kind: tc.kind, Args: json.RawMessage(tc.args), RequestedBy: "analyst"})
	}
	// The bad args are inserted with plain SQL, as an app would (Insert validates).
	var ids []int64
	for _, p := range ps {
		res := db.Exec(t, `INSERT INTO iactq_jobs (kind, args, requested_by) VALUES (?, ?, ?)`, p.Kind, []byte(p.Args.(json.RawMessage)), p.RequestedBy)
		id, _ := res.LastInsertId()
		ids = append(ids, id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Work(ctx) }()
	deadline := time.Now().Add(time.Minute)
	jobs := make([]*queue.JobRow, len(ids))
	for i := 0; i < len(ids); {
		j, err := c.GetJob(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Finished() || time.Now().After(deadline) {
			jobs[i] = j
			i++
			continue
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	for i, id := range ids {
		j := jobs[i]
		if j.State != queue.StateDiscarded || j.Attempt != 1 {
			t.Errorf("%s %s: %s after %d attempts, want discarded after 1", cases[i].kind, cases[i].args, j.State, j.Attempt)
			continue
		}
		if errs := j.AttemptErrors(); len(errs) != 1 || !strings.Contains(errs[0].Error, cases[i].want) {
			t.Errorf("%s %s: errors %s, want one naming %q", cases[i].kind, cases[i].args, j.Errors, cases[i].want)
		}
		if body := message(t, db, "analyst", id); !strings.Contains(body, "discarded") || !strings.Contains(body, cases[i].want) {
			t.Errorf("%s %s: message %q, want the reason %q", cases[i].kind, cases[i].args, body, cases[i].want)
		}
		if _, err := GetReport(context.Background(), db.DB, id); err == nil {
			t.Errorf("%s %s: a report was stored", cases[i].kind, cases[i].args)
		}
	}
	// The same args are refused before anything is written by Insert.
	for _, tc := range cases[:len(cases)-1] {
		if _, err := c.Insert(context.Background(), queue.InsertParams{Kind: tc.kind, Args: json.RawMessage(tc.args)}); err == nil {
			t.Errorf("Insert %s %s: no error", tc.kind, tc.args)
		}
	}
}

func TestReportRetryKeepsOneRowAndWritesCSV(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	insertCalls(t, db, reportFixture)
	cfg := DefaultConfig()
	cfg.Reports.OutputDir = filepath.Join(t.TempDir(), "reports")
	c := reportClient(t, db, cfg)
	job, r := runReport(t, c, db, "abandonment_report", `{"period": "2026-11-02/2026-11-03", "granularity": "day"}`)

	// A retried job (the report stored, then the attempt lost) stores again: still one
	// row for the job, with the same report id.
	row := job
	res := r.Result
	res.Summary = "second attempt"
	if err := storeReport(context.Background(), jobsdb.New(db.DB), row, AbandonmentReportArgs{}, &res); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_reports WHERE job_id = ?`, job.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	again, err := GetReport(context.Background(), db.DB, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || again.ID != r.ID || again.Summary != "second attempt" {
		t.Errorf("after a second store: %d rows, id %d (was %d), summary %q", n, again.ID, r.ID, again.Summary)
	}

	csv, err := os.ReadFile(filepath.Join(cfg.Reports.OutputDir, fmt.Sprintf("abandonment_report-job-%d.csv", job.ID)))
	if err != nil {
		t.Fatal(err)
	}
	want := "day,calls,answered,abandoned,short_abandoned,offered,abandon_rate_pct,avg_abandoned_wait_s\n2026-11-02,9,4,2,1,6,33.3,65\n"
	if string(csv) != want {
		t.Errorf("CSV file\n%s\nwant\n%s", csv, want)
	}
}
