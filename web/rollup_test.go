package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
)

// TestRollup checks queue.Client.Rollup (which the workers call once a minute)
// against jobs with known times.
func TestRollup(t *testing.T) {
	b := setup(t, "")
	ctx := context.Background()
	now := time.Now().UTC()
	m := now.Add(-5 * time.Minute).Truncate(time.Minute)
	// A fixed clock, so that no minute closes between the two calls.
	c, err := queue.NewClient(b.d.DB, queue.NewRegistry(), queue.Config{Now: func() time.Time { return now }}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	b.c = c
	at := func(d time.Duration) time.Time { return m.Add(d) }
	ins := func(kind, state string, created, sched, attempted, finished time.Time) {
		b.d.Exec(t, `INSERT INTO iactq_jobs (kind, state, attempt, created_at, scheduled_at, attempted_at, finished_at) VALUES (?, ?, 1, ?, ?, ?, ?)`,
			kind, state, created, sched, attempted, finished)
	}
	ins("noop", "completed", at(10*time.Second), at(10*time.Second), at(11*time.Second), at(12*time.Second))
	ins("noop", "discarded", at(time.Second), at(time.Second), at(4*time.Second), at(5*time.Second))
	// Waited three hours for a two-hour SLA: started OVERDUE, finished late.
	ins("dashboard_metrics", "completed", at(-3*time.Hour), at(-3*time.Hour), at(20*time.Second), at(50*time.Second))
	// Attempts not finished yet count as started in their minute: one running, started
	// in m, and one waiting to retry, started two minutes before.
	live := func(state string, at time.Time) {
		b.d.Exec(t, `INSERT INTO iactq_jobs (kind, state, attempt, created_at, scheduled_at, attempted_at) VALUES ('noop', ?, 1, ?, ?, ?)`,
			state, at, at, at.Add(time.Second))
	}
	live("running", at(15*time.Second))
	live("retryable", at(-2*time.Minute+5*time.Second))

	n, err := b.c.Rollup(ctx)
	if err != nil || n < 5 {
		t.Fatalf("Rollup: %d minutes, %v", n, err)
	}
	if n, err := b.c.Rollup(ctx); err != nil || n != 0 {
		t.Fatalf("second Rollup: %d minutes, %v", n, err)
	}
	type row struct {
		enq, started, completed, discarded, breached int
		waitP50, runP95                              *int64
	}
	read := func(kind, class string) row {
		t.Helper()
		var r row
		err := b.d.DB.QueryRow(`SELECT enqueued, started, completed, discarded, breached, wait_p50_ms, run_p95_ms
			FROM iactq_sla_rollup WHERE minute = ? AND kind = ? AND class = ?`, m, kind, class).
			Scan(&r.enq, &r.started, &r.completed, &r.discarded, &r.breached, &r.waitP50, &r.runP95)
		if err != nil {
			t.Fatalf("row %s/%s: %v", kind, class, err)
		}
		return r
	}
	if r := read("noop", "NORMAL"); r.enq != 3 || r.started != 3 || r.completed != 1 || r.discarded != 1 || r.breached != 0 ||
		*r.waitP50 != 1000 || *r.runP95 != 1000 {
		t.Errorf("noop NORMAL: %+v wait p50 %d run p95 %d", r, *r.waitP50, *r.runP95)
	}
	if r := read("dashboard_metrics", "OVERDUE"); r.enq != 0 || r.started != 1 || r.completed != 1 || r.breached != 1 || *r.runP95 != 30000 {
		t.Errorf("dashboard_metrics OVERDUE: %+v", r)
	}
	if r := read("*", "*"); r.enq != 3 || r.started != 4 || r.completed != 2 || r.discarded != 1 || r.breached != 1 {
		t.Errorf("totals: %+v", r)
	}
	m = m.Add(-2 * time.Minute)
	if r := read("noop", "NORMAL"); r.enq != 1 || r.started != 1 || r.completed != 0 {
		t.Errorf("noop NORMAL two minutes before, a job waiting to retry: %+v", r)
	}
	m = m.Add(2 * time.Minute)
	// A quiet minute has its totals row, with zeros.
	var quiet int
	if err := b.d.DB.QueryRow(`SELECT COUNT(*) FROM iactq_sla_rollup WHERE minute = ? AND kind = '*' AND enqueued = 0`, m.Add(-time.Minute)).Scan(&quiet); err != nil || quiet != 1 {
		t.Errorf("quiet minute: %d rows, %v", quiet, err)
	}

	rep, err := b.c.SLAReport(ctx, m.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]queue.KindSLA{}
	for _, k := range rep {
		byKind[k.Kind] = k
	}
	if k := byKind["dashboard_metrics"]; k.BreachRate() != 1 || k.WorstRunP95 != 30*time.Second {
		t.Errorf("dashboard_metrics: %+v", k)
	}
	if k := byKind["noop"]; k.BreachRate() != 0 || k.Completed != 1 || k.Discarded != 1 {
		t.Errorf("noop: %+v", k)
	}
	mins, err := b.c.RollupTotals(ctx, m)
	if err != nil || len(mins) == 0 || mins[0].Completed != 2 || mins[0].RunP95 != 30*time.Second {
		t.Errorf("RollupTotals: %+v, %v", mins, err)
	}
}
