package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iact/iactq/queue"
)

func (a *app) jobsCmd() *cobra.Command {
	return groupCmd("jobs", "List, inspect, retry and cancel jobs",
		`jobs looks at and acts on single jobs of iactq_jobs. A job is available (due), scheduled
(due later), running, retryable (failed, waiting for its next attempt), or finished:
completed, discarded (attempts used up, or a permanent error) or cancelled.`,
		`  iactq jobs list --state retryable
  iactq jobs show 42
  iactq jobs retry 42
  iactq jobs cancel 42`,
		a.jobsListCmd(), a.jobsShowCmd(), a.jobsRetryCmd(), a.jobsCancelCmd())
}

var allStates = []queue.State{
	queue.StateAvailable, queue.StateScheduled, queue.StateRunning, queue.StateRetryable,
	queue.StateCompleted, queue.StateDiscarded, queue.StateCancelled,
}

func (a *app) jobsListCmd() *cobra.Command {
	var state, kind, q string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--state S] [--kind K] [--queue Q] [--limit N] [--json]",
		Short: "List jobs, newest first",
		Long: `list shows the newest jobs, optionally only those of one state, kind or queue.
--json prints every column as a JSON array.`,
		Example: `  iactq jobs list
  iactq jobs list --state discarded --kind dashboard_metrics
  iactq jobs list --queue reports --limit 200 --json`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			if state != "" && !validState(queue.State(state)) {
				return usagef("invalid --state %q: use one of %s", state, stateNames())
			}
			ctx := cmd.Context()
			c, db, err := a.client(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			js, err := c.ListJobs(ctx, queue.JobFilter{State: queue.State(state), Kind: kind, Queue: q, Limit: limit})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				rows := make([]jobJSON, len(js))
				for i, j := range js {
					rows[i] = toJobJSON(j)
				}
				return writeJSON(out, rows)
			}
			if len(js) == 0 {
				fmt.Fprintln(out, "no jobs")
				return nil
			}
			now := time.Now()
			tw := newTable(out)
			fmt.Fprintln(tw, "ID\tKIND\tQUEUE\tSTATE\tATTEMPT\tCREATED\tSCHEDULED\tFINISHED\tREQUESTED-BY")
			for _, j := range js {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", j.ID, j.Kind, j.Queue, j.State,
					j.Attempt, j.MaxAttempts, ago(j.CreatedAt, now), ago(j.ScheduledAt, now), ago(j.FinishedAt, now), dash(j.RequestedBy))
			}
			return tw.Flush()
		}),
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "", "only jobs in this state ("+stateNames()+")")
	f.StringVar(&kind, "kind", "", "only jobs of this kind")
	f.StringVar(&q, "queue", "", "only jobs of this queue")
	f.IntVar(&limit, "limit", 50, "show at most N jobs")
	f.BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func (a *app) jobsShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show one job: every column, its args and its errors",
		Long: `show prints every column of a job, its args as indented JSON, and the error of
each failed attempt. A job that does not exist exits with status 1.`,
		Example: `  iactq jobs show 42
  iactq jobs show 42 --json | jq .errors`,
		Args: cobra.ExactArgs(1),
		RunE: a.action(func(cmd *cobra.Command, args []string) error {
			return a.onJob(cmd, args[0], func(ctx context.Context, c *queue.Client, id int64) error {
				j, err := c.GetJob(ctx, id)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), toJobJSON(j))
				}
				writeJob(cmd.OutOrStdout(), j, time.Now())
				return nil
			})
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the job as JSON")
	return cmd
}

func (a *app) jobsRetryCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "retry ID",
		Short: "Run a finished or waiting job again now",
		Long: `retry makes a job available now, as a new request: a discarded, cancelled or
completed job gets at least one more attempt, and a scheduled or retryable one stops
waiting. Its SLA clock restarts. A running or already available job cannot be
retried (exit status 1).`,
		Example: `  iactq jobs retry 42`,
		Args:    cobra.ExactArgs(1),
		RunE: a.action(func(cmd *cobra.Command, args []string) error {
			return a.onJob(cmd, args[0], func(ctx context.Context, c *queue.Client, id int64) error {
				j, err := c.RetryJob(ctx, id)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "job %d is %s (attempt %d of %d used)\n", j.ID, j.State, j.Attempt, j.MaxAttempts)
				return nil
			})
		}),
	}
}

func (a *app) jobsCancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a job that has not finished",
		Long: `cancel ends a waiting or running job as cancelled; its requester is told. A
running job's worker stops it within a second or so and its outcome is ignored. A
finished job cannot be cancelled (exit status 1).`,
		Example: `  iactq jobs cancel 42`,
		Args:    cobra.ExactArgs(1),
		RunE: a.action(func(cmd *cobra.Command, args []string) error {
			return a.onJob(cmd, args[0], func(ctx context.Context, c *queue.Client, id int64) error {
				if _, err := c.CancelJob(ctx, id); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "job %d is cancelled\n", id)
				return nil
			})
		}),
	}
}

// onJob parses the job id arg, opens a client and runs fn, wording fn's errors about
// the job for people.
func (a *app) onJob(cmd *cobra.Command, arg string, fn func(ctx context.Context, c *queue.Client, id int64) error) error {
	id, err := parseID(arg)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	c, db, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := fn(ctx, c, id); err != nil {
		return jobError(id, err)
	}
	return nil
}

// jobError words the engine's errors about job id for people.
func jobError(id int64, err error) error {
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return fmt.Errorf("job %d not found", id)
	case errors.Is(err, queue.ErrConflict):
		return errors.New(strings.TrimSuffix(err.Error(), ": "+queue.ErrConflict.Error()))
	}
	return err
}

func validState(s queue.State) bool {
	for _, st := range allStates {
		if s == st {
			return true
		}
	}
	return false
}

func stateNames() string {
	names := make([]string, len(allStates))
	for i, s := range allStates {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// ago writes t relative to now, or "-".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return relative(t, now)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// jobJSON is a job as the CLI prints it in JSON.
type jobJSON struct {
	ID           int64                `json:"id"`
	Kind         string               `json:"kind"`
	Queue        string               `json:"queue"`
	State        queue.State          `json:"state"`
	Args         json.RawMessage      `json:"args"`
	Attempt      int                  `json:"attempt"`
	MaxAttempts  int                  `json:"max_attempts"`
	CreatedAt    *string              `json:"created_at"`
	ScheduledAt  *string              `json:"scheduled_at"`
	AvailableAt  *string              `json:"available_at"`
	AttemptedAt  *string              `json:"attempted_at"`
	FinishedAt   *string              `json:"finished_at"`
	Errors       []queue.AttemptError `json:"errors"`
	UniqueKey    *string              `json:"unique_key"`
	RequestedBy  *string              `json:"requested_by"`
	ScheduleName *string              `json:"schedule_name"`
	ClaimedBy    *int64               `json:"claimed_by"`
}

func toJobJSON(j *queue.JobRow) jobJSON {
	nullable := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	out := jobJSON{
		ID: j.ID, Kind: j.Kind, Queue: j.Queue, State: j.State, Args: j.Args,
		Attempt: j.Attempt, MaxAttempts: j.MaxAttempts,
		CreatedAt: jsonTime(j.CreatedAt), ScheduledAt: jsonTime(j.ScheduledAt), AvailableAt: jsonTime(j.AvailableAt),
		AttemptedAt: jsonTime(j.AttemptedAt), FinishedAt: jsonTime(j.FinishedAt),
		Errors:    j.AttemptErrors(),
		UniqueKey: nullable(j.UniqueKey), RequestedBy: nullable(j.RequestedBy), ScheduleName: nullable(j.ScheduleName),
	}
	if out.Errors == nil {
		out.Errors = []queue.AttemptError{}
	}
	if len(out.Args) == 0 {
		out.Args = json.RawMessage("{}")
	}
	if j.ClaimedBy != 0 {
		out.ClaimedBy = &j.ClaimedBy
	}
	return out
}

func writeJob(w io.Writer, j *queue.JobRow, now time.Time) {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("id", fmt.Sprint(j.ID))
	row("kind", j.Kind)
	row("queue", j.Queue)
	row("state", string(j.State))
	row("attempt", fmt.Sprintf("%d of %d", j.Attempt, j.MaxAttempts))
	row("created", when(j.CreatedAt, now))
	row("scheduled", when(j.ScheduledAt, now))
	row("available", when(j.AvailableAt, now))
	row("attempted", when(j.AttemptedAt, now))
	row("finished", when(j.FinishedAt, now))
	row("unique key", dash(j.UniqueKey))
	row("requested by", dash(j.RequestedBy))
	row("schedule", dash(j.ScheduleName))
	if j.ClaimedBy != 0 {
		row("claimed by", fmt.Sprintf("worker %d", j.ClaimedBy))
	}
	tw.Flush()
	var args bytes.Buffer
	if err := json.Indent(&args, j.Args, "  ", "  "); err != nil {
		args.Reset()
		args.Write(j.Args)
	}
	fmt.Fprintf(w, "args:\n  %s\n", args.String())
	errs := j.AttemptErrors()
	if len(errs) == 0 {
		fmt.Fprintln(w, "errors: none")
		return
	}
	fmt.Fprintln(w, "errors:")
	for _, e := range errs {
		msg := strings.ReplaceAll(strings.TrimRight(e.Error, "\n"), "\n", "\n      ")
		fmt.Fprintf(w, "  attempt %d at %s:\n      %s\n", e.Attempt, when(e.At, now), msg)
	}
}
