package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/iact/iactq/internal/dberr"
	"github.com/iact/iactq/jobs/internal/jobsdb"
	"github.com/iact/iactq/queue"
)

// SessionCleanupArgs are the args of session_cleanup. Both are optional overrides of
// the config for one run; {} (what the schedule enqueues) uses the config.
type SessionCleanupArgs struct {
	// BatchSize overrides jobs.session_cleanup.batch_size (1..10000).
	BatchSize int `json:"batch_size,omitempty"`
	// MaxBatches overrides jobs.session_cleanup.max_batches (1..10000000).
	MaxBatches int `json:"max_batches,omitempty"`
}

// Kind implements queue.Args.
func (SessionCleanupArgs) Kind() string { return "session_cleanup" }

// Validate implements queue.Validator.
func (a SessionCleanupArgs) Validate() error {
	if a.BatchSize < 0 || a.BatchSize > sessionCleanupMaxBatchSize {
		return fmt.Errorf("batch_size %d is out of range 1..%d (omit it to use the config)", a.BatchSize, sessionCleanupMaxBatchSize)
	}
	if a.MaxBatches < 0 || a.MaxBatches > sessionCleanupMaxMaxBatches {
		return fmt.Errorf("max_batches %d is out of range 1..%d (omit it to use the config)", a.MaxBatches, sessionCleanupMaxMaxBatches)
	}
	return nil
}

// sessionCleaner runs session_cleanup.
type sessionCleaner struct {
	d   Deps
	cfg SessionCleanupConfig
}

// sessionCleanupRun is what one attempt did.
type sessionCleanupRun struct {
	cutoff      time.Time
	started     time.Time
	deleted     int64
	batches     int
	remaining   int64
	expiredLeft int64
	stoppedBy   string // "", "max_batches" or "max_duration"
}

// Work deletes the sessions that expired before the job started, a batch at a time,
// then counts what is left and records it.
func (w *sessionCleaner) Work(ctx context.Context, job *queue.Job[SessionCleanupArgs]) error {
	s, err := newSessionSQL(w.cfg.Table)
	if err != nil {
		return queue.Permanentf("jobs.session_cleanup.table: %w", err)
	}
	batchSize, maxBatches := w.cfg.BatchSize, w.cfg.MaxBatches
	if job.Args.BatchSize > 0 {
		batchSize = job.Args.BatchSize
	}
	if job.Args.MaxBatches > 0 {
		maxBatches = job.Args.MaxBatches
	}

	run := sessionCleanupRun{started: w.d.Now().UTC()}
	if err := w.d.DB.QueryRowContext(ctx, s.cutoff).Scan(&run.cutoff); err != nil {
		return fmt.Errorf("read the database clock: %w", err)
	}
	err = w.deleteExpired(ctx, s, &run, batchSize, maxBatches)
	if err != nil {
		if run.deleted > 0 {
			// Stopped midway (shutdown, timeout): keep the count of what is gone, so the
			// retry adds to it. The counts of what is left are the retry's to make.
			_ = w.record(context.WithoutCancel(ctx), job.ID, s, run)
		}
		return sessionTableError(s.table, err)
	}
	if err := w.d.DB.QueryRowContext(ctx, s.countAll).Scan(&run.remaining); err != nil {
		return sessionTableError(s.table, fmt.Errorf("count sessions: %w", err))
	}
	if err := w.d.DB.QueryRowContext(ctx, s.countExpired, run.cutoff).Scan(&run.expiredLeft); err != nil {
		return sessionTableError(s.table, fmt.Errorf("count expired sessions: %w", err))
	}
	if err := w.record(ctx, job.ID, s, run); err != nil {
		return err
	}

	summary := fmt.Sprintf("session_cleanup: deleted %d expired sessions from %s in %d batches; %d rows remain",
		run.deleted, s.table, run.batches, run.remaining)
	if run.expiredLeft > 0 {
		summary += fmt.Sprintf(", %d of them expired", run.expiredLeft)
		if run.stoppedBy != "" {
			summary += fmt.Sprintf(" (stopped by %s; the next run goes on)", run.stoppedBy)
		}
	}
	job.Report(summary)
	if run.remaining > w.cfg.WarnThreshold {
		job.Notify(w.cfg.Notify,
			fmt.Sprintf("%s holds %d sessions, more than %d", s.table, run.remaining, w.cfg.WarnThreshold),
			fmt.Sprintf("session_cleanup job %d deleted %d expired sessions (expired before %s UTC) from %s, "+
				"and %d rows remain, %d of them expired. That is more than the warning threshold "+
				"(jobs.session_cleanup.warn_threshold = %d): check what creates so many sessions "+
				"(bots, health probes without cookies, a SESSION_COOKIE_AGE too long). "+
				"History: SELECT * FROM iactq_session_cleanups ORDER BY finished_at DESC.",
				job.ID, run.deleted, run.cutoff.Format("2006-01-02 15:04:05"), s.table,
				run.remaining, run.expiredLeft, w.cfg.WarnThreshold))
	}
	return nil
}

// deleteExpired deletes sessions expired before run.cutoff in batches of batchSize,
// pausing between them, until none is left or a limit is reached.
func (w *sessionCleaner) deleteExpired(ctx context.Context, s sessionSQL, run *sessionCleanupRun, batchSize, maxBatches int) error {
	deadline := time.Now().Add(w.cfg.MaxDuration)
	keys := make([]string, 0, batchSize)
	for {
		var err error
		keys, err = w.expiredKeys(ctx, s, run.cutoff, batchSize, keys[:0])
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		query, args := s.deleteKeys(run.cutoff, keys)
		res, err := w.d.DB.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("delete a batch of sessions: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("delete a batch of sessions: %w", err)
		}
		run.deleted += n
		run.batches++
		switch {
		case len(keys) < batchSize:
			return nil // that was the last of them
		case maxBatches > 0 && run.batches >= maxBatches:
			run.stoppedBy = "max_batches"
			return nil
		case !time.Now().Before(deadline):
			run.stoppedBy = "max_duration"
			return nil
		}
		if err := maintenanceSleep(ctx, w.cfg.Pause); err != nil {
			return err
		}
	}
}

func (w *sessionCleaner) expiredKeys(ctx context.Context, s sessionSQL, cutoff time.Time, limit int, keys []string) ([]string, error) {
	rows, err := w.d.DB.QueryContext(ctx, s.selectExpired, cutoff, limit)
	if err != nil {
		return nil, fmt.Errorf("select expired sessions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("select expired sessions: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select expired sessions: %w", err)
	}
	return keys, nil
}

func (w *sessionCleaner) record(ctx context.Context, jobID int64, s sessionSQL, run sessionCleanupRun) error {
	err := jobsdb.New(w.d.DB).SessionCleanupRecord(ctx, jobsdb.SessionCleanupRecordParams{
		JobID:       jobID,
		TableName:   s.table,
		Deleted:     run.deleted,
		Batches:     int32(run.batches),
		Remaining:   run.remaining,
		ExpiredLeft: run.expiredLeft,
		Cutoff:      run.cutoff,
		StartedAt:   run.started,
		FinishedAt:  w.d.Now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("record the cleanup: %w", err)
	}
	return nil
}

// sessionTableError makes a missing table or a missing privilege on it permanent:
// retrying cannot fix the config, and the schedule's next run comes anyway.
func sessionTableError(table string, err error) error {
	switch dberr.Number(err) {
	case dberr.NoSuchTable:
		return queue.Permanentf("session table %s does not exist (jobs.session_cleanup.table): %w", table, err)
	case dberr.TableAccessDenied, dberr.DBAccessDenied:
		return queue.Permanentf("no access to session table %s (grant SELECT, DELETE to the worker): %w", table, err)
	case dberr.BadField:
		return queue.Permanentf("%s is not a Django session table (session_key, expire_date): %w", table, err)
	}
	return err
}

// maintenanceSleep sleeps for d, or until ctx is done.
func maintenanceSleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
