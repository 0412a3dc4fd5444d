package main

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iact/iactq/queue"
)

func (a *app) slaCmd() *cobra.Command {
	since := daysDuration(24 * time.Hour)
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sla [--since 24h|7d|30d] [--json]",
		Short: "SLA breach rate per kind, from the per-minute rollup",
		Long: `sla prints, per kind, over the last --since (24h by default): jobs enqueued,
started, completed and discarded, how many finished after their due time (first
due + the kind's SLA), the breach rate (breached / finished), and the worst
minute's p95 wait (from due to start) and run time.

--since takes hours and smaller units as Go writes them (90m, 24h) or whole days
and weeks (7d, 30d, 2w). The dashboard's SLA page shows 24 h, 7 d and 30 d side by side.

It reads iactq_sla_rollup, which workers fill once a minute (and this command
brings up to date before reading). Analysts can query the table directly: one row
per minute, kind and class, with enqueued, started, completed, discarded,
cancelled, breached and p50/p95 wait and run time in milliseconds; kind '*' and
class '*' rows hold the totals.`,
		Example: `  iactq sla
  iactq sla --since 7d --json
  # the same from SQL:
  #   SELECT kind, SUM(breached) / NULLIF(SUM(completed + discarded), 0) AS breach_rate
  #   FROM iactq_sla_rollup WHERE class = '*' AND minute >= NOW() - INTERVAL 1 DAY GROUP BY kind;`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			if since <= 0 || since > daysDuration(400*24*time.Hour) {
				return usagef("invalid --since %s: use a positive duration up to 400 days, e.g. 24h or 7d", since.String())
			}
			ctx := cmd.Context()
			c, db, err := a.client(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			if _, err := c.Rollup(ctx); err != nil {
				a.log.Warn().Err(err).Msg("could not bring the SLA rollup up to date; showing what it holds")
			}
			from := time.Now().Add(-time.Duration(since))
			rows, err := c.SLAReport(ctx, from)
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					Kind          string  `json:"kind"`
					Enqueued      int64   `json:"enqueued"`
					Started       int64   `json:"started"`
					Completed     int64   `json:"completed"`
					Discarded     int64   `json:"discarded"`
					Breached      int64   `json:"breached"`
					BreachRate    float64 `json:"breach_rate"`
					WorstWaitP95S float64 `json:"worst_wait_p95_seconds"`
					WorstRunP95S  float64 `json:"worst_run_p95_seconds"`
				}
				out := make([]row, 0, len(rows))
				for _, r := range rows {
					out = append(out, row{r.Kind, r.Enqueued, r.Started, r.Completed, r.Discarded, r.Breached, r.BreachRate(), r.WorstWaitP95.Seconds(), r.WorstRunP95.Seconds()})
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			writeSLA(cmd.OutOrStdout(), rows, from)
			return nil
		}),
	}
	cmd.Flags().Var(&since, "since", "how far back (e.g. 1h, 24h, 7d, 30d)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func writeSLA(w io.Writer, rows []queue.KindSLA, from time.Time) {
	fmt.Fprintf(w, "since %s\n", localTime(from))
	if len(rows) == 0 {
		fmt.Fprintln(w, "no jobs in the rollup for this period")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "KIND\tENQUEUED\tSTARTED\tCOMPLETED\tDISCARDED\tBREACHED\tBREACH RATE\tWORST P95 WAIT\tWORST P95 RUN")
	for _, r := range rows {
		kind := r.Kind
		if kind == queue.RollupAll {
			kind = "(all kinds)"
		}
		rate := "-" // no job finished: no rate (not 0.0%)
		if r.Completed+r.Discarded > 0 {
			rate = fmt.Sprintf("%.1f%%", 100*r.BreachRate())
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", kind, r.Enqueued, r.Started, r.Completed, r.Discarded, r.Breached,
			rate, msDuration(r.WorstWaitP95), msDuration(r.WorstRunP95))
	}
	tw.Flush()
}

// msDuration writes a duration that may be under a second.
func msDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	return shortDuration(d)
}

// daysDuration is a flag value of a duration that also takes whole days and weeks:
// "7d", "30d", "2w", besides Go's "90m" and "24h".
type daysDuration time.Duration

var daysRe = regexp.MustCompile(`^([0-9]{1,4})(d|w)$`)

func (d *daysDuration) Set(s string) error {
	if m := daysRe.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
		n, _ := strconv.Atoi(m[1])
		unit := 24 * time.Hour
		if m[2] == "w" {
			unit *= 7
		}
		*d = daysDuration(time.Duration(n) * unit)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q: use e.g. 90m, 24h, 7d or 30d", s)
	}
	*d = daysDuration(v)
	return nil
}

func (d daysDuration) String() string {
	v := time.Duration(d)
	if v > 0 && v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	return v.String()
}

func (d *daysDuration) Type() string { return "duration" }
