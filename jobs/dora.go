package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/jobs/internal/jobsdb"
	"github.com/iact/iactq/queue"
)

// DORASnapshotArgs are the args of dora_snapshot.
type DORASnapshotArgs struct {
	// WindowDays is the window the metrics cover, ending now: 1..365, default 30.
	WindowDays int `json:"window_days"`
}

// Kind implements queue.Args.
func (DORASnapshotArgs) Kind() string { return "dora_snapshot" }

// Validate implements queue.Validator.
func (a DORASnapshotArgs) Validate() error {
	if a.WindowDays != 0 && (a.WindowDays < 1 || a.WindowDays > 365) {
		return fmt.Errorf("window_days %d is out of range 1..365", a.WindowDays)
	}
	return nil
}

// ErrNoDORASnapshot is returned when no dora_snapshot job has run yet.
var ErrNoDORASnapshot = errors.New("no DORA snapshot yet: enqueue a dora_snapshot job")

// DORAMetrics are the four DORA metrics of one environment over one window.
type DORAMetrics struct {
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// Deploys finished in the window, of which Succeeded and Failed (failed or
	// rolled back).
	Deploys   int `json:"deploys"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	// Deployment frequency: successful deploys per day and per week.
	DeploysPerDay  float64 `json:"deploys_per_day"`
	DeploysPerWeek float64 `json:"deploys_per_week"`
	// Lead time for changes: median seconds from the commit of a successfully
	// deployed revision to the end of its deploy; nil when no commit time is known.
	LeadTimeSeconds *float64 `json:"lead_time_seconds"`
	LeadTimeKnown   int      `json:"lead_time_known"`
	LeadTimeUnknown int      `json:"lead_time_unknown"`
	// Change failure rate: Failed / Deploys; nil without deploys.
	ChangeFailureRate *float64 `json:"change_failure_rate"`
	// Time to restore: median seconds from each failed deploy of the window to the
	// next successful deploy (which may come after the window); nil when none was
	// restored. Unrestored counts failures with no success after them yet.
	TimeToRestoreSeconds *float64 `json:"time_to_restore_seconds"`
	Restored             int      `json:"restored"`
	Unrestored           int      `json:"unrestored"`
	// Bands are the DORA performance band of each metric: elite, high, medium, low,
	// or "n/a" when the metric is unknown.
	Bands DORABands `json:"bands"`
}

// DORABands holds a performance band per metric.
type DORABands struct {
	DeploymentFrequency string `json:"deployment_frequency"`
	LeadTime            string `json:"lead_time"`
	ChangeFailureRate   string `json:"change_failure_rate"`
	TimeToRestore       string `json:"time_to_restore"`
}

// DORASnapshot is one row of iactq_dora_snapshots: the current window and the one
// before it, for the trend.
type DORASnapshot struct {
	ID             int64       `json:"id"`
	JobID          int64       `json:"job_id"`
	Env            string      `json:"env"`
	WindowDays     int         `json:"window_days"`
	ComputedAt     time.Time   `json:"computed_at"`
	LeadTimeSource string      `json:"lead_time_source"` // "git" or "deploys"
	Current        DORAMetrics `json:"current"`
	Previous       DORAMetrics `json:"previous"`
}

// The band thresholds, from the State of DevOps reports (2019 for deployment
// frequency, 2021 for the others), with the gaps between the published bands closed
// (a value between two bands gets the lower one). See docs/kinds/dora_snapshot.md.
const (
	doraDay   = 24 * time.Hour
	doraWeek  = 7 * doraDay
	doraMonth = 30 * doraDay
)

// doraFrequencyBand: elite at least daily, high at least weekly, medium at least
// monthly, low less often.
func doraFrequencyBand(perDay float64) string {
	switch {
	case perDay >= 1:
		return "elite"
	case perDay >= 1.0/7:
		return "high"
	case perDay >= 1.0/30:
		return "medium"
	}
	return "low"
}

// doraLeadTimeBand: elite under an hour, high under a week, medium under six months.
func doraLeadTimeBand(seconds *float64) string {
	return doraDurationBand(seconds, time.Hour, doraWeek, 6*doraMonth)
}

// doraRestoreBand: elite under an hour, high under a day, medium under a week.
func doraRestoreBand(seconds *float64) string {
	return doraDurationBand(seconds, time.Hour, doraDay, doraWeek)
}

func doraDurationBand(seconds *float64, elite, high, medium time.Duration) string {
	if seconds == nil {
		return "n/a"
	}
	d := time.Duration(*seconds * float64(time.Second))
	switch {
	case d < elite:
		return "elite"
	case d < high:
		return "high"
	case d < medium:
		return "medium"
	}
	return "low"
}

// doraFailureBand: elite up to 15%, high up to 30%, medium up to 45%, low above.
func doraFailureBand(rate *float64) string {
	switch {
	case rate == nil:
		return "n/a"
	case *rate <= 0.15:
		return "elite"
	case *rate <= 0.30:
		return "high"
	case *rate <= 0.45:
		return "medium"
	}
	return "low"
}

// doraDeploy is a finished deploy of the history.
type doraDeploy struct {
	ID         int64
	Failed     bool // failed or rolled back
	FinishedAt time.Time
	CommitTime time.Time // zero: unknown
}

// computeDORA computes the metrics of the window [start, end) from history: finished
// deploys of one environment in order of their end, from before start (for runs of
// failures that began earlier) to now (for restores after end).
func computeDORA(history []doraDeploy, start, end time.Time) DORAMetrics {
	m := DORAMetrics{WindowStart: start, WindowEnd: end}
	in := func(t time.Time) bool { return !t.Before(start) && t.Before(end) }
	var leads, restores []float64
	var pending []time.Time // failures in the window not yet followed by a success
	for _, d := range history {
		if !d.Failed {
			for _, f := range pending {
				restores = append(restores, d.FinishedAt.Sub(f).Seconds())
			}
			pending = pending[:0]
		}
		if !in(d.FinishedAt) {
			continue
		}
		m.Deploys++
		if d.Failed {
			m.Failed++
			pending = append(pending, d.FinishedAt)
			continue
		}
		m.Succeeded++
		if d.CommitTime.IsZero() {
			m.LeadTimeUnknown++
			continue
		}
		m.LeadTimeKnown++
		leads = append(leads, max(0, d.FinishedAt.Sub(d.CommitTime).Seconds()))
	}
	m.Unrestored = len(pending)
	days := end.Sub(start).Hours() / 24
	if days > 0 {
		m.DeploysPerDay = float64(m.Succeeded) / days
		m.DeploysPerWeek = m.DeploysPerDay * 7
	}
	m.LeadTimeSeconds = doraMedian(leads)
	m.Restored = len(restores)
	m.TimeToRestoreSeconds = doraMedian(restores)
	if m.Deploys > 0 {
		rate := float64(m.Failed) / float64(m.Deploys)
		m.ChangeFailureRate = &rate
	}
	m.Bands = DORABands{
		DeploymentFrequency: doraFrequencyBand(m.DeploysPerDay),
		LeadTime:            doraLeadTimeBand(m.LeadTimeSeconds),
		ChangeFailureRate:   doraFailureBand(m.ChangeFailureRate),
		TimeToRestore:       doraRestoreBand(m.TimeToRestoreSeconds),
	}
	return m
}

// doraMedian is the median of xs, nil when empty.
func doraMedian(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return &m
}

// gitCommitTime is the committer time of revision in the git repository repo. The
// revision is validated and passed as one argv element, never through a shell.
func gitCommitTime(ctx context.Context, repo, revision string) (time.Time, error) {
	if err := validateRevision(revision); err != nil {
		return time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "-C", repo, "show", "-s", "--format=%cI", revision+"^{commit}", "--")
	cmd.Env = append(deployCommandEnv(nil), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return time.Time{}, fmt.Errorf("git show %s: %v: %s", revision, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return time.Time{}, fmt.Errorf("git show %s: %w", revision, err)
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(out)))
	if err != nil {
		return time.Time{}, fmt.Errorf("git show %s: commit time %q: %w", revision, strings.TrimSpace(string(out)), err)
	}
	return t.UTC(), nil
}

type doraWorker struct{ deps Deps }

func (w *doraWorker) Work(ctx context.Context, job *queue.Job[DORASnapshotArgs]) error {
	days := job.Args.WindowDays
	if days == 0 {
		days = 30
	}
	cfg := w.deps.Config.DORA
	env := cfg.Env
	if env == "" {
		env = "production"
	}
	now := w.deps.Now().UTC()
	window := time.Duration(days) * doraDay
	start, prevStart := now.Add(-window), now.Add(-2*window)
	q := jobsdb.New(w.deps.DB)
	rows, err := q.DeployFinishedSince(ctx, jobsdb.DeployFinishedSinceParams{Env: env, Since: sql.NullTime{Time: prevStart, Valid: true}})
	if err != nil {
		return fmt.Errorf("read the deploy history: %w", err)
	}
	source := "deploys"
	if cfg.GitRepo != "" {
		source = "git"
	}
	commits := map[string]time.Time{}
	history := make([]doraDeploy, 0, len(rows))
	for _, r := range rows {
		d := doraDeploy{ID: r.ID, Failed: r.State != jobsdb.IactqDeploysStateSucceeded, FinishedAt: r.FinishedAt.Time, CommitTime: r.CommitTime.Time}
		if !d.Failed && cfg.GitRepo != "" {
			t, ok := commits[r.Revision]
			if !ok {
				if t, err = gitCommitTime(ctx, cfg.GitRepo, r.Revision); err != nil {
					zerolog.Ctx(ctx).Warn().Err(err).Int64("deploy_id", r.ID).Msg("dora: no commit time from git")
				}
				commits[r.Revision] = t
			}
			if !t.IsZero() {
				d.CommitTime = t
			}
		}
		history = append(history, d)
	}
	snap := DORASnapshot{
		JobID:          job.ID,
		Env:            env,
		WindowDays:     days,
		ComputedAt:     now,
		LeadTimeSource: source,
		Current:        computeDORA(history, start, now),
		Previous:       computeDORA(history, prevStart, start),
	}
	metrics, err := json.Marshal(snap)
	if err != nil {
		return queue.Permanent(err)
	}
	c := snap.Current
	id, err := q.DoraSnapshotInsert(ctx, jobsdb.DoraSnapshotInsertParams{
		JobID:                sql.NullInt64{Int64: job.ID, Valid: true},
		Env:                  env,
		WindowDays:           int32(days),
		WindowStart:          start,
		WindowEnd:            now,
		ComputedAt:           now,
		Deploys:              int32(c.Deploys),
		DeploysPerDay:        c.DeploysPerDay,
		LeadTimeSeconds:      doraNullFloat(c.LeadTimeSeconds),
		ChangeFailureRate:    doraNullFloat(c.ChangeFailureRate),
		TimeToRestoreSeconds: doraNullFloat(c.TimeToRestoreSeconds),
		Metrics:              metrics,
	})
	if err != nil {
		return fmt.Errorf("store the DORA snapshot: %w", err)
	}
	job.Report(fmt.Sprintf("DORA snapshot #%d for %s over %d days: %s. See: iactq dora", id, env, days, DORASummary(c)))
	return nil
}

// DORASummary says the four metrics of m in one line.
func DORASummary(m DORAMetrics) string {
	return fmt.Sprintf("%.2f deploys/day (%s), lead time %s (%s), change failure rate %s (%s), time to restore %s (%s)",
		m.DeploysPerDay, m.Bands.DeploymentFrequency,
		DORADuration(m.LeadTimeSeconds), m.Bands.LeadTime,
		DORAPercent(m.ChangeFailureRate), m.Bands.ChangeFailureRate,
		DORADuration(m.TimeToRestoreSeconds), m.Bands.TimeToRestore)
}

// DORADuration writes seconds for people: 45m, 3h20m, 2d4h; "unknown" for nil.
func DORADuration(seconds *float64) string {
	if seconds == nil {
		return "unknown"
	}
	d := time.Duration(*seconds * float64(time.Second)).Round(time.Minute)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.0fs", *seconds)
	case d < doraDay:
		return strings.TrimSuffix(d.String(), "0s")
	}
	return fmt.Sprintf("%dd%dh", int(d/doraDay), int(d%doraDay/time.Hour))
}

// DORAPercent writes a rate as a percentage; "unknown" for nil.
func DORAPercent(rate *float64) string {
	if rate == nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f%%", *rate*100)
}

func doraNullFloat(p *float64) sql.NullFloat64 {
	if p == nil {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: *p, Valid: true}
}

// LatestDORASnapshot returns the newest snapshot, of env unless env is empty.
func LatestDORASnapshot(ctx context.Context, db *sql.DB, env string) (DORASnapshot, error) {
	r, err := jobsdb.New(db).DoraSnapshotLatest(ctx, jobsdb.DoraSnapshotLatestParams{Env: env})
	if errors.Is(err, sql.ErrNoRows) {
		return DORASnapshot{}, ErrNoDORASnapshot
	}
	if err != nil {
		return DORASnapshot{}, fmt.Errorf("read the latest DORA snapshot: %w", err)
	}
	var s DORASnapshot
	if err := json.Unmarshal(r.Metrics, &s); err != nil {
		return DORASnapshot{}, fmt.Errorf("DORA snapshot %d: %w", r.ID, err)
	}
	s.ID = r.ID
	s.JobID = r.JobID.Int64
	return s, nil
}
