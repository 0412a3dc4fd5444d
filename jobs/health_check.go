package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/iact/iactq/jobs/internal/jobsdb"
	"github.com/iact/iactq/queue"
)

// HealthCheckArgs are the args of health_check: none. What is probed comes from the
// config alone, so a job can make iactq neither fetch an arbitrary URL nor read a file.
type HealthCheckArgs struct{}

// Kind implements queue.Args.
func (HealthCheckArgs) Kind() string { return "health_check" }

// healthChecker runs health_check.
type healthChecker struct {
	d      Deps
	cfg    HealthCheckConfig
	client *http.Client
}

func newHealthChecker(d Deps, cfg HealthCheckConfig) *healthChecker {
	return &healthChecker{
		d:   d,
		cfg: cfg,
		client: &http.Client{
			// No proxy from the environment: the targets are the platform's own hosts.
			// No keep-alive: a probe every few minutes needs no idle connections.
			Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, MaxResponseHeaderBytes: 64 << 10},
		},
	}
}

// Work probes every target at once, records the results and the targets' states, and
// tells Notify of the targets whose state changed. Failing targets are results, not a
// failure of the job: it completes, so that its message is written exactly once.
func (w *healthChecker) Work(ctx context.Context, job *queue.Job[HealthCheckArgs]) error {
	checkedAt := w.d.Now().UTC().Truncate(time.Microsecond)
	results := w.probe(ctx)
	if err := ctx.Err(); err != nil {
		return err // shut down or timed out mid-probe: the results mean nothing
	}
	q := jobsdb.New(w.d.DB)
	if err := w.record(ctx, job.ID, checkedAt, results); err != nil {
		return err
	}
	if w.cfg.KeepResults > 0 {
		// Best effort: old rows left now go with the next run.
		if _, err := q.HealthResultPrune(ctx, checkedAt.Add(-w.cfg.KeepResults)); err != nil {
			w.d.Log.Warn().Err(err).Int64("job_id", job.ID).Msg("health_check: prune old results")
		}
	}
	// The changes this job made, over all its attempts: an attempt that recorded a
	// change and then lost its worker left it for this one to tell.
	all, err := q.HealthResultsForJob(ctx, job.ID)
	if err != nil {
		return fmt.Errorf("read this job's health results: %w", err)
	}
	var changes []jobsdb.IactqHealthResult
	for _, r := range all {
		if r.StateChanged {
			changes = append(changes, r)
		}
	}
	if len(changes) > 0 {
		subject, body := healthChangeMessage(job.ID, changes)
		job.Notify(w.cfg.Notify, subject, body)
	}
	job.Report(healthSummary(results, len(changes)))
	return nil
}

// probe runs every configured probe concurrently, each within its timeout, and returns
// the results sorted by target.
func (w *healthChecker) probe(ctx context.Context) []healthResult {
	targets := w.cfg.httpTargets()
	httpResults := make([]healthResult, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			httpResults[i] = probeHTTP(ctx, w.client, t)
		}()
	}
	var results []healthResult
	if w.cfg.Database {
		results = append(results, probeDatabase(ctx, jobsdb.New(w.d.DB), w.cfg.Timeout))
	}
	if w.cfg.DjangoSettings != "" {
		results = append(results, probeSessionEngine(w.cfg.DjangoSettings))
	}
	wg.Wait()
	results = append(results, httpResults...)
	sort.Slice(results, func(i, j int) bool { return results[i].target < results[j].target })
	return results
}

// record stores the results and moves each target's state, in one transaction. Each
// target's state row is locked (in target order, so two jobs cannot deadlock) before it
// is compared: of two concurrent jobs, the second sees the first's state. A result older
// than the state's last check (a slow job finishing after a newer one) is stored but
// does not move the state.
func (w *healthChecker) record(ctx context.Context, jobID int64, checkedAt time.Time, results []healthResult) error {
	tx, err := w.d.DB.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("record health results: begin transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	q := jobsdb.New(tx)
	for _, r := range results {
		if err := q.HealthStateEnsure(ctx, r.target); err != nil {
			return fmt.Errorf("record health of %s: %w", r.target, err)
		}
		st, err := q.HealthStateGetForUpdate(ctx, r.target)
		if err != nil {
			return fmt.Errorf("record health of %s: %w", r.target, err)
		}
		changed, apply := healthTransition(st, r.ok, checkedAt)
		if apply {
			since := st.Since
			if changed || !st.Ok.Valid {
				since = sql.NullTime{Time: checkedAt, Valid: true}
			}
			err := q.HealthStateSet(ctx, jobsdb.HealthStateSetParams{
				Ok:            sql.NullBool{Bool: r.ok, Valid: true},
				Since:         since,
				LastCheckedAt: sql.NullTime{Time: checkedAt, Valid: true},
				LastDetail:    r.detail,
				LastJobID:     sql.NullInt64{Int64: jobID, Valid: true},
				Target:        r.target,
			})
			if err != nil {
				return fmt.Errorf("record health of %s: %w", r.target, err)
			}
		}
		err = q.HealthResultInsert(ctx, jobsdb.HealthResultInsertParams{
			JobID:        jobID,
			Target:       r.target,
			Ok:           r.ok,
			LatencyMs:    int32(min(r.latency.Milliseconds(), 1<<31-1)),
			Detail:       r.detail,
			StateChanged: changed,
			CheckedAt:    checkedAt,
		})
		if err != nil {
			return fmt.Errorf("record health of %s: %w", r.target, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record health results: commit: %w", err)
	}
	return nil
}

// healthTransition decides, for a target in state st observed ok at checkedAt, whether
// that is a change of state (ops is told) and whether it updates the state at all.
// The first observation of a target is a change only when it fails.
func healthTransition(st jobsdb.IactqHealthState, ok bool, checkedAt time.Time) (changed, apply bool) {
	switch {
	case !st.Ok.Valid:
		return !ok, true
	case st.LastCheckedAt.Valid && !checkedAt.After(st.LastCheckedAt.Time):
		return false, false // a newer observation is already recorded
	default:
		return st.Ok.Bool != ok, true
	}
}

// healthChangeMessage is the message to ops about changes (at least one).
func healthChangeMessage(jobID int64, changes []jobsdb.IactqHealthResult) (subject, body string) {
	var failed, recovered int
	var b strings.Builder
	for _, c := range changes {
		verb := "is FAILING"
		if c.Ok {
			verb = "is OK again"
			recovered++
		} else {
			failed++
		}
		fmt.Fprintf(&b, "%s %s since %s UTC (%d ms): %s\n", c.Target, verb,
			c.CheckedAt.UTC().Format("2006-01-02 15:04:05"), c.LatencyMs, c.Detail)
	}
	fmt.Fprintf(&b, "\nhealth_check job %d. Current states: SELECT * FROM iactq_health_state; "+
		"history: SELECT * FROM iactq_health_results WHERE target = '...' ORDER BY checked_at DESC.", jobID)
	if len(changes) == 1 {
		c := changes[0]
		if c.Ok {
			return fmt.Sprintf("health: %s is OK again", c.Target), b.String()
		}
		return fmt.Sprintf("health: %s is FAILING", c.Target), b.String()
	}
	return fmt.Sprintf("health: %d targets changed state (%d failing, %d OK again)", len(changes), failed, recovered), b.String()
}

// healthSummary is the job's one-line report.
func healthSummary(results []healthResult, changes int) string {
	var failing []string
	for _, r := range results {
		if !r.ok {
			failing = append(failing, fmt.Sprintf("%s (%s)", r.target, r.detail))
		}
	}
	s := fmt.Sprintf("health_check: %d of %d targets OK", len(results)-len(failing), len(results))
	if len(failing) > 0 {
		s += "; FAIL: " + strings.Join(failing, ", ")
	}
	if changes > 0 {
		s += fmt.Sprintf("; %d state change(s) reported", changes)
	}
	return s
}
