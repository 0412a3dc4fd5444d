package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/iact/iactq/internal/dberr"
	"github.com/iact/iactq/jobs/internal/jobsdb"
)

// The read models of the deploy and dora_snapshot kinds, as the dashboard shows them.
// Their tables belong to these kinds, and a database may lack them (a schema migrated
// without them): ok is false then, and the page says so.

// RecentDeploys lists the latest deploys of every environment, newest first.
func RecentDeploys(ctx context.Context, db *sql.DB, limit int) (deploys []Deploy, ok bool, err error) {
	deploys, err = ListDeploys(ctx, db, "", limit)
	if dberr.Number(err) == dberr.NoSuchTable {
		return nil, false, nil
	}
	return deploys, true, err
}

// DORAHeadline is the headline of an environment's newest DORA snapshot.
type DORAHeadline struct {
	Env                  string
	WindowDays           int
	ComputedAt           time.Time
	Deploys              int64
	DeploysPerDay        float64
	LeadTimeSeconds      sql.NullFloat64
	ChangeFailureRate    sql.NullFloat64
	TimeToRestoreSeconds sql.NullFloat64
}

// LatestDORAHeadlines returns the headline of the newest snapshot of each
// environment, by environment.
func LatestDORAHeadlines(ctx context.Context, db *sql.DB) (heads []DORAHeadline, ok bool, err error) {
	rows, err := jobsdb.New(db).DoraSnapshotLatestPerEnv(ctx)
	if dberr.Number(err) == dberr.NoSuchTable {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("read DORA snapshots: %w", err)
	}
	heads = make([]DORAHeadline, len(rows))
	for i, r := range rows {
		heads[i] = DORAHeadline{
			Env: r.Env, WindowDays: int(r.WindowDays), ComputedAt: r.ComputedAt, Deploys: int64(r.Deploys),
			DeploysPerDay: r.DeploysPerDay, LeadTimeSeconds: r.LeadTimeSeconds, ChangeFailureRate: r.ChangeFailureRate,
			TimeToRestoreSeconds: r.TimeToRestoreSeconds,
		}
	}
	return heads, true, nil
}
