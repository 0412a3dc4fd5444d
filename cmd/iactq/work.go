package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/web"
)

// workGCPercent is the Go garbage collector's GOGC for `iactq work`, unless the
// environment sets GOGC: a drain claims up to a thousand jobs at a time, and at the
// default (100) the collector and the return of freed memory to the system were about
// a quarter of the worker's CPU (a profile of BenchmarkDrain), on machines where the
// worker shares the cores with the database server. Twice the default trades a few MB
// for a tenth of the worker's CPU in a drain (docs/performance.md, section 18).
const workGCPercent = 200

// tuneGC sets the collector's target for a worker process (workGCPercent).
func (a *app) tuneGC() {
	if a.getenv("GOGC") == "" {
		debug.SetGCPercent(workGCPercent)
	}
}

func (a *app) workCmd() *cobra.Command {
	var queues, httpAddr, binlogDSN string
	cmd := &cobra.Command{
		Use:   "work [--queues Q=N,...] [--http ADDR]",
		Short: "Run workers until SIGTERM or SIGINT",
		Long: `work registers this process as a worker and runs the jobs of its queues, each
queue with its own concurrency (the config's "queues", or --queues), most urgent
first: OVERDUE before URGENT before NORMAL by each kind's SLA, oldest first within a
class. It also keeps the configured schedules going and puts back the jobs of
workers that died. A schedule whose queue this worker does not serve is named in a
warning at start (and in systemd's STATUS line): its jobs wait for a worker that
serves that queue.

On SIGTERM or SIGINT it drains: it stops claiming, gives running jobs the config's
shutdown_grace to finish, then stops the rest and returns them to the queue. A
second signal exits at once. Losing the database is waited out: the worker
reconnects with back-off and loses nothing.

--http ADDR serves /healthz (the process is up) and /readyz (the database answers,
its schema is current and the worker keeps up; 503 otherwise) for probes, /metrics for Prometheus, and
the web dashboard (see 'iactq dashboard --help'; its actions need the token in
IACTQ_DASHBOARD_TOKEN). An address without a host, such as ":8080", binds
127.0.0.1 only.

Under systemd (a Type=notify unit, see deploy/systemd), work tells systemd READY=1
when it starts claiming, STOPPING=1 when the drain begins, pings the watchdog while
its claim loop reaches the database and its completer records outcomes (one that
cannot write for longer than heartbeat_interval makes the worker unhealthy), and keeps a STATUS= line such as
"running 37/50, 3 OVERDUE, 5 URGENT, oldest 12m" that 'systemctl status' shows.

One worker process of the fleet at a time is elected leader (see 'iactq workers'):
it runs the periodic chores (promotion of due jobs, rescue of dead workers' jobs,
schedules, pruning, and once a minute the SLA rollup into iactq_sla_rollup, see
'iactq sla --help') and watches for new work. Idle workers wait on its doorbell, a
row it holds locked, and wake when it rings; with no ring for 45 s they look
themselves (the leader rings them all every 40 s while nothing comes). The leader rings the moment a job is inserted when it can follow the
server's binary log (log_bin on, binlog_format=ROW, and a user with REPLICATION
SLAVE and BINLOG MONITOR, REPLICATION CLIENT on MySQL), else it looks for new jobs
every poll_interval (10 ms). It follows with --binlog-dsn (or IACTQ_BINLOG_DSN)
when set, warning and retrying (every minute at most) while it cannot; else it
tries the worker's own DSN, and when the server or the user's grants do not allow
it, it polls and says why once (an info line). --binlog-dsn=off (or
IACTQ_BINLOG_DSN=off) makes it poll without trying. docs/wakeups.md tells the
design.

With IACTQ_EXEC_LOG=FILE every execution is appended to FILE as a JSON line
(job_id, attempt, worker_pid, start, end, err), for checks that no job ran in two
places at once.`,
		Example: `  iactq work
  iactq work --queues default=20,reports=2 --log-format console
  iactq work --http :8080    # then: curl 127.0.0.1:8080/readyz`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			a.tuneGC()
			_, cfg, err := a.config()
			if err != nil {
				return err
			}
			binlogFrom := "--binlog-dsn"
			if binlogDSN == "" {
				binlogDSN, binlogFrom = a.getenv("IACTQ_BINLOG_DSN"), "IACTQ_BINLOG_DSN"
			}
			switch {
			case strings.EqualFold(strings.TrimSpace(binlogDSN), queue.BinlogOff):
				cfg.BinlogDSN = queue.BinlogOff
			case binlogDSN != "":
				if _, err := queue.ParseDSN(binlogDSN); err != nil {
					return &usageError{err: fmt.Errorf("binlog DSN: %w", err)}
				}
				cfg.BinlogDSN = binlogDSN
			}
			// Without a binlog DSN the leader tries the worker's own.
			if cfg.DSN, err = a.dsnValue(); err != nil {
				return err
			}
			if !cmd.Flags().Changed("queues") {
				queues = a.getenv("IACTQ_QUEUES")
			}
			if queues != "" {
				if cfg.Queues, err = parseQueues(queues); err != nil {
					return err
				}
			}
			if !cmd.Flags().Changed("http") {
				httpAddr = a.getenv("IACTQ_HTTP")
			}
			unserved := unservedSchedules(cfg)
			for _, u := range unserved {
				a.log.Warn().Str("schedule", u.Name).Str("queue", u.Queue).
					Msgf("schedule %s enqueues into queue %s, which this worker does not serve: its jobs wait unless another worker serves %s (add it to --queues, IACTQ_QUEUES or the config's queues)", u.Name, u.Queue, u.Queue)
			}
			if path := a.getenv("IACTQ_EXEC_LOG"); path != "" {
				j, err := openJournal(path)
				if err != nil {
					return err
				}
				defer j.close()
				cfg.Journal = j.record
			}
			db, err := a.openLazy()
			if err != nil {
				return err
			}
			defer db.Close()
			// One client runs the jobs and serves the dashboard, /metrics and
			// systemd's STATUS line; those observe its events through obs, filled in
			// before Work starts.
			obs := &observers{}
			cfg.Observer = obs
			c, err := a.newClient(db, cfg)
			if err != nil {
				return err
			}
			capacity := 0
			for _, n := range c.Config().Queues {
				capacity += n
			}
			sd, err := newSystemd(a.getenv, a.log, capacity, func(ctx context.Context) ([]queue.Backlog, error) {
				return c.Backlog(ctx, []queue.Class{queue.ClassOverdue, queue.ClassUrgent}, 100_000)
			})
			if err != nil {
				return &usageError{err: err}
			}
			sd.warning = unservedWarning(unserved)
			metrics := web.NewMetrics(c)
			act := newActivityLog(a.log, c.Config(), func(ctx context.Context) (int64, error) {
				b, err := c.Backlog(ctx, []queue.Class{queue.ClassOverdue}, 100_000)
				var n int64
				for _, x := range b {
					n += x.Classes[queue.ClassOverdue].Count
				}
				return n, err
			})
			obs.list = []queue.Observer{metrics, sd, act}
			if err := a.checkSchema(ctx, db); err != nil {
				return err
			}
			if httpAddr != "" {
				dash, err := a.dashboard(c, db, metrics)
				if err != nil {
					return err
				}
				stop, err := a.serveHTTP(ctx, httpAddr, db, dash, sd.unhealthyReason)
				if err != nil {
					return err
				}
				defer stop()
			}
			sdCtx, stopSD := context.WithCancel(context.WithoutCancel(ctx))
			sdDone := make(chan struct{})
			go func() { defer close(sdDone); sd.run(sdCtx) }()
			defer func() { stopSD(); <-sdDone }()
			actCtx, stopAct := context.WithCancel(context.WithoutCancel(ctx))
			actDone := make(chan struct{})
			go func() { defer close(actDone); act.run(actCtx) }()
			defer func() { stopAct(); <-actDone }() // after Work: the last summary
			wakeupLog(a.log, c.Config(), binlogFrom)
			return c.Work(ctx)
		}),
	}
	cmd.Flags().StringVar(&binlogDSN, "binlog-dsn", "", "follow the binary log with this DSN for instant wake-ups; \"off\": poll, do not try the worker's own DSN (default $IACTQ_BINLOG_DSN)")
	cmd.Flags().StringVar(&queues, "queues", "", "queues and concurrency, e.g. default=10,reports=4 (default $IACTQ_QUEUES, else the config's queues)")
	cmd.Flags().StringVar(&httpAddr, "http", "", "serve /healthz, /readyz, /metrics and the dashboard on ADDR (host:port; \":8080\" binds 127.0.0.1) (default $IACTQ_HTTP)")
	return cmd
}

// unservedSchedules are the schedules whose queue cfg.Queues leaves out.
func unservedSchedules(cfg queue.Config) []queue.Schedule {
	var out []queue.Schedule
	for _, sc := range cfg.Schedules {
		if _, ok := cfg.Queues[sc.Queue]; !ok {
			out = append(out, sc)
		}
	}
	return out
}

// unservedWarning is the note systemd's STATUS line carries for them ("" if none).
func unservedWarning(unserved []queue.Schedule) string {
	if len(unserved) == 0 {
		return ""
	}
	parts := make([]string, len(unserved))
	for i, u := range unserved {
		parts[i] = u.Name + "→" + u.Queue
	}
	return "WARNING: queue not served here for schedule " + strings.Join(parts, ", ")
}

// checkSchema refuses to work on a database that is reachable but not migrated. An
// unreachable one is left to the worker, which waits for it.
func (a *app) checkSchema(ctx context.Context, db *sql.DB) error {
	checkCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	current, err := queue.SchemaCurrent(checkCtx, db)
	if err != nil {
		a.log.Warn().Err(err).Msg("cannot check the schema yet; the worker will wait for the database")
		return nil
	}
	if !current {
		return errors.New("the database schema is not up to date: run 'iactq migrate' first")
	}
	return nil
}

// parseQueues parses "default=10,reports=4".
func parseQueues(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		name, n, ok := strings.Cut(part, "=")
		if part == "" || !ok || name == "" {
			return nil, usagef("invalid --queues %q: use QUEUE=CONCURRENCY,... such as default=10,reports=4", s)
		}
		c, err := strconv.Atoi(n)
		if err != nil || c < 1 || c > 10000 {
			return nil, usagef("invalid --queues %q: concurrency of %s must be a number from 1 to 10000", s, name)
		}
		if _, dup := out[name]; dup {
			return nil, usagef("invalid --queues %q: %s is listed twice", s, name)
		}
		out[name] = c
	}
	if err := (queue.Config{Queues: out}).Validate(); err != nil {
		return nil, usagef("invalid --queues: %v", err)
	}
	return out, nil
}

// serveHTTP serves the probes, and h (the dashboard and /metrics) for every other
// path, on addr until the returned stop is called. unhealthy, if set, says why the
// worker is not ready although the database answers (nil when it is).
func (a *app) serveHTTP(ctx context.Context, addr string, db *sql.DB, h http.Handler, unhealthy func() error) (stop func(), err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, usagef("invalid --http %q: use HOST:PORT or :PORT", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := db.PingContext(rctx); err != nil {
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		current, err := queue.SchemaCurrent(rctx, db)
		if err != nil || !current {
			http.Error(w, "schema not current", http.StatusServiceUnavailable)
			return
		}
		if unhealthy != nil {
			if err := unhealthy(); err != nil {
				http.Error(w, "worker unhealthy: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	what := "/healthz and /readyz"
	if h != nil {
		mux.Handle("/", h)
		what = "/healthz, /readyz, /metrics and the dashboard"
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error().Err(err).Msg("http server stopped")
		}
	}()
	a.log.Info().Str("addr", ln.Addr().String()).Msg("serving " + what)
	return func() {
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx)
		<-done
	}, nil
}

// journal appends one JSON line per job execution to a file.
type journal struct {
	mu  sync.Mutex
	f   *os.File
	pid int
}

func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("IACTQ_EXEC_LOG: %w", err)
	}
	return &journal{f: f, pid: os.Getpid()}, nil
}

type journalEntry struct {
	JobID     int64   `json:"job_id"`
	Attempt   int     `json:"attempt"`
	WorkerPID int     `json:"worker_pid"`
	Start     string  `json:"start"`
	End       string  `json:"end"`
	Err       *string `json:"err"`
}

func (j *journal) record(job *queue.JobRow, start, end time.Time, err error) {
	e := journalEntry{
		JobID: job.ID, Attempt: job.Attempt, WorkerPID: j.pid,
		Start: start.UTC().Format(time.RFC3339Nano), End: end.UTC().Format(time.RFC3339Nano),
	}
	if err != nil {
		msg := err.Error()
		e.Err = &msg
	}
	line, _ := json.Marshal(e)
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	_, _ = j.f.Write(line) // one write(2) of a whole line: O_APPEND keeps lines whole
}

func (j *journal) close() { _ = j.f.Close() }
