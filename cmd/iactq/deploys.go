package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iact/iactq/jobs"
)

// deploysCmd is `iactq deploys [show ID]`.
func (a *app) deploysCmd() *cobra.Command {
	var env string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "deploys [--env ENV] [--limit N] [--json] | deploys show ID",
		Short: "Deployment history, and each step's exit code and log",
		Long: `deploys lists the deployments made by deploy jobs, newest first: environment,
revision, state (queued, running, succeeded, failed, rolled_back), who asked, when it
ran, and the step that failed. 'deploys show ID' prints one deploy's steps with their
commands, exit codes and durations, then each step's output (the last 64 KiB).

A deploy is started with 'iactq enqueue deploy --args '{"env":"staging","revision":"REV"}''.`,
		Example: `  iactq deploys
  iactq deploys --env production --limit 10
  iactq deploys show 12
  iactq deploys show 12 --step healthcheck`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			if err := checkEnvFlag(env); err != nil {
				return err
			}
			ctx := cmd.Context()
			db, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			ds, err := jobs.ListDeploys(ctx, db, env, limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				rows := make([]deployJSON, len(ds))
				for i, d := range ds {
					rows[i] = toDeployJSON(d, nil)
				}
				return writeJSON(out, rows)
			}
			if len(ds) == 0 {
				fmt.Fprintln(out, "no deploys")
				return nil
			}
			now := time.Now()
			tw := newTable(out)
			fmt.Fprintln(tw, "ID\tJOB\tENV\tREVISION\tSTATE\tFAILED-STEP\tREQUESTED-BY\tSTARTED\tTOOK")
			for _, d := range ds {
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.JobID, d.Env, d.Revision, d.State,
					dash(d.FailedStep), dash(d.RequestedBy), ago(d.StartedAt, now), took(d.StartedAt, d.FinishedAt))
			}
			return tw.Flush()
		}),
	}
	f := cmd.Flags()
	f.StringVar(&env, "env", "", "only deploys of this environment (staging or production)")
	f.IntVar(&limit, "limit", 50, "show at most N deploys")
	f.BoolVar(&asJSON, "json", false, "print a JSON array")
	cmd.AddCommand(a.deploysShowCmd())
	return cmd
}

func (a *app) deploysShowCmd() *cobra.Command {
	var step string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID [--step STEP] [--json]",
		Short: "One deploy: its steps, exit codes and logs",
		Long: `show prints a deploy (by its deploy id, as in 'iactq deploys' and in the outcome
message), its steps in order with the command run, exit code (-1: could not start or
timed out) and duration, then the output of each step. --step prints only that step's
output. A deploy that does not exist exits with status 1.`,
		Example: `  iactq deploys show 12
  iactq deploys show 12 --step healthcheck
  iactq deploys show 12 --json | jq '.steps[] | {step, exit_code}'`,
		Args: cobra.ExactArgs(1),
		RunE: a.action(func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return usagef("invalid deploy id %q: expected a positive integer", args[0])
			}
			if step != "" && step != "rollback" && !knownDeployStep(step) {
				return usagef("invalid --step %q: use one of %s, rollback", step, strings.Join(jobs.DeploySteps, ", "))
			}
			ctx := cmd.Context()
			db, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			d, steps, err := jobs.GetDeploy(ctx, db, id)
			if errors.Is(err, jobs.ErrDeployNotFound) {
				return fmt.Errorf("deploy %d not found", id)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, toDeployJSON(d, steps))
			}
			if step != "" {
				for _, s := range steps {
					if s.Step == step {
						_, err := io.WriteString(out, s.Output)
						return err
					}
				}
				return fmt.Errorf("deploy %d has no %s step (yet)", id, step)
			}
			writeDeploy(out, d, steps, time.Now())
			return nil
		}),
	}
	cmd.Flags().StringVar(&step, "step", "", "print only this step's output")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the deploy and its steps as JSON")
	return cmd
}

func writeDeploy(out io.Writer, d jobs.Deploy, steps []jobs.DeployStep, now time.Time) {
	tw := newTable(out)
	fmt.Fprintf(tw, "Deploy:\t#%d (job %d)\n", d.ID, d.JobID)
	fmt.Fprintf(tw, "Environment:\t%s\n", d.Env)
	fmt.Fprintf(tw, "Revision:\t%s\n", d.Revision)
	state := d.State
	if d.FailedStep != "" {
		state += " (failed step: " + d.FailedStep + ")"
	}
	fmt.Fprintf(tw, "State:\t%s\n", state)
	fmt.Fprintf(tw, "Requested by:\t%s\n", dash(d.RequestedBy))
	fmt.Fprintf(tw, "Created:\t%s\n", when(d.CreatedAt, now))
	fmt.Fprintf(tw, "Started:\t%s\n", when(d.StartedAt, now))
	fmt.Fprintf(tw, "Finished:\t%s\n", when(d.FinishedAt, now))
	if !d.CommitTime.IsZero() {
		fmt.Fprintf(tw, "Commit time:\t%s\n", localTime(d.CommitTime))
	}
	_ = tw.Flush()
	fmt.Fprintln(out)
	if len(steps) == 0 {
		fmt.Fprintln(out, "no steps yet")
		return
	}
	tw = newTable(out)
	fmt.Fprintln(tw, "SEQ\tSTEP\tEXIT\tTOOK\tCOMMAND")
	for _, s := range steps {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", s.Seq, s.Step, exitText(s.ExitCode), took(s.StartedAt, s.FinishedAt), clipCommand(s.Command, 80))
	}
	_ = tw.Flush()
	for _, s := range steps {
		fmt.Fprintf(out, "\n--- %d %s (exit %s) ---\n", s.Seq, s.Step, exitText(s.ExitCode))
		if s.Output == "" {
			fmt.Fprintln(out, "(no output)")
			continue
		}
		fmt.Fprint(out, s.Output)
		if !strings.HasSuffix(s.Output, "\n") {
			fmt.Fprintln(out)
		}
	}
}

func exitText(code *int) string {
	if code == nil {
		return "running"
	}
	return fmt.Sprint(*code)
}

// took is how long from start to end, "-" when either is missing.
func took(start, end time.Time) string {
	if start.IsZero() || end.IsZero() {
		return "-"
	}
	d := end.Sub(start)
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return shortDuration(d)
}

// checkEnvFlag refuses an --env that is not a deploy environment (empty means all).
func checkEnvFlag(env string) error {
	if env != "" && !slices.Contains(jobs.DeployEnvs, env) {
		return usagef("invalid --env %q: use %s", env, strings.Join(jobs.DeployEnvs, " or "))
	}
	return nil
}

func knownDeployStep(step string) bool {
	for _, s := range jobs.DeploySteps {
		if s == step {
			return true
		}
	}
	return false
}

// doraCmd is `iactq dora`.
func (a *app) doraCmd() *cobra.Command {
	var env string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "dora [--env ENV] [--json]",
		Short: "The latest DORA metrics snapshot, with the trend and performance bands",
		Long: `dora prints the newest snapshot stored by a dora_snapshot job: deployment
frequency, lead time for changes, change failure rate and time to restore over its
window, the same over the window before it (the trend), and the DORA performance band
of each (elite, high, medium, low):

  deployment frequency   elite >= 1/day, high >= 1/week, medium >= 1/month, low below
  lead time for changes  elite < 1h, high < 1 week, medium < 6 months, low above
  change failure rate    elite <= 15%, high <= 30%, medium <= 45%, low above
  time to restore        elite < 1h, high < 1 day, medium < 1 week, low above

Take a snapshot with 'iactq enqueue dora_snapshot --args '{"window_days":30}''.`,
		Example: `  iactq dora
  iactq dora --json | jq .current.bands`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			if err := checkEnvFlag(env); err != nil {
				return err
			}
			ctx := cmd.Context()
			db, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			s, err := jobs.LatestDORASnapshot(ctx, db, env)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), s)
			}
			writeDORA(cmd.OutOrStdout(), s, time.Now())
			return nil
		}),
	}
	cmd.Flags().StringVar(&env, "env", "", "the newest snapshot of this environment (default: the newest of any)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the snapshot as JSON")
	return cmd
}

func writeDORA(out io.Writer, s jobs.DORASnapshot, now time.Time) {
	c, p := s.Current, s.Previous
	fmt.Fprintf(out, "DORA metrics of %s over the last %d days (%s to %s)\n", s.Env, s.WindowDays,
		c.WindowStart.Local().Format("2006-01-02 15:04"), c.WindowEnd.Local().Format("2006-01-02 15:04"))
	fmt.Fprintf(out, "snapshot #%d (job %d), computed %s; lead times from %s\n\n", s.ID, s.JobID, when(s.ComputedAt, now), leadSource(s.LeadTimeSource))
	tw := newTable(out)
	fmt.Fprintf(tw, "METRIC\tNOW\tBAND\tPREVIOUS %d DAYS\tBAND\tTREND\n", s.WindowDays)
	freq := func(m jobs.DORAMetrics) string {
		return fmt.Sprintf("%.2f/day (%.1f/week)", m.DeploysPerDay, m.DeploysPerWeek)
	}
	cfr := func(m jobs.DORAMetrics) string {
		if m.ChangeFailureRate == nil {
			return "unknown"
		}
		return fmt.Sprintf("%s (%d of %d)", jobs.DORAPercent(m.ChangeFailureRate), m.Failed, m.Deploys)
	}
	fmt.Fprintf(tw, "deployment frequency\t%s\t%s\t%s\t%s\t%s\n", freq(c), c.Bands.DeploymentFrequency, freq(p), p.Bands.DeploymentFrequency,
		trend(&c.DeploysPerDay, &p.DeploysPerDay, true))
	fmt.Fprintf(tw, "lead time for changes\t%s\t%s\t%s\t%s\t%s\n", jobs.DORADuration(c.LeadTimeSeconds), c.Bands.LeadTime,
		jobs.DORADuration(p.LeadTimeSeconds), p.Bands.LeadTime, trend(c.LeadTimeSeconds, p.LeadTimeSeconds, false))
	fmt.Fprintf(tw, "change failure rate\t%s\t%s\t%s\t%s\t%s\n", cfr(c), c.Bands.ChangeFailureRate, cfr(p), p.Bands.ChangeFailureRate,
		trend(c.ChangeFailureRate, p.ChangeFailureRate, false))
	fmt.Fprintf(tw, "time to restore\t%s\t%s\t%s\t%s\t%s\n", jobs.DORADuration(c.TimeToRestoreSeconds), c.Bands.TimeToRestore,
		jobs.DORADuration(p.TimeToRestoreSeconds), p.Bands.TimeToRestore, trend(c.TimeToRestoreSeconds, p.TimeToRestoreSeconds, false))
	_ = tw.Flush()
	fmt.Fprintf(out, "\n%d deploys (%d succeeded, %d failed or rolled back); lead time known for %d of %d; %d failure(s) restored, %d not yet\n",
		c.Deploys, c.Succeeded, c.Failed, c.LeadTimeKnown, c.LeadTimeKnown+c.LeadTimeUnknown, c.Restored, c.Unrestored)
}

func leadSource(s string) string {
	if s == "git" {
		return "the git repository (jobs.dora.git_repo)"
	}
	return "the commit times recorded on the deploys"
}

// trend compares a metric with the previous window's: better, worse or same.
func trend(now, before *float64, higherIsBetter bool) string {
	switch {
	case now == nil || before == nil:
		return "-"
	case *now == *before:
		return "same"
	case (*now > *before) == higherIsBetter:
		return "better"
	}
	return "worse"
}

// clipCommand writes argv on one line, cut to n runes.
func clipCommand(argv []string, n int) string {
	r := []rune(strings.Join(strings.Fields(strings.Join(argv, " ")), " "))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-3]) + "..."
}

// deployJSON is a deploy as the CLI prints it in JSON: times in RFC 3339, null when
// unset.
type deployJSON struct {
	ID          int64            `json:"id"`
	JobID       int64            `json:"job_id"`
	Env         string           `json:"env"`
	Revision    string           `json:"revision"`
	State       string           `json:"state"`
	FailedStep  string           `json:"failed_step,omitempty"`
	RequestedBy string           `json:"requested_by,omitempty"`
	CreatedAt   *string          `json:"created_at"`
	StartedAt   *string          `json:"started_at"`
	FinishedAt  *string          `json:"finished_at"`
	CommitTime  *string          `json:"commit_time"`
	Steps       []deployStepJSON `json:"steps,omitempty"`
}

type deployStepJSON struct {
	Seq        int      `json:"seq"`
	Step       string   `json:"step"`
	Command    []string `json:"command"`
	ExitCode   *int     `json:"exit_code"`
	StartedAt  *string  `json:"started_at"`
	FinishedAt *string  `json:"finished_at"`
	Output     string   `json:"output"`
}

func toDeployJSON(d jobs.Deploy, steps []jobs.DeployStep) deployJSON {
	out := deployJSON{
		ID: d.ID, JobID: d.JobID, Env: d.Env, Revision: d.Revision, State: d.State,
		FailedStep: d.FailedStep, RequestedBy: d.RequestedBy,
		CreatedAt: jsonTime(d.CreatedAt), StartedAt: jsonTime(d.StartedAt),
		FinishedAt: jsonTime(d.FinishedAt), CommitTime: jsonTime(d.CommitTime),
	}
	for _, s := range steps {
		out.Steps = append(out.Steps, deployStepJSON{
			Seq: s.Seq, Step: s.Step, Command: s.Command, ExitCode: s.ExitCode,
			StartedAt: jsonTime(s.StartedAt), FinishedAt: jsonTime(s.FinishedAt), Output: s.Output,
		})
	}
	return out
}
