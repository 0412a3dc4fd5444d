package main

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/iact/iactq/queue"
)

func (a *app) prioritiesCmd() *cobra.Command {
	var asJSON, watch bool
	var limit int
	cmd := &cobra.Command{
		Use:   "priorities [--json] [--watch] [--limit N]",
		Short: "Show waiting jobs by SLA class, in the order workers take them",
		Long: `priorities is the analysts' view of the queue: the jobs not yet finished, in the
order workers claim them, from the iactq_priorities view (which any SQL tool can
query too).

Each job's class comes from its age against its kind's SLA: OVERDUE once older than
the SLA, URGENT once older than the urgency threshold, NORMAL before that. Age
counts from when the job first became due; a retry does not reset it. SLA-LEFT is
the time until the job is overdue, or how long it has been overdue ("12m over").
The first line counts the listed jobs per class.

--watch redraws every second until Ctrl-C. --json prints a JSON array instead of
the table (with --watch, one array per second).`,
		Example: `  iactq priorities
  iactq priorities --limit 20 --watch
  iactq priorities --json | jq '.[] | select(.priority_class == "OVERDUE") | .id'`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, db, err := a.client(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			out := cmd.OutOrStdout()
			draw := func() error {
				ps, err := c.Priorities(ctx, limit)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(out, ps)
				}
				var b bytes.Buffer
				if watch && isTerminal(out) {
					b.WriteString("\x1b[H\x1b[2J")
				}
				if watch {
					fmt.Fprintf(&b, "%s  (every 1s, Ctrl-C to stop)\n", time.Now().Format("15:04:05"))
				}
				writePriorities(&b, ps, limit)
				_, err = out.Write(b.Bytes())
				return err
			}
			if !watch {
				return draw()
			}
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				if err := draw(); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				select {
				case <-ctx.Done():
					return nil
				case <-tick.C:
				}
			}
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	cmd.Flags().BoolVar(&watch, "watch", false, "redraw every second until Ctrl-C")
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most N jobs")
	return cmd
}

func writePriorities(w io.Writer, ps []queue.Priority, limit int) {
	counts := map[queue.Class]int{}
	for _, p := range ps {
		counts[p.Class]++
	}
	more := ""
	if len(ps) == limit {
		more = fmt.Sprintf("  (first %d; --limit shows more)", limit)
	}
	fmt.Fprintf(w, "OVERDUE %d  URGENT %d  NORMAL %d%s\n", counts[queue.ClassOverdue], counts[queue.ClassUrgent], counts[queue.ClassNormal], more)
	if len(ps) == 0 {
		fmt.Fprintln(w, "no jobs waiting")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tKIND\tQUEUE\tSTATE\tCLASS\tAGE\tSLA-LEFT")
	for _, p := range ps {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Kind, p.Queue, p.State, p.Class,
			shortDuration(time.Duration(p.AgeSeconds)*time.Second), slaLeft(p.SLASeconds-p.AgeSeconds))
	}
	tw.Flush()
}

// slaLeft writes the seconds left before a job is overdue: "1h05m", or "12m over".
func slaLeft(sec int64) string {
	d := time.Duration(sec) * time.Second
	if sec < 0 {
		return shortDuration(d) + " over"
	}
	return shortDuration(d)
}
