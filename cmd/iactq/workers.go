package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) workersCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "workers [--json]",
		Short: "List the registered worker processes and their heartbeats",
		Long: `workers lists every 'iactq work' process registered in the database: its host, pid,
queues, when it started and how long ago it last sent a heartbeat. A worker whose
heartbeat is older than the config's rescue_after is presumed dead ("stale"): its
running jobs are put back in the queue by the other workers, and its row removed.
An idle worker (no job running or claimed) beats only every 45 s, with a lease of
three times rescue_after that keeps it alive meanwhile: its STATUS is "alive, idle".
LEADER marks the one process elected leader: it runs the periodic chores and wakes
the idle workers (docs/wakeups.md); "leader" is true for it in --json.
--json also gives the kinds each worker's build runs (it claims only those).`,
		Example: `  iactq workers
  iactq workers --json`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, db, err := a.client(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			ws, err := c.Workers(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			now := time.Now()
			rescueAfter := c.Config().RescueAfter
			if asJSON {
				type workerJSON struct {
					ID          int64    `json:"id"`
					Host        string   `json:"host"`
					PID         int      `json:"pid"`
					Queues      string   `json:"queues"`
					Kinds       []string `json:"kinds"`
					StartedAt   *string  `json:"started_at"`
					HeartbeatAt *string  `json:"heartbeat_at"`
					Stale       bool     `json:"stale"`
					Leader      bool     `json:"leader"`
				}
				rows := make([]workerJSON, len(ws))
				for i, w := range ws {
					kinds := []string{}
					if w.Kinds != "" {
						kinds = strings.Split(w.Kinds, ",")
					}
					rows[i] = workerJSON{ID: w.ID, Host: w.Host, PID: w.PID, Queues: w.Queues, Kinds: kinds, StartedAt: jsonTime(w.StartedAt),
						HeartbeatAt: jsonTime(w.HeartbeatAt), Stale: w.Stale(now, rescueAfter), Leader: w.Leader}
				}
				return writeJSON(out, rows)
			}
			if len(ws) == 0 {
				fmt.Fprintln(out, "no workers running (start one with 'iactq work')")
				return nil
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "ID\tHOST\tPID\tQUEUES\tSTARTED\tHEARTBEAT\tSTATUS\tLEADER")
			for _, w := range ws {
				status := "alive"
				switch {
				case w.Stale(now, rescueAfter):
					status = "stale"
				case now.Before(w.IdleUntil):
					status = "alive, idle" // beating every 45 s (docs/wakeups.md)
				}
				leader := ""
				if w.Leader {
					leader = "leader"
				}
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", w.ID, w.Host, w.PID, w.Queues, when(w.StartedAt, now), relative(w.HeartbeatAt, now), status, leader)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}
