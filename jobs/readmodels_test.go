package jobs

import (
	"context"
	"testing"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// TestDashboardReadModels: the deploys newest first, the newest DORA snapshot of each
// environment, and ok false on a database without the kinds' tables.
func TestDashboardReadModels(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	ctx := context.Background()
	for _, rev := range []string{"r1", "r2", "r3"} {
		db.Exec(t, `INSERT INTO iactq_deploys (env, revision, state, requested_by) VALUES ('production', ?, 'succeeded', 'ops')`, rev)
	}
	for _, s := range []struct {
		env  string
		days int
	}{{"production", 7}, {"staging", 7}, {"production", 30}} {
		db.Exec(t, `INSERT INTO iactq_dora_snapshots (env, window_days, window_start, window_end, deploys, deploys_per_day, lead_time_seconds, metrics)
			VALUES (?, ?, NOW(6) - INTERVAL 30 DAY, NOW(6), 3, 0.1, 3600, '{}')`, s.env, s.days)
	}
	deploys, ok, err := RecentDeploys(ctx, db.DB, 2)
	if err != nil || !ok || len(deploys) != 2 || deploys[0].Revision != "r3" || deploys[1].Revision != "r2" || deploys[0].RequestedBy != "ops" {
		t.Fatalf("RecentDeploys = %+v, %v, %v; want r3, r2", deploys, ok, err)
	}
	heads, ok, err := LatestDORAHeadlines(ctx, db.DB)
	if err != nil || !ok || len(heads) != 2 || heads[0].Env != "production" || heads[0].WindowDays != 30 || heads[1].Env != "staging" ||
		heads[0].Deploys != 3 || !heads[0].LeadTimeSeconds.Valid || heads[0].ChangeFailureRate.Valid {
		t.Fatalf("LatestDORAHeadlines = %+v, %v, %v; want production's 30-day snapshot and staging's", heads, ok, err)
	}

	admin, err := queue.OpenDB(db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`DROP TABLE iactq_deploy_steps, iactq_deploys, iactq_dora_snapshots`); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := RecentDeploys(ctx, db.DB, 2); ok || err != nil {
		t.Fatalf("without iactq_deploys: ok %v, err %v", ok, err)
	}
	if _, ok, err := LatestDORAHeadlines(ctx, db.DB); ok || err != nil {
		t.Fatalf("without iactq_dora_snapshots: ok %v, err %v", ok, err)
	}
}
