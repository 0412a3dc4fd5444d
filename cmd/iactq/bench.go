package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iact/iactq/bench"
)

func (a *app) benchCmd() *cobra.Command {
	var (
		quick     bool
		runs      int
		drainJobs int
		backlogs  string
		jsonPath  string
		binlogDSN string
		offDSN    string
		database  string
		only      string
		window    time.Duration
		idleWarm  time.Duration
		idleWin   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure enqueue, drain, latency, claim cost, sustained rate, memory, idle cost, failover",
		Long: `bench measures the queue on the server of --dsn (a user that may create and drop
a scratch database, iactq_bench by default, which it recreates): enqueue throughput
(one job per insert, and batches of 100 and 1 000); drain throughput of noop jobs by
worker processes (this binary's "work") at a few concurrency settings, next to the
floor — the same rows claimed with SELECT ... FOR UPDATE SKIP LOCKED and completed by
the simplest possible SQL loop, with batches of the same size — and the queue's share
of it; enqueue-to-start latency with an idle worker process for jobs inserted with
plain SQL by another process, with polling and (given --binlog-dsn) binary-log
wake-ups, and the statements per second an idle worker sends; and the time of one
claim of 100 jobs with growing backlogs (mixed kinds, SLA classes and future jobs);
the sustained rate — the highest rate at which a producer inserting one job per insert
keeps the backlog of one polling worker process (concurrency 100) flat for
--sustain-window, found by doubling and bisecting with 5 s screens, and what limited
the next rate up (the producer or the worker); and the resident memory (peak VmHWM, and
VmRSS while all run) of one worker process running 200 sleeping noop jobs at a time.
Then issue 13's measurements, with fleets of 'iactq work' processes at the defaults
(only a DSN), by polling and (given --binlog-dsn) following the binary log: the
queries per second the server receives from 1, 10 and 50 idle processes (its
Questions counter over --idle-window after --idle-warmup); enqueue-to-start p50/p99
with 1 and 50 processes for plain SQL inserts; failover — the leader that 'iactq
workers --json' reports is sent SIGKILL and a job inserted at once, timed to its start;
and a noop drain by one process at the defaults next to the floor at batch 1 000. Each
target of the issue is shown with its median and PASS or FAIL. Given --binlog-off-dsn
(a server with the binary log off, as MariaDB ships; make bench starts one), the
polling fleets and the drain at the defaults run there; the binary-log fleets run on
the --dsn server, which needs log_bin=ON and binlog_format=ROW.

Steps, in order (--only picks some): enqueue, drain, latency, backlog, sustained,
memory, idle, wakeup, failover, drain-defaults.

Each figure is the median of --runs runs; the table shows every run. The machine is
shared and noisy: compare figures of one run, not across runs.`,
		Example: `  make bench                       # starts a private server, then runs this
  iactq bench --quick              # small sizes, one run: a minute or two
  iactq bench --runs 5 --json bench.json`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			dsn, err := a.dsnValue()
			if err != nil {
				return err
			}
			if binlogDSN == "" {
				binlogDSN = a.getenv("IACTQ_BINLOG_DSN")
			}
			if offDSN == "" {
				offDSN = a.getenv("IACTQ_BENCH_BINLOG_OFF_DSN")
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if window <= 0 {
				return usagef("--sustain-window: %s is not a duration above zero", window)
			}
			opts := bench.Options{AdminDSN: dsn, BinlogDSN: binlogDSN, BinlogOffDSN: offDSN, Binary: exe, Database: database, Runs: runs, DrainJobs: drainJobs, SustainWindow: window, Progress: a.stderr}
			if quick {
				opts.Runs, opts.DrainJobs, opts.Backlogs, opts.Latency = 1, 10_000, []int{0, 10_000, 100_000}, 50
				opts.MemoryBusy = 3 * time.Second
				if !cmd.Flags().Changed("idle-window") {
					idleWin = 10 * time.Second
				}
				if !cmd.Flags().Changed("idle-warmup") {
					idleWarm = 5 * time.Second
				}
				if cmd.Flags().Changed("runs") {
					opts.Runs = runs
				}
				if !cmd.Flags().Changed("sustain-window") {
					opts.SustainWindow = 5 * time.Second
				}
			}
			if idleWin <= 0 || idleWarm <= 0 {
				return usagef("--idle-window and --idle-warmup must be durations above zero")
			}
			opts.IdleWindow, opts.IdleWarmup = idleWin, idleWarm
			if only != "" {
				for _, step := range strings.Split(only, ",") {
					step = strings.TrimSpace(step)
					if !slices.Contains(bench.Steps, step) {
						return usagef("--only: unknown step %q (%s)", step, strings.Join(bench.Steps, ", "))
					}
					opts.Steps = append(opts.Steps, step)
				}
			}
			if backlogs != "" {
				opts.Backlogs = nil
				for _, s := range strings.Split(backlogs, ",") {
					n, err := strconv.Atoi(strings.TrimSpace(s))
					if err != nil || n < 0 {
						return usagef("--backlogs: %q is not a job count", s)
					}
					opts.Backlogs = append(opts.Backlogs, n)
				}
			}
			rep, err := bench.Run(cmd.Context(), opts)
			if rep != nil {
				rep.Print(a.stdout)
			}
			if err != nil {
				return err
			}
			if jsonPath != "" {
				b, _ := json.MarshalIndent(rep, "", "  ")
				if err := os.WriteFile(jsonPath, b, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "bench: JSON summary in %s\n", jsonPath)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&quick, "quick", false, "small sizes and one run (10 000-job drains, backlogs up to 100 000, 5 s sustain window, 3 s of memory load, idle fleets counted 10 s after 5 s)")
	cmd.Flags().IntVar(&runs, "runs", 3, "runs per figure; the median is reported")
	cmd.Flags().IntVar(&drainJobs, "drain-jobs", 100_000, "jobs per drain")
	cmd.Flags().StringVar(&backlogs, "backlogs", "", "backlog sizes for the claim cost (default 0,100000,1000000)")
	cmd.Flags().StringVar(&jsonPath, "json", "", "also write the report as JSON to this file")
	cmd.Flags().StringVar(&binlogDSN, "binlog-dsn", "", "measure binary-log wake-ups with this replication DSN (default $IACTQ_BINLOG_DSN)")
	cmd.Flags().StringVar(&offDSN, "binlog-off-dsn", "", "admin DSN of a server with the binary log off, for the polling fleets and the drain at the defaults (default $IACTQ_BENCH_BINLOG_OFF_DSN, else --dsn)")
	cmd.Flags().StringVar(&database, "database", "iactq_bench", "scratch database, dropped and recreated")
	cmd.Flags().StringVar(&only, "only", "", "run only these steps, comma-separated: "+strings.Join(bench.Steps, ", "))
	cmd.Flags().DurationVar(&idleWarm, "idle-warmup", 10*time.Second, "how long idle fleets run before their queries are counted")
	cmd.Flags().DurationVar(&idleWin, "idle-window", time.Minute, "how long the queries of an idle fleet are counted (a minute holds every chore's period)")
	cmd.Flags().DurationVar(&window, "sustain-window", 30*time.Second, "how long a producer rate must keep the backlog flat to count as sustained")
	return cmd
}
