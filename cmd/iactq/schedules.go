package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) schedulesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "schedules [--json]",
		Short: "List periodic jobs with their next run and last outcome",
		Long: `schedules lists the periodic jobs of the config ("schedules"): each one's cron
expression, kind and queue, when its pending occurrence runs, and how its last run
ended. Workers keep exactly one occurrence of each schedule pending, however many of
them run; 'iactq work' must be running for the next one to happen.`,
		Example: `  iactq schedules
  iactq schedules --json`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, db, err := a.client(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			infos, err := c.Schedules(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				type occurrence struct {
					JobID       int64   `json:"job_id"`
					State       string  `json:"state"`
					ScheduledAt *string `json:"scheduled_at"`
					FinishedAt  *string `json:"finished_at"`
				}
				type scheduleJSON struct {
					Name  string          `json:"name"`
					Cron  string          `json:"cron"`
					Kind  string          `json:"kind"`
					Queue string          `json:"queue"`
					Args  json.RawMessage `json:"args"`
					Next  *occurrence     `json:"next"`
					Last  *occurrence     `json:"last"`
				}
				rows := make([]scheduleJSON, len(infos))
				for i, s := range infos {
					rows[i] = scheduleJSON{Name: s.Name, Cron: s.Cron, Kind: s.Kind, Queue: s.Queue, Args: s.Args}
					if s.Next != nil {
						rows[i].Next = &occurrence{JobID: s.Next.ID, State: string(s.Next.State), ScheduledAt: jsonTime(s.Next.ScheduledAt)}
					}
					if s.Last != nil {
						rows[i].Last = &occurrence{JobID: s.Last.ID, State: string(s.Last.State), ScheduledAt: jsonTime(s.Last.ScheduledAt), FinishedAt: jsonTime(s.Last.FinishedAt)}
					}
				}
				return writeJSON(out, rows)
			}
			if len(infos) == 0 {
				fmt.Fprintln(out, "no schedules configured (see 'iactq config example')")
				return nil
			}
			now := time.Now()
			tw := newTable(out)
			fmt.Fprintln(tw, "NAME\tCRON\tKIND\tQUEUE\tNEXT RUN\tLAST OUTCOME")
			for _, s := range infos {
				next := "none pending (starts with 'iactq work')"
				if s.Next != nil {
					next = fmt.Sprintf("%s (job %d)", relative(s.Next.ScheduledAt, now), s.Next.ID)
					if s.Next.State == "running" {
						next = fmt.Sprintf("running (job %d)", s.Next.ID)
					}
				}
				last := "-"
				if s.Last != nil {
					last = fmt.Sprintf("%s %s (job %d)", s.Last.State, ago(s.Last.FinishedAt, now), s.Last.ID)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Cron, s.Kind, s.Queue, next, last)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}
