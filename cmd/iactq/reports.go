package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iact/iactq/jobs"
)

// reportsCmd is `iactq reports list|show`: the stored results of the IVR report kinds.
func (a *app) reportsCmd() *cobra.Command {
	return groupCmd("reports", "Show the results of the IVR analytics reports",
		`reports shows what the report kinds (dashboard_metrics, call_flow_analysis,
abandonment_report, call_volume_trend) stored in the iactq_reports table. A report is
named by the id of the job that made it: the id 'iactq enqueue' printed, and the one
in the requester's message ("iactq reports show 42").`,
		`  iactq reports list
  iactq reports show 42
  iactq reports show 42 --csv > dashboard.csv
  iactq reports show 43 --csv --table paths`,
		a.reportsListCmd(), a.reportsShowCmd())
}

func (a *app) reportsListCmd() *cobra.Command {
	var kind string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--kind KIND] [--limit N] [--json]",
		Short: "List the latest reports, newest first",
		Example: `  iactq reports list
  iactq reports list --kind abandonment_report --limit 5`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			ctx := cmd.Context()
			db, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			reports, err := jobs.ListReports(ctx, db, kind, limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				type reportJSON struct {
					JobID     int64   `json:"job_id"`
					ReportID  int64   `json:"report_id"`
					Kind      string  `json:"kind"`
					CreatedAt *string `json:"created_at"`
					Summary   string  `json:"summary"`
				}
				rows := make([]reportJSON, len(reports))
				for i, r := range reports {
					rows[i] = reportJSON{JobID: r.JobID, ReportID: r.ID, Kind: r.Kind, CreatedAt: jsonTime(r.CreatedAt), Summary: r.Summary}
				}
				return writeJSON(out, rows)
			}
			if len(reports) == 0 {
				fmt.Fprintln(out, "no reports")
				return nil
			}
			now := time.Now()
			tw := newTable(out)
			fmt.Fprintln(tw, "JOB\tKIND\tCREATED\tSUMMARY")
			for _, r := range reports {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.JobID, r.Kind, relative(r.CreatedAt, now), clipRunes(r.Summary, 100))
			}
			return tw.Flush()
		}),
	}
	f := cmd.Flags()
	f.StringVar(&kind, "kind", "", "only reports of KIND")
	f.IntVar(&limit, "limit", 20, "show at most N reports")
	f.BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func (a *app) reportsShowCmd() *cobra.Command {
	var asCSV, asJSON bool
	var table string
	cmd := &cobra.Command{
		Use:   "show JOB_ID [--csv [--table NAME]] [--json]",
		Short: "Print a report as tables, or one of its tables as CSV",
		Long: `show prints the report made by job JOB_ID: its period, headline numbers, tables
and the definitions of its numbers. --csv writes one table as CSV to stdout instead
(the main table, or --table NAME: dashboard_metrics, abandonment_report and
call_volume_trend have "intervals", call_flow_analysis "nodes" and "paths"). --json
prints the stored result as it is.`,
		Example: `  iactq reports show 42
  iactq reports show 42 --csv > abandonment.csv
  iactq reports show 43 --csv --table paths`,
		Args: cobra.ExactArgs(1),
		RunE: a.action(func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			if table != "" && !asCSV {
				return usagef("--table goes with --csv")
			}
			if asCSV && asJSON {
				return usagef("--csv and --json exclude each other")
			}
			ctx := cmd.Context()
			db, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			r, err := jobs.GetReport(ctx, db, id)
			if errors.Is(err, jobs.ErrReportNotFound) {
				return fmt.Errorf("job %d has no report: is it a report job, and has it completed? (iactq jobs show %d)", id, id)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case asJSON:
				return writeJSON(out, r.Result)
			case asCSV:
				t := mainTable(&r.Result)
				if table != "" {
					if t = r.Result.Table(table); t == nil {
						return usagef("report of job %d has no table %q (it has: %s)", id, table, tableNames(&r.Result))
					}
				}
				if t == nil {
					return fmt.Errorf("report of job %d has no tables", id)
				}
				return t.WriteCSV(out)
			default:
				return printReport(out, r)
			}
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&asCSV, "csv", false, "write a table as CSV (the main one unless --table)")
	f.StringVar(&table, "table", "", "with --csv: the table to write")
	f.BoolVar(&asJSON, "json", false, "print the stored result JSON")
	return cmd
}

func mainTable(r *jobs.ReportResult) *jobs.Table {
	if len(r.Tables) == 0 {
		return nil
	}
	return &r.Tables[0]
}

func tableNames(r *jobs.ReportResult) string {
	names := make([]string, len(r.Tables))
	for i, t := range r.Tables {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// printReport writes a report for people.
func printReport(w io.Writer, r *jobs.Report) error {
	res := &r.Result
	now := time.Now()
	fmt.Fprintf(w, "%s — %s, job %d (report %d), made %s\n\n", res.Title, r.Kind, r.JobID, r.ID, when(r.CreatedAt, now))
	tw := newTable(w)
	loc, err := time.LoadLocation(res.Timezone)
	if err != nil {
		loc = time.UTC
	}
	fmt.Fprintf(tw, "period\t%s: %s to %s (%s)\n", res.Period.Label,
		res.Period.From.In(loc).Format("2006-01-02 15:04"), res.Period.To.In(loc).Format("2006-01-02 15:04"), res.Timezone)
	if res.Granularity != "" {
		fmt.Fprintf(tw, "by\t%s\n", res.Granularity)
	}
	flow := res.FlowID
	if flow == "" {
		flow = "all"
	}
	fmt.Fprintf(tw, "flow\t%s\n", flow)
	fmt.Fprintf(tw, "found\t%s\n", res.Summary)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(res.Totals) > 0 {
		fmt.Fprintln(w, "\nTotals")
		tw = newTable(w)
		for _, f := range res.Totals {
			fmt.Fprintf(tw, "  %s\t%s\n", f.Name, reportCell(f.Value))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, t := range res.Tables {
		fmt.Fprintf(w, "\n%s (%d rows)\n", t.Title, len(t.Rows))
		tw = newTable(w)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(t.Columns, "\t")))
		for _, row := range t.Rows {
			cells := make([]string, len(row))
			for i, v := range row {
				cells[i] = reportCell(v)
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(res.Notes) > 0 {
		fmt.Fprintln(w, "\nHow the numbers are defined")
		for _, n := range res.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	fmt.Fprintf(w, "\nCSV: iactq reports show %d --csv\n", r.JobID)
	return nil
}

// reportCell writes a report value in a terminal table: "-" for "not defined".
func reportCell(v any) string {
	if s := jobs.FormatValue(v); s != "" {
		return s
	}
	return "-"
}

// clipRunes shortens s to n runes.
func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// demoCmd is `iactq demo load`: synthetic IVR call data and Django sessions.
func (a *app) demoCmd() *cobra.Command {
	return groupCmd("demo", "Load synthetic demo data",
		`demo loads realistic synthetic data for trying iactq: IVR calls with their node
events for the report kinds, and Django sessions for session_cleanup.`,
		`  iactq demo load
  iactq demo load --days 30 --seed 7`,
		a.demoLoadCmd())
}

func (a *app) demoLoadCmd() *cobra.Command {
	var days, callsPerDay, sessions int
	var seed uint64
	cmd := &cobra.Command{
		Use:   "load [--days N] [--seed S] [--calls-per-day N] [--sessions N]",
		Short: "Load synthetic IVR calls and Django sessions",
		Long: `load fills ivr_calls and ivr_call_events with synthetic calls for the N whole days
before today and today up to now, and django_session with sessions (about 40%
expired). The calls follow a call centre's week: busy 9:00-17:00 on weekdays with
peaks at 11:00 and 14:00, quiet nights and weekends, in the flows main (welcome >
language > menu > billing/support/sales > agent, with a self-service payment),
support and sales. Staffing lags the peaks, so waits grow there, and callers hang up
the likelier the longer they wait. Hours are those of the reports' time zone
(config jobs.reports.timezone, default UTC).

The same --seed gives the same calls. Loading again replaces the demo calls of each
day it covers (calls whose call_ref starts with "demo-"; one transaction per day)
and all demo sessions (keys starting with "demo"): nothing is duplicated, and real
calls and sessions are never touched. Progress goes to stderr.`,
		Example: `  iactq demo load
  iactq demo load --days 2 --sessions 0
  iactq demo load --days 60 --calls-per-day 20000`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			if days < 1 || days > jobs.MaxDemoDays {
				return usagef("--days %d is out of range 1..%d", days, jobs.MaxDemoDays)
			}
			if callsPerDay < 1 || callsPerDay > 1_000_000 {
				return usagef("--calls-per-day %d is out of range 1..1000000", callsPerDay)
			}
			if sessions < 0 || sessions > 10_000_000 {
				return usagef("--sessions %d is out of range 0..10000000", sessions)
			}
			if seed == 0 {
				return usagef("--seed must not be 0")
			}
			if _, _, err := a.config(); err != nil {
				return err
			}
			loc, err := time.LoadLocation(a.jobsConfig.Reports.Timezone)
			if err != nil {
				loc = time.UTC
			}
			ctx := cmd.Context()
			db, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			if sessions == 0 {
				sessions = -1
			}
			begin := time.Now()
			res, err := jobs.LoadDemo(ctx, db, jobs.DemoOptions{
				Days: days, Seed: seed, CallsPerDay: callsPerDay, Sessions: sessions,
				Location: loc, Progress: cmd.ErrOrStderr(),
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "loaded %d calls (%d node events) from %s to %s (%d days, %d demo calls replaced) and %d sessions (%d expired) in %s\n",
				res.Calls, res.Events, res.From.In(loc).Format("2006-01-02 15:04"), res.To.In(loc).Format("2006-01-02 15:04"),
				res.Days, res.Replaced, res.Sessions, res.ExpiredSessions, time.Since(begin).Round(time.Millisecond))
			return nil
		}),
	}
	f := cmd.Flags()
	f.IntVar(&days, "days", 14, "whole days before today to fill (today is filled up to now)")
	f.Uint64Var(&seed, "seed", 1, "random seed: the same seed gives the same calls")
	f.IntVar(&callsPerDay, "calls-per-day", 3000, "calls on an ordinary weekday")
	f.IntVar(&sessions, "sessions", 5000, "Django sessions to load, about 40% expired (0: none)")
	return cmd
}
