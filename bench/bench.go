// Package bench is `iactq bench`: throughput, latency and claim cost of the queue,
// measured on one server in one run, next to the floor — the same row operations done
// by the simplest possible SQL loop.
package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"

	"github.com/iact/iactq/bench/internal/benchdb"
	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// Options choose what to measure and how much.
type Options struct {
	AdminDSN  string // a user that may create the scratch database and migrate it
	BinlogDSN string // optional: measure binlog wake-ups too
	// BinlogOffDSN is optional: an admin DSN of a server with the binary log off (as
	// MariaDB ships), where issue 13's steps measure their polling fleets and the drain
	// at the defaults. Default: the AdminDSN server.
	BinlogOffDSN string
	Binary       string   // the iactq binary, for worker processes
	Database     string   // scratch database (default iactq_bench); dropped and recreated
	Runs         int      // repetitions of each figure; the median is reported (default 3)
	DrainJobs    int      // jobs per drain (default 100 000)
	Backlogs     []int    // backlog sizes for the claim cost (default 0, 100 000, 1 000 000)
	Latency      int      // jobs per latency run (default 200)
	Steps        []string // which steps to run (default all; see Steps)
	// SustainWindow is how long a producer rate must keep the backlog flat (default 30 s).
	SustainWindow time.Duration
	// MemoryBusy is how long the memory step keeps its jobs in flight (default 10 s).
	MemoryBusy time.Duration
	// IdleProcs are the fleet sizes of the idle step (default 1, 10, 50): the first is
	// the baseline the targets compare the last with.
	IdleProcs []int
	// IdleWarmup and IdleWindow: how long idle fleets settle before the server's
	// statement counter is read (default 10 s), and how long it is counted (default a
	// minute: the period of the slowest chores, so that each is counted once).
	IdleWarmup, IdleWindow time.Duration
	// WakeupProcs are the fleet sizes of the wakeup step (default 1, 50).
	WakeupProcs []int
	// FailoverProcs is the size of the failover step's fleet (default 3).
	FailoverProcs int
	Progress      io.Writer
}

// Steps are the steps of a run, in order.
var Steps = []string{"enqueue", "drain", "latency", "backlog", "sustained", "memory", "idle", "wakeup", "failover", "drain-defaults"}

func (o *Options) defaults() {
	if o.Database == "" {
		o.Database = "iactq_bench"
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.DrainJobs <= 0 {
		o.DrainJobs = 100_000
	}
	if o.Backlogs == nil {
		o.Backlogs = []int{0, 100_000, 1_000_000}
	}
	if o.Latency <= 0 {
		o.Latency = 200
	}
	if o.SustainWindow <= 0 {
		o.SustainWindow = 30 * time.Second
	}
	if o.MemoryBusy <= 0 {
		o.MemoryBusy = 10 * time.Second
	}
	if o.IdleProcs == nil {
		o.IdleProcs = []int{1, 10, 50}
	}
	if o.IdleWarmup <= 0 {
		o.IdleWarmup = 10 * time.Second
	}
	if o.IdleWindow <= 0 {
		o.IdleWindow = time.Minute
	}
	if o.WakeupProcs == nil {
		o.WakeupProcs = []int{1, 50}
	}
	if o.FailoverProcs <= 0 {
		o.FailoverProcs = 3
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Figure is one measured quantity: the median of its runs, and the runs.
type Figure struct {
	Name   string    `json:"name"`
	Unit   string    `json:"unit"`
	Median float64   `json:"median"`
	Runs   []float64 `json:"runs"`
	Note   string    `json:"note,omitempty"`
}

// Report is the outcome of a benchmark run.
type Report struct {
	Server   string    `json:"server"`
	Settings string    `json:"settings"`
	Started  time.Time `json:"started"`
	Figures  []Figure  `json:"figures"`
	Targets  []Target  `json:"targets"`
}

func (r *Report) add(name, unit string, runs []float64, note string) Figure {
	f := Figure{Name: name, Unit: unit, Median: median(runs), Runs: runs, Note: note}
	r.Figures = append(r.Figures, f)
	return f
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// env is the scratch database and the clients over it.
type env struct {
	opts   Options
	dsn    string // the scratch database, admin user
	db     *sql.DB
	q      *benchdb.Queries
	client *queue.Client
	dir    string
	logBin string // the server's @@log_bin
	// off is where fleets that poll run (the defaults): the binary-log-off server of
	// Options.BinlogOffDSN, else this one.
	off *env
}

// Run measures everything and returns the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts.defaults()
	e, err := setup(ctx, opts, opts.AdminDSN)
	if err != nil {
		return nil, err
	}
	defer e.close()
	e.off = e
	rep := &Report{Started: time.Now().UTC()}
	var version, flush, pool string
	if err := e.db.QueryRowContext(ctx, "SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@log_bin, @@innodb_buffer_pool_size").Scan(&version, &flush, &e.logBin, &pool); err != nil {
		return nil, fmt.Errorf("read server settings: %w", err)
	}
	rep.Server = version
	rep.Settings = fmt.Sprintf("innodb_flush_log_at_trx_commit=%s, log_bin=%s, innodb_buffer_pool_size=%s; %d run(s) per figure, medians", flush, e.logBin, pool, opts.Runs)
	if opts.BinlogOffDSN != "" {
		offOpts := opts
		offOpts.Database += "_off" // the server may be the same one
		if e.off, err = setup(ctx, offOpts, opts.BinlogOffDSN); err != nil {
			return nil, fmt.Errorf("the binary-log-off server: %w", err)
		}
		defer e.off.close()
		if err := e.off.db.QueryRowContext(ctx, "SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@log_bin, @@innodb_buffer_pool_size").Scan(&version, &flush, &e.off.logBin, &pool); err != nil {
			return nil, fmt.Errorf("read the binary-log-off server's settings: %w", err)
		}
		rep.Settings += fmt.Sprintf("; issue 13's polling fleets and drain at the defaults on a second server: %s, innodb_flush_log_at_trx_commit=%s, log_bin=%s, innodb_buffer_pool_size=%s", version, flush, e.off.logBin, pool)
	}

	steps := map[string]func(context.Context, *Report) error{
		"enqueue":        e.enqueue,
		"drain":          e.drain,
		"latency":        e.latency,
		"backlog":        e.backlog,
		"sustained":      e.sustained,
		"memory":         e.memory,
		"idle":           e.idle,
		"wakeup":         e.wakeup,
		"failover":       e.failover,
		"drain-defaults": e.drainDefaults,
	}
	for _, name := range Steps {
		if len(opts.Steps) > 0 && !slices.Contains(opts.Steps, name) {
			continue
		}
		fmt.Fprintf(opts.Progress, "bench: %s...\n", name)
		if err := steps[name](ctx, rep); err != nil {
			return rep, fmt.Errorf("%s: %w", name, err)
		}
	}
	return rep, nil
}

// setup creates the scratch database on the server of adminDSN.
func setup(ctx context.Context, opts Options, adminDSN string) (*env, error) {
	cfg, err := mysql.ParseDSN(adminDSN)
	if err != nil {
		return nil, fmt.Errorf("admin DSN: %s", queue.RedactDSN(adminDSN))
	}
	root, err := queue.OpenDB(adminDSN)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// The scratch database is named by the operator, not by input: a plain identifier.
	for _, r := range opts.Database {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return nil, fmt.Errorf("scratch database name %q: use lowercase letters, digits and _", opts.Database)
		}
	}
	for _, stmt := range []string{"DROP DATABASE IF EXISTS " + opts.Database, "CREATE DATABASE " + opts.Database} {
		if _, err := root.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	cfg.DBName = opts.Database
	e := &env{opts: opts, dsn: cfg.FormatDSN()}
	if e.db, err = queue.OpenDB(e.dsn); err != nil {
		return nil, err
	}
	if _, err := queue.Migrate(ctx, e.db); err != nil {
		return nil, err
	}
	e.q = benchdb.New(e.db)
	e.client, err = queue.NewClient(e.db, jobs.NewRegistry(jobs.Deps{}), queue.Config{}, zerolog.Nop())
	if err != nil {
		return nil, err
	}
	if e.dir, err = os.MkdirTemp("", "iactq-bench"); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
	e.db.Close()
	os.RemoveAll(e.dir)
}

func noop(queueName string) queue.InsertParams {
	return queue.InsertParams{Kind: "noop", Args: json.RawMessage(`{}`), Queue: queueName}
}

// fill inserts n noop jobs into queueName in batches of 1 000.
func (e *env) fill(ctx context.Context, queueName string, n int) error {
	for done := 0; done < n; {
		k := min(1000, n-done)
		ps := make([]queue.InsertParams, k)
		for i := range ps {
			ps[i] = noop(queueName)
		}
		if _, err := e.client.InsertMany(ctx, ps); err != nil {
			return err
		}
		done += k
	}
	return nil
}

func (e *env) enqueue(ctx context.Context, rep *Report) error {
	var single, b100, b1000 []float64
	for run := 0; run < e.opts.Runs; run++ {
		if err := e.q.BenchClear(ctx); err != nil {
			return err
		}
		const n = 2000
		began := time.Now()
		for i := 0; i < n; i++ {
			if _, err := e.client.Insert(ctx, noop("enqueue")); err != nil {
				return err
			}
		}
		single = append(single, n/time.Since(began).Seconds())
		for _, size := range []int{100, 1000} {
			const total = 50_000
			ps := make([]queue.InsertParams, size)
			for i := range ps {
				ps[i] = noop("enqueue")
			}
			began := time.Now()
			for done := 0; done < total; done += size {
				if _, err := e.client.InsertMany(ctx, ps); err != nil {
					return err
				}
			}
			rate := total / time.Since(began).Seconds()
			if size == 100 {
				b100 = append(b100, rate)
			} else {
				b1000 = append(b1000, rate)
			}
		}
	}
	rep.add("enqueue, one job per Insert", "jobs/s", single, "")
	rep.add("enqueue, InsertMany of 100", "jobs/s", b100, "")
	rep.add("enqueue, InsertMany of 1000", "jobs/s", b1000, "")
	return e.q.BenchClear(ctx)
}

// drain measures worker processes draining a backlog of noop jobs, and the floor loop
// draining the same backlog with batches of the same size: one after the other in
// each run, so that both see the same machine, and the share of the floor is the
// median of the runs' shares. The last setup is tuned for throughput (many slots:
// big claims, big completion statements).
func (e *env) drain(ctx context.Context, rep *Report) error {
	setups := []struct{ procs, concurrency int }{{1, 100}, {1, 500}, {2, 250}, {1, 2000}}
	for _, s := range setups {
		var rates, floor, shares []float64
		batch := s.concurrency
		for run := 0; run < e.opts.Runs; run++ {
			rate, err := e.drainOnce(ctx, s.procs, "drain", fmt.Sprintf("queues: {drain: %d}\n", s.concurrency))
			if err != nil {
				return err
			}
			f, err := e.floorOnce(ctx, batch, s.procs)
			if err != nil {
				return err
			}
			rates, floor, shares = append(rates, rate), append(floor, f), append(shares, 100*rate/f)
		}
		rep.add(fmt.Sprintf("drain %d noop jobs, %d process(es) x %d", e.opts.DrainJobs, s.procs, s.concurrency), "jobs/s", rates, "")
		rep.add(fmt.Sprintf("floor: SQL loop, %d claimer(s), batch %d", s.procs, batch), "jobs/s", floor, "")
		rep.add(fmt.Sprintf("drain as a share of the floor (%d x %d)", s.procs, s.concurrency), "%", shares, "median of the runs' shares")
	}
	return nil
}

// drainWatch is how often drainOnce looks whether the drain is over. The look is a
// dive into the claim index per state, cheap on a quiet table; during a drain it steps
// over the index entries of the jobs just claimed and completed, which the server
// purges only later: measured on a 2-core machine, each look took ~19 ms of the
// server (perf: ~7 % of its CPU while it drained) when made every 20 ms, load the
// floor loop, which needs no watcher, does not carry.
const drainWatch = 100 * time.Millisecond

// drainOnce fills queueName with DrainJobs noop jobs and measures procs worker
// processes with config (empty: the defaults) draining them.
func (e *env) drainOnce(ctx context.Context, procs int, queueName, config string) (float64, error) {
	if err := e.q.BenchTruncate(ctx); err != nil {
		return 0, err
	}
	if err := e.fill(ctx, queueName, e.opts.DrainJobs); err != nil {
		return 0, err
	}
	stop, err := e.startWorkers(ctx, procs, config, false)
	if err != nil {
		return 0, err
	}
	defer stop()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		// Every drainWatch: the rate is the span between the jobs' own timestamps, so
		// how soon the end is seen does not enter it; how often it is looked for does,
		// as load on the server the floor does not carry.
		unfinished, err := e.unfinished(ctx, queueName)
		if err != nil {
			return 0, err
		}
		if !unfinished {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("drain: not finished after 10 minutes")
		}
		time.Sleep(drainWatch)
	}
	span, err := e.q.BenchDrainSpan(ctx, queueName)
	if err != nil {
		return 0, err
	}
	if int(span.N) != e.opts.DrainJobs {
		return 0, fmt.Errorf("drain: %d of %d jobs completed", span.N, e.opts.DrainJobs)
	}
	return float64(span.N) / span.LastFinish.Sub(span.FirstStart).Seconds(), nil
}

// unfinished tells whether any job of queueName is still to be finished; it looks at
// every state only once the queue's last job is finished (BenchLastUnfinished).
func (e *env) unfinished(ctx context.Context, queueName string) (bool, error) {
	if last, err := e.q.BenchLastUnfinished(ctx, queueName); err != nil || last {
		return true, err
	}
	return e.q.BenchUnfinished(ctx, queueName)
}

// floorOnce drains the backlog with the simplest loop: claim batch rows with SKIP
// LOCKED and mark them running in one transaction, then complete them in one UPDATE.
func (e *env) floorOnce(ctx context.Context, batch, claimers int) (float64, error) {
	if err := e.q.BenchTruncate(ctx); err != nil {
		return 0, err
	}
	if err := e.fill(ctx, "drain", e.opts.DrainJobs); err != nil {
		return 0, err
	}
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, claimers)
	for c := 0; c < claimers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := e.floorStep(ctx, batch)
				if err != nil {
					errs <- err
					return
				}
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return 0, err
	}
	return float64(e.opts.DrainJobs) / time.Since(began).Seconds(), nil
}

func (e *env) floorStep(ctx context.Context, batch int) (int, error) {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	q := e.q.WithTx(tx)
	ids, err := q.FloorClaim(ctx, benchdb.FloorClaimParams{Queue: "drain", Kind: "noop", Limit: int32(batch)})
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	if err := q.FloorMarkRunning(ctx, ids); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return len(ids), e.q.FloorComplete(ctx, ids)
}

// startWorkers runs procs `iactq work` processes on the scratch database, with config
// as their config file; an empty config means none: the built-in defaults.
func (e *env) startWorkers(ctx context.Context, procs int, config string, binlog bool) (stop func(), err error) {
	stop, _, err = e.startWorkerPIDs(ctx, procs, config, binlog)
	return stop, err
}

// startWorkerPIDs is startWorkers that also returns the processes' ids.
func (e *env) startWorkerPIDs(ctx context.Context, procs int, config string, binlog bool) (stop func(), pids []int, err error) {
	path := ""
	if config != "" {
		path = filepath.Join(e.dir, fmt.Sprintf("config-%d.yaml", time.Now().UnixNano()))
		if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
			return nil, nil, err
		}
	}
	var cmds []*exec.Cmd
	stop = func() {
		for _, c := range cmds {
			_ = c.Process.Signal(os.Interrupt)
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	}
	for i := 0; i < procs; i++ {
		c := exec.CommandContext(ctx, e.opts.Binary, "work", "--log-level", "error")
		// Runs that measure polling poll: without "off", a worker whose DSN may read
		// the binary log would follow it (queue.Config.BinlogDSN).
		c.Env = append(os.Environ(), "IACTQ_DSN="+e.dsn, "IACTQ_CONFIG="+path, "IACTQ_BINLOG_DSN=off")
		if binlog {
			c.Env = append(c.Env, "IACTQ_BINLOG_DSN="+e.opts.BinlogDSN)
		}
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			stop()
			return nil, nil, err
		}
		cmds = append(cmds, c)
		pids = append(pids, c.Process.Pid)
	}
	return stop, pids, nil
}

// latency measures enqueue-to-start with one idle worker process, for jobs inserted
// one at a time with plain SQL, and the statements the idle process sends.
func (e *env) latency(ctx context.Context, rep *Report) error {
	modes := []struct {
		name   string
		binlog bool
	}{{"polling", false}}
	if e.opts.BinlogDSN != "" {
		modes = append(modes, struct {
			name   string
			binlog bool
		}{"binlog", true})
	}
	for _, m := range modes {
		var p50, p90, p99, pmax, idle []float64
		for run := 0; run < e.opts.Runs; run++ {
			if err := e.q.BenchClear(ctx); err != nil {
				return err
			}
			stop, err := e.startWorkers(ctx, 1, "queues: {latency: 10}\n", m.binlog)
			if err != nil {
				return err
			}
			time.Sleep(1500 * time.Millisecond) // registered, following the log
			q0, err := questions(ctx, e.db)
			if err != nil {
				stop()
				return err
			}
			time.Sleep(5 * time.Second)
			q1, _ := questions(ctx, e.db)
			idle = append(idle, float64(q1-q0-1)/5)
			for i := 0; i < e.opts.Latency; i++ {
				if _, err := e.db.ExecContext(ctx, "INSERT INTO iactq_jobs (kind, queue) VALUES ('noop', 'latency')"); err != nil {
					stop()
					return err
				}
				time.Sleep(time.Duration(20+i%37) * time.Millisecond)
			}
			for {
				n, _ := e.q.BenchCountState(ctx, "completed")
				if int(n) >= e.opts.Latency {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			micros, err := e.q.BenchLatencies(ctx, "latency")
			if err != nil {
				return err
			}
			slices.Sort(micros)
			at := func(p float64) float64 { return float64(micros[int(p*float64(len(micros)-1))]) / 1000 }
			p50, p90, p99 = append(p50, at(0.5)), append(p90, at(0.9)), append(p99, at(0.99))
			pmax = append(pmax, at(1))
		}
		rep.add("enqueue-to-start p50 ("+m.name+")", "ms", p50, "plain SQL insert, another process")
		rep.add("enqueue-to-start p90 ("+m.name+")", "ms", p90, "")
		rep.add("enqueue-to-start p99 ("+m.name+")", "ms", p99, "")
		rep.add("enqueue-to-start max ("+m.name+")", "ms", pmax, "")
		rep.add("idle worker process ("+m.name+")", "queries/s", idle, "Questions counter over 5 s")
	}
	return nil
}

// questions reads the server's statement counter (the read itself counts one).
func questions(ctx context.Context, db *sql.DB) (int64, error) {
	var name string
	var n int64
	err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &n)
	return n, err
}

// backlog measures the claim of a batch of 100 with backlogs of growing size: a mix of
// kinds, ages (so every SLA class) and future-scheduled jobs.
func (e *env) backlog(ctx context.Context, rep *Report) error {
	if err := e.q.BenchClear(ctx); err != nil {
		return err
	}
	kinds := []string{"noop", "dashboard_metrics", "call_flow_analysis", "session_cleanup"}
	have := 0
	for _, size := range e.opts.Backlogs {
		for have < size {
			k := min(1000, size-have)
			var b strings.Builder
			b.WriteString("INSERT INTO iactq_jobs (kind, queue, scheduled_at) VALUES ")
			for i := 0; i < k; i++ {
				n := have + i
				if i > 0 {
					b.WriteByte(',')
				}
				// Ages spread over 10 h (all classes); one job in ten due in the future.
				offset := -(n % 36000)
				if n%10 == 0 {
					offset = 3600
				}
				fmt.Fprintf(&b, "('%s', 'backlog', NOW(6) + INTERVAL %d SECOND)", kinds[n%len(kinds)], offset)
			}
			if _, err := e.db.ExecContext(ctx, b.String()); err != nil {
				return err
			}
			have += k
			if have%100_000 == 0 {
				fmt.Fprintf(e.opts.Progress, "bench: backlog %d jobs\n", have)
			}
		}
		if _, err := e.db.ExecContext(ctx, "ANALYZE TABLE iactq_jobs"); err != nil {
			return err
		}
		var runs []float64
		for run := 0; run < e.opts.Runs; run++ {
			took, err := e.client.MeasureClaims(ctx, "backlog", 100, 50)
			if err != nil {
				return err
			}
			ms := make([]float64, len(took))
			for i, d := range took {
				ms[i] = float64(d.Microseconds()) / 1000
			}
			runs = append(runs, median(ms))
		}
		rep.add(fmt.Sprintf("claim of 100 with %d waiting", size), "ms", runs, "median of 50 claims per run")
	}
	return e.q.BenchClear(ctx)
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "server: %s\nsettings: %s\n\n", r.Server, r.Settings)
	width := 0
	for _, f := range r.Figures {
		width = max(width, len(f.Name))
	}
	for _, f := range r.Figures {
		runs := make([]string, len(f.Runs))
		for i, x := range f.Runs {
			runs[i] = fmt.Sprintf("%.1f", x)
		}
		line := fmt.Sprintf("%-*s  %12.1f %-10s runs: %s", width, f.Name, f.Median, f.Unit, strings.Join(runs, " "))
		if f.Note != "" {
			line += "  (" + f.Note + ")"
		}
		fmt.Fprintln(w, line)
	}
	r.printTargets(w)
}
