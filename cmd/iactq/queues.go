package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iact/iactq/queue"
)

func (a *app) queuesCmd() *cobra.Command {
	return groupCmd("queues", "List queues; pause and resume them",
		`queues shows every queue that has jobs or was paused, with its jobs counted by
state, and pauses or resumes one. A paused queue keeps accepting jobs, but no worker
claims them until it is resumed; jobs already running finish.`,
		`  iactq queues list
  iactq queues pause reports
  iactq queues resume reports`,
		a.queuesListCmd(), a.queuePauseCmd(true), a.queuePauseCmd(false))
}

func (a *app) queuesListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List queues with their job counts by state",
		Long: `list shows each queue that has jobs or was paused: whether it is paused, and how
many of its jobs are in each state.`,
		Example: `  iactq queues list
  iactq queues list --json`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, db, err := a.client(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			qs, err := c.ListQueues(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				type queueJSON struct {
					Name     string                `json:"name"`
					Paused   bool                  `json:"paused"`
					PausedAt *string               `json:"paused_at"`
					Counts   map[queue.State]int64 `json:"counts"`
				}
				rows := make([]queueJSON, len(qs))
				for i, q := range qs {
					counts := map[queue.State]int64{}
					for _, s := range allStates {
						counts[s] = q.Counts[s]
					}
					rows[i] = queueJSON{Name: q.Name, Paused: !q.PausedAt.IsZero(), PausedAt: jsonTime(q.PausedAt), Counts: counts}
				}
				return writeJSON(out, rows)
			}
			if len(qs) == 0 {
				fmt.Fprintln(out, "no queues yet: a queue appears with its first job")
				return nil
			}
			now := time.Now()
			tw := newTable(out)
			fmt.Fprint(tw, "QUEUE\tPAUSED")
			for _, s := range allStates {
				fmt.Fprintf(tw, "\t%s", upper(string(s)))
			}
			fmt.Fprintln(tw)
			for _, q := range qs {
				paused := "no"
				if !q.PausedAt.IsZero() {
					paused = "since " + relative(q.PausedAt, now)
				}
				fmt.Fprintf(tw, "%s\t%s", q.Name, paused)
				for _, s := range allStates {
					fmt.Fprintf(tw, "\t%d", q.Counts[s])
				}
				fmt.Fprintln(tw)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func (a *app) queuePauseCmd(pause bool) *cobra.Command {
	verb, short, long := "resume", "Let workers claim a queue's jobs again",
		`resume undoes 'iactq queues pause': workers claim the queue's jobs again within a
poll interval or so.`
	if pause {
		verb, short, long = "pause", "Stop workers from claiming a queue's jobs",
			`pause stops every worker, on every host, from claiming jobs of queue Q until it is
resumed. Jobs can still be enqueued, and jobs already running finish. Pausing a
queue that has no jobs yet is allowed.`
	}
	long += `

Q must be a queue iactq knows: one the config lists, a live worker serves, or that has
jobs or was paused. Any other name (a typo) is refused with status 2, naming the known
queues, unless --force is given.`
	var force bool
	cmd := &cobra.Command{
		Use:     verb + " Q [--force]",
		Short:   short,
		Long:    long,
		Example: "  iactq queues " + verb + " reports",
		Args:    cobra.ExactArgs(1),
		RunE: a.action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, db, err := a.client(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			if !force {
				known, err := knownQueues(ctx, c, true)
				if err != nil {
					return err
				}
				if !slices.Contains(known, args[0]) {
					return usagef("queue %q is not known: the config does not list it, no live worker serves it and it has no jobs (known queues: %s); --force %ss it anyway", args[0], strings.Join(known, ", "), verb)
				}
			}
			if pause {
				err = c.PauseQueue(ctx, args[0])
			} else {
				err = c.ResumeQueue(ctx, args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "queue %s is %s\n", args[0], map[bool]string{true: "paused", false: "resumed"}[pause])
			return nil
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, verb+" a queue iactq does not know of")
	return cmd
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
