package queue

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// TableExists tells whether a table of that name exists in the current database (the
// dashboard shows deploys and DORA snapshots only where their tables exist).
func (c *Client) TableExists(ctx context.Context, name string) (bool, error) {
	var n int
	err := c.store.db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look for table %s: %w", name, err)
	}
	return n > 0, nil
}

// Deploy is one row of iactq_deploys, as the dashboard shows it.
type Deploy struct {
	ID          int64
	Env         string
	Revision    string
	State       string
	RequestedBy string
	FailedStep  string
	CreatedAt   time.Time
	FinishedAt  time.Time
}

// RecentDeploys lists the latest deploys, newest first. The table belongs to the
// deploy kind (jobs/), which may not exist in every schema: ok is false then. The
// query is plain SQL rather than generated so the engine does not depend on it.
func (c *Client) RecentDeploys(ctx context.Context, limit int) (deploys []Deploy, ok bool, err error) {
	if ok, err := c.TableExists(ctx, "iactq_deploys"); err != nil || !ok {
		return nil, false, err
	}
	rows, err := c.store.db.QueryContext(ctx, `SELECT id, env, revision, CAST(state AS CHAR), COALESCE(requested_by, ''),
		COALESCE(failed_step, ''), created_at, finished_at FROM iactq_deploys ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, true, fmt.Errorf("list deploys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d Deploy
		var fin sql.NullTime
		if err := rows.Scan(&d.ID, &d.Env, &d.Revision, &d.State, &d.RequestedBy, &d.FailedStep, &d.CreatedAt, &fin); err != nil {
			return nil, true, fmt.Errorf("list deploys: %w", err)
		}
		d.FinishedAt = fin.Time
		deploys = append(deploys, d)
	}
	return deploys, true, rows.Err()
}

// DORASnapshot is the headline of one row of iactq_dora_snapshots.
type DORASnapshot struct {
	Env                  string
	WindowDays           int
	ComputedAt           time.Time
	Deploys              int64
	DeploysPerDay        float64
	LeadTimeSeconds      sql.NullFloat64
	ChangeFailureRate    sql.NullFloat64
	TimeToRestoreSeconds sql.NullFloat64
}

// LatestDORA returns the latest DORA snapshot of each environment; ok is false when
// the table does not exist.
func (c *Client) LatestDORA(ctx context.Context) (snaps []DORASnapshot, ok bool, err error) {
	if ok, err := c.TableExists(ctx, "iactq_dora_snapshots"); err != nil || !ok {
		return nil, false, err
	}
	rows, err := c.store.db.QueryContext(ctx, `SELECT s.env, s.window_days, s.computed_at, s.deploys, s.deploys_per_day,
		s.lead_time_seconds, s.change_failure_rate, s.time_to_restore_seconds
		FROM iactq_dora_snapshots s
		JOIN (SELECT env, MAX(id) AS id FROM iactq_dora_snapshots GROUP BY env) l ON l.id = s.id
		ORDER BY s.env`)
	if err != nil {
		return nil, true, fmt.Errorf("read DORA snapshots: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s DORASnapshot
		if err := rows.Scan(&s.Env, &s.WindowDays, &s.ComputedAt, &s.Deploys, &s.DeploysPerDay,
			&s.LeadTimeSeconds, &s.ChangeFailureRate, &s.TimeToRestoreSeconds); err != nil {
			return nil, true, fmt.Errorf("read DORA snapshots: %w", err)
		}
		snaps = append(snaps, s)
	}
	return snaps, true, rows.Err()
}
