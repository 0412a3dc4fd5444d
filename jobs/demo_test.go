package jobs

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/iact/iactq/jobs/internal/jobsdb"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// demoFingerprint sums up the demo data so two loads can be compared.
func demoFingerprint(t *testing.T, db *queuetest.DB) (calls, events, sessions, waitSum int64) {
	t.Helper()
	err := db.DB.QueryRow(`SELECT COUNT(*), COALESCE(SUM(wait_seconds), 0) FROM ivr_calls WHERE call_ref LIKE 'demo-%'`).Scan(&calls, &waitSum)
	if err == nil {
		err = db.DB.QueryRow(`SELECT COUNT(*) FROM ivr_call_events`).Scan(&events)
	}
	if err == nil {
		err = db.DB.QueryRow(`SELECT COUNT(*) FROM django_session WHERE session_key LIKE 'demo%'`).Scan(&sessions)
	}
	if err != nil {
		t.Fatal(err)
	}
	return
}

func TestDemoLoadIdempotentAndRealistic(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	ctx := context.Background()
	// A real call and a real session: the demo must leave them alone.
	insertCalls(t, db, []fixtureCall{{"2026-11-02 10:00:00", "main", "answered", 10, 100, []string{"welcome:next", "agent:completed"}}})
	db.Exec(t, `INSERT INTO django_session (session_key, session_data, expire_date) VALUES ('realsession', 'x', '2030-01-01')`)

	now := time.Date(2026, 11, 4, 15, 30, 0, 0, time.UTC) // a Wednesday afternoon
	var progress strings.Builder
	opts := DemoOptions{Days: 2, Seed: 42, CallsPerDay: 3000, Sessions: 2000, Now: now, Progress: &progress}
	res, err := LoadDemo(ctx, db.DB, opts)
	if err != nil {
		t.Fatal(err)
	}
	calls, events, sessions, waits := demoFingerprint(t, db)
	if res.Calls != int(calls) || calls < 5000 || calls > 9000 {
		t.Errorf("loaded %d calls (counted %d), want about 2.6 weekdays of 3000", res.Calls, calls)
	}
	if res.Events != int(events)-2 || events < 4*calls {
		t.Errorf("%d events for %d calls (result says %d)", events, calls, res.Events)
	}
	if sessions != 2000 || res.ExpiredSessions < 700 || res.ExpiredSessions > 900 {
		t.Errorf("%d sessions, %d expired: want 2000, about 40%% expired", sessions, res.ExpiredSessions)
	}
	if !strings.Contains(progress.String(), "demo: 2026-11-02 Mon:") || !strings.Contains(progress.String(), "(day 3 of 3)") {
		t.Errorf("progress:\n%s", progress.String())
	}
	var late int
	if err := db.DB.QueryRow(`SELECT COUNT(*) FROM ivr_calls WHERE ended_at > ? OR started_at < ?`, now, res.From).Scan(&late); err != nil || late != 0 {
		t.Errorf("%d calls outside %s..%s (%v)", late, res.From, now, err)
	}

	// Again, with the same seed: the same data, nothing duplicated.
	res2, err := LoadDemo(ctx, db.DB, opts)
	if err != nil {
		t.Fatal(err)
	}
	c2, e2, s2, w2 := demoFingerprint(t, db)
	if c2 != calls || e2 != events || s2 != sessions || w2 != waits || res2.Replaced != calls {
		t.Errorf("second load: %d calls %d events %d sessions wait sum %d (replaced %d), want %d %d %d %d",
			c2, e2, s2, w2, res2.Replaced, calls, events, sessions, waits)
	}
	var real int
	if err := db.DB.QueryRow(`SELECT (SELECT COUNT(*) FROM ivr_calls WHERE call_ref = 'fixture-0') + (SELECT COUNT(*) FROM django_session WHERE session_key = 'realsession')`).Scan(&real); err != nil || real != 2 {
		t.Errorf("real rows left: %d (%v), want 2", real, err)
	}

	// Seasonality and patience, on the full weekday 2026-11-03: busy at 10-11 and
	// 14-15, quiet at night; the long waits of the peaks lose more callers.
	q := jobsdb.New(db.DB)
	hourStats := func(from, to int) (n, abandoned, queued int) {
		day := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
		rows, err := q.CallsInPeriod(ctx, jobsdb.CallsInPeriodParams{FromTime: day.Add(time.Duration(from) * time.Hour), ToTime: day.Add(time.Duration(to) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			n++
			switch r.Outcome {
			case jobsdb.IvrCallsOutcomeAbandoned:
				abandoned++
				queued++
			case jobsdb.IvrCallsOutcomeAnswered:
				queued++
			}
		}
		return
	}
	peak, peakAb, peakQ := hourStats(10, 12)
	night, nightAb, nightQ := hourStats(0, 6)
	if peak < 5*night || peak < 400 {
		t.Errorf("10-12h: %d calls, 0-6h: %d: want a busy morning and a quiet night", peak, night)
	}
	if float64(peakAb)/float64(peakQ) <= float64(nightAb)/float64(nightQ) {
		t.Errorf("abandonment at the peak %d/%d is not above the night's %d/%d", peakAb, peakQ, nightAb, nightQ)
	}
	var flows int
	if err := db.DB.QueryRow(`SELECT COUNT(DISTINCT flow_id) FROM ivr_calls`).Scan(&flows); err != nil || flows != 3 {
		t.Errorf("%d flows (%v), want main, support and sales", flows, err)
	}

	// A different seed replaces the days it covers.
	opts.Seed, opts.Sessions = 7, -1
	if _, err := LoadDemo(ctx, db.DB, opts); err != nil {
		t.Fatal(err)
	}
	c3, _, s3, w3 := demoFingerprint(t, db)
	if c3 < 5000 || c3 > 9000 || w3 == waits || s3 != sessions {
		t.Errorf("after reseeding: %d calls, wait sum %d (was %d), %d sessions", c3, w3, waits, s3)
	}
}

// explainer is a jobsdb.DBTX that records the SQL and arguments of the query made
// through it instead of running it, so that the generated queries themselves are
// EXPLAINed.
type explainer struct {
	query string
	args  []any
}

var errExplained = errors.New("recorded")

func (e *explainer) ExecContext(_ context.Context, q string, args ...any) (sql.Result, error) {
	e.query, e.args = q, args
	return nil, errExplained
}
func (e *explainer) PrepareContext(context.Context, string) (*sql.Stmt, error) {
	return nil, errExplained
}
func (e *explainer) QueryContext(_ context.Context, q string, args ...any) (*sql.Rows, error) {
	e.query, e.args = q, args
	return nil, errExplained
}
func (e *explainer) QueryRowContext(_ context.Context, q string, args ...any) *sql.Row {
	e.query, e.args = q, args
	return nil
}

// explain runs EXPLAIN for the query e recorded and returns its rows by column name.
func explain(t *testing.T, db *sql.DB, e *explainer) []map[string]string {
	t.Helper()
	rows, err := db.Query("EXPLAIN "+e.query, e.args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []map[string]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for i, c := range cols {
			m[strings.ToLower(c)] = vals[i].String
		}
		out = append(out, m)
	}
	return out
}

// TestReportQueriesUseIndexes checks the plans of the report queries on demo data:
// each reads calls by a range of a covering index, and node events by primary key.
func TestReportQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 4, 15, 30, 0, 0, time.UTC)
	if _, err := LoadDemo(ctx, db.DB, DemoOptions{Days: 2, Seed: 1, CallsPerDay: 2000, Sessions: -1, Now: now}); err != nil {
		t.Fatal(err)
	}
	admin, err := queue.OpenDB(db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, tbl := range []string{"ivr_calls", "ivr_call_events"} {
		if _, err := admin.Exec("ANALYZE TABLE " + tbl); err != nil {
			t.Fatal(err)
		}
	}
	from, to := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		call func(q *jobsdb.Queries)
		want map[string]string // table → key
	}{
		{"CallsInPeriod", func(q *jobsdb.Queries) {
			_, _ = q.CallsInPeriod(ctx, jobsdb.CallsInPeriodParams{FromTime: from, ToTime: to})
		}, map[string]string{"ivr_calls": "ivr_calls_started"}},
		{"FlowCallsInPeriod", func(q *jobsdb.Queries) {
			_, _ = q.FlowCallsInPeriod(ctx, jobsdb.FlowCallsInPeriodParams{FlowID: "main", FromTime: from, ToTime: to})
		}, map[string]string{"ivr_calls": "ivr_calls_flow_started"}},
		{"FlowEventsInPeriod", func(q *jobsdb.Queries) {
			_, _ = q.FlowEventsInPeriod(ctx, jobsdb.FlowEventsInPeriodParams{FlowID: "main", FromTime: from, ToTime: to})
		}, map[string]string{"c": "ivr_calls_flow_started", "e": "PRIMARY"}},
	} {
		e := &explainer{}
		tc.call(jobsdb.New(e))
		plan := explain(t, db.DB, e)
		for _, step := range plan {
			t.Logf("%s: table=%s type=%s key=%s rows=%s extra=%q", tc.name, step["table"], step["type"], step["key"], step["rows"], step["extra"])
			want, ok := tc.want[step["table"]]
			if !ok {
				t.Errorf("%s: unexpected table %s in the plan", tc.name, step["table"])
				continue
			}
			if step["key"] != want {
				t.Errorf("%s: table %s read by key %q, want %s", tc.name, step["table"], step["key"], want)
			}
			if strings.Contains(step["extra"], "filesort") || strings.Contains(step["extra"], "temporary") {
				t.Errorf("%s: table %s needs %q", tc.name, step["table"], step["extra"])
			}
			if want != "PRIMARY" && (step["type"] != "range" || !strings.Contains(step["extra"], "Using index")) {
				t.Errorf("%s: table %s read as type %q, extra %q: want a range scan of a covering index", tc.name, step["table"], step["type"], step["extra"])
			}
			if want == "PRIMARY" && step["type"] != "ref" && step["type"] != "eq_ref" {
				t.Errorf("%s: events read as type %q, want ref by primary key", tc.name, step["type"])
			}
		}
		if len(plan) != len(tc.want) {
			t.Errorf("%s: plan has %d steps, want %d", tc.name, len(plan), len(tc.want))
		}
	}
}
