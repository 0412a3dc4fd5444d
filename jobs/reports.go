package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
	_ "time/tzdata" // report time zones work on hosts without a zoneinfo database

	"github.com/iact/iactq/jobs/internal/jobsdb"
	"github.com/iact/iactq/queue"
)

// ReportsConfig configures the IVR analytics reports (dashboard_metrics,
// call_flow_analysis, abandonment_report, call_volume_trend): the `jobs: reports:`
// section of the config file.
type ReportsConfig struct {
	// Timezone is the IANA zone of the hour and day buckets and of dates in periods
	// ("2026-11-01/2026-11-08" is midnight to midnight there). Default UTC.
	Timezone string `yaml:"timezone"`
	// MaxPeriodDays bounds a report's period; a longer one discards the job. Default 93.
	MaxPeriodDays int `yaml:"max_period_days"`
	// DefaultGranularity is used when a job gives none: hour or day. Default hour.
	DefaultGranularity string `yaml:"default_granularity"`
	// TopPaths is how many paths call_flow_analysis lists when a job gives no top.
	// Default 10.
	TopPaths int `yaml:"top_paths"`
	// OutputDir, when set, receives a CSV file of each report's main table, named
	// KIND-job-JOBID.csv (names iactq makes itself: nothing is written outside the
	// folder). Created when missing. Default: none, reports live in iactq_reports.
	OutputDir string `yaml:"output_dir"`
	// Timeout bounds one attempt of a report. Default 10m.
	Timeout time.Duration `yaml:"timeout"`
}

func defaultReportsConfig() ReportsConfig {
	return ReportsConfig{
		Timezone:           "UTC",
		MaxPeriodDays:      93,
		DefaultGranularity: "hour",
		TopPaths:           10,
		Timeout:            10 * time.Minute,
	}
}

// maxPeriodDaysLimit is the longest period any config may allow (and what args
// validation checks before the config is known).
const maxPeriodDaysLimit = 3660

func (c ReportsConfig) validate() error {
	if _, err := c.location(); err != nil {
		return err
	}
	if c.MaxPeriodDays < 1 || c.MaxPeriodDays > maxPeriodDaysLimit {
		return fmt.Errorf("max_period_days %d is out of range 1..%d", c.MaxPeriodDays, maxPeriodDaysLimit)
	}
	if c.DefaultGranularity != "hour" && c.DefaultGranularity != "day" {
		return fmt.Errorf("default_granularity %q: use hour or day", c.DefaultGranularity)
	}
	if c.TopPaths < 1 || c.TopPaths > 1000 {
		return fmt.Errorf("top_paths %d is out of range 1..1000", c.TopPaths)
	}
	if c.Timeout < time.Second || c.Timeout > 24*time.Hour {
		return fmt.Errorf("timeout %s is out of range 1s..24h", c.Timeout)
	}
	if c.OutputDir != "" {
		if strings.ContainsRune(c.OutputDir, 0) {
			return errors.New("output_dir contains a NUL byte")
		}
		if filepath.Clean(c.OutputDir) == string(filepath.Separator) {
			return errors.New("output_dir must not be the root directory")
		}
	}
	return nil
}

func (c ReportsConfig) location() (*time.Location, error) {
	if c.Timezone == "" {
		return nil, errors.New("timezone is empty: use an IANA zone such as UTC or Europe/Lisbon")
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone %q is not a known IANA zone (such as UTC or Europe/Lisbon)", c.Timezone)
	}
	return loc, nil
}

func registerReports(r *queue.Registry, d Deps) {
	timeout := d.Config.Reports.Timeout
	if timeout <= 0 {
		timeout = defaultReportsConfig().Timeout
	}
	queue.Register(r, reportWorker(d, buildDashboard), queue.WithTimeout(timeout))
	queue.Register(r, reportWorker(d, buildFlowAnalysis), queue.WithTimeout(timeout))
	queue.Register(r, reportWorker(d, buildAbandonment), queue.WithTimeout(timeout))
	queue.Register(r, reportWorker(d, buildVolumeTrend), queue.WithTimeout(timeout))
}

// reportEnv is what a report builder gets: the queries, the config, the resolved
// period and its buckets' zone.
type reportEnv struct {
	q   *jobsdb.Queries
	cfg ReportsConfig
	loc *time.Location
	now time.Time
}

// resolve turns the job's period and granularity into instants and a bucketer,
// applying the config's defaults and limits. Its errors are permanent: the job's args
// cannot work with this config.
func (e reportEnv) resolve(periodArg, granularity string) (period, bucketer, error) {
	p, err := parsePeriod(periodArg, e.now, e.loc)
	if err != nil {
		return period{}, bucketer{}, queue.Permanent(fmt.Errorf("period: %w", err))
	}
	if limit := time.Duration(e.cfg.MaxPeriodDays) * 24 * time.Hour; p.To.Sub(p.From) > limit {
		return period{}, bucketer{}, queue.Permanentf("period %q is longer than the %d days allowed (config jobs.reports.max_period_days)", p.Label, e.cfg.MaxPeriodDays)
	}
	if granularity == "" {
		granularity = e.cfg.DefaultGranularity
	}
	return p, bucketer{granularity: granularity, loc: e.loc}, nil
}

// reportArgs are the args of a report kind.
type reportArgs interface {
	queue.Args
	queue.Validator
}

// reportWorker runs a report kind: build the result, store it under the job's id,
// write its CSV when configured, and tell the requester what it found.
func reportWorker[T reportArgs](d Deps, build func(context.Context, reportEnv, T) (*ReportResult, error)) queue.WorkFunc[T] {
	return func(ctx context.Context, job *queue.Job[T]) error {
		if d.DB == nil {
			return errors.New("reports: no database")
		}
		cfg := d.Config.Reports
		if cfg == (ReportsConfig{}) {
			cfg = defaultReportsConfig()
		}
		loc, err := cfg.location()
		if err != nil {
			return queue.Permanent(fmt.Errorf("config jobs.reports: %w", err))
		}
		now := time.Now
		if d.Now != nil {
			now = d.Now
		}
		env := reportEnv{q: jobsdb.New(d.DB), cfg: cfg, loc: loc, now: now().UTC().Truncate(time.Second)}
		res, err := build(ctx, env, job.Args)
		if err != nil {
			return err
		}
		res.Kind = job.Args.Kind()
		res.Timezone = loc.String()
		res.GeneratedAt = env.now
		if res.NoData, err = noDataNote(ctx, env.q, res, loc); err != nil {
			return err
		}
		if res.NoData != "" {
			res.Summary = res.Title + ": " + res.NoData
		}
		if err := storeReport(ctx, env.q, job.JobRow, job.Args, res); err != nil {
			return err
		}
		if cfg.OutputDir != "" {
			if err := writeReportCSV(cfg.OutputDir, job.ID, res); err != nil {
				return fmt.Errorf("write CSV: %w", err)
			}
		}
		job.Report(fmt.Sprintf("%s — iactq reports show %d", res.Summary, job.ID))
		return nil
	}
}

// storeReport upserts the job's row of iactq_reports.
func storeReport(ctx context.Context, q *jobsdb.Queries, job *queue.JobRow, args any, res *ReportResult) error {
	params, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("encode params: %w", err)
	}
	result, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	err = q.ReportUpsert(ctx, jobsdb.ReportUpsertParams{
		JobID:     job.ID,
		Kind:      job.Kind,
		Params:    params,
		Result:    result,
		Summary:   truncateRunes(res.Summary, 1000),
		CreatedAt: res.GeneratedAt,
	})
	if err != nil {
		return fmt.Errorf("store report of job %d: %w", job.ID, err)
	}
	return nil
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// validateFlowID checks a flow id argument.
// ReportScope is what the time-series reports (dashboard_metrics, abandonment_report,
// call_volume_trend) cover: a period cut into buckets, and every flow or one.
type ReportScope struct {
	// Period: "last 24h" (default), "last 7d", "today", "2026-11-01/2026-11-08", ...
	Period string `json:"period,omitempty"`
	// Granularity: "hour" or "day" (default from the config, hour).
	Granularity string `json:"granularity,omitempty"`
	// FlowID limits the report to one IVR flow; empty means every flow.
	FlowID string `json:"flow_id,omitempty"`
}

// Validate implements queue.Validator (for the args that embed the scope).
func (s ReportScope) Validate() error {
	if err := validatePeriodArgs(s.Period, s.Granularity); err != nil {
		return err
	}
	return validateFlowID(s.FlowID)
}

// load resolves the scope's period and buckets and reads its calls.
func (s ReportScope) load(ctx context.Context, env reportEnv) (period, bucketer, []callRow, error) {
	p, b, err := env.resolve(s.Period, s.Granularity)
	if err != nil {
		return period{}, bucketer{}, nil, err
	}
	calls, err := loadCalls(ctx, env.q, s.FlowID, p.From, p.To)
	return p, b, calls, err
}

func validateFlowID(id string) error {
	if len(id) > 64 {
		return fmt.Errorf("flow_id %q is longer than 64 characters", id[:20]+"...")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("flow_id %q: use letters, digits, '_', '-' and '.'", id)
		}
	}
	return nil
}

// validatePeriodArgs checks the args every report shares, before the config is known.
func validatePeriodArgs(periodArg, granularity string) error {
	p, err := parsePeriod(periodArg, time.Now(), time.UTC)
	if err != nil {
		return fmt.Errorf("period: %w", err)
	}
	if p.To.Sub(p.From) > maxPeriodDaysLimit*24*time.Hour {
		return fmt.Errorf("period %q is longer than %d days", periodArg, maxPeriodDaysLimit)
	}
	switch granularity {
	case "", "hour", "day":
	default:
		return fmt.Errorf("granularity %q: use hour or day", granularity)
	}
	return nil
}
