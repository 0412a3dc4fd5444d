package queue_test

// Tests with real worker processes (the iactq binary): draining with several
// processes, SIGKILL and SIGTERM, and schedules across processes. Each process writes
// a journal of its executions (IACTQ_EXEC_LOG), so "no job ran twice at once" is
// checked against what actually ran.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/internal/waitfor"
	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// iactqBinary is $IACTQ_BIN (set by make test) or a fresh build of cmd/iactq.
func iactqBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("IACTQ_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "iactq-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "iactq")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/iactq").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build iactq: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a running `iactq work` process.
type proc struct {
	cmd  *exec.Cmd
	done chan error
	log  string
}

type procEnv struct {
	t       testing.TB
	db      *queuetest.DB
	dir     string
	config  string
	journal string
}

func newProcEnv(t testing.TB, config string) *procEnv {
	e := &procEnv{t: t, db: queuetest.New(t), dir: t.TempDir()}
	e.config = filepath.Join(e.dir, "iactq.yaml")
	e.journal = filepath.Join(e.dir, "journal.jsonl")
	if err := os.WriteFile(e.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *procEnv) start(args ...string) *proc {
	e.t.Helper()
	logFile, err := os.CreateTemp(e.dir, "worker-*.log")
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(iactqBinary(e.t), append([]string{"work"}, args...)...)
	cmd.Env = append(os.Environ(), "IACTQ_DSN="+e.db.WorkerDSN, "IACTQ_CONFIG="+e.config, "IACTQ_EXEC_LOG="+e.journal)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1), log: logFile.Name()}
	go func() { p.done <- cmd.Wait(); logFile.Close() }()
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if e.t.Failed() {
			out, _ := os.ReadFile(p.log)
			e.t.Logf("log of worker %d (last 3000 bytes):\n%s", cmd.Process.Pid, tail(string(out), 3000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// execution is one journal line.
type execution struct {
	JobID     int64     `json:"job_id"`
	Attempt   int       `json:"attempt"`
	WorkerPID int       `json:"worker_pid"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Err       string    `json:"err"`
}

func (e *procEnv) executions() []execution {
	e.t.Helper()
	f, err := os.Open(e.journal)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	var out []execution
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var x execution
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			e.t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		out = append(out, x)
	}
	return out
}

// checkNoOverlap fails if any job has two executions overlapping in time.
func checkNoOverlap(t *testing.T, execs []execution) {
	t.Helper()
	byJob := map[int64][]execution{}
	for _, x := range execs {
		byJob[x.JobID] = append(byJob[x.JobID], x)
	}
	for id, xs := range byJob {
		sort.Slice(xs, func(i, j int) bool { return xs[i].Start.Before(xs[j].Start) })
		for i := 1; i < len(xs); i++ {
			if xs[i].Start.Before(xs[i-1].End) {
				t.Fatalf("job %d ran twice at once: %+v and %+v", id, xs[i-1], xs[i])
			}
		}
	}
}

func (e *procEnv) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.DB.QueryRow(query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (e *procEnv) waitFor(what string, timeout time.Duration, cond func() bool) {
	e.t.Helper()
	waitfor.True(e.t, timeout, cond, func() string { return what })
}

func newNoopClient(t *testing.T, db *queuetest.DB) *queue.Client {
	c, err := queue.NewClient(db.DB, jobs.NewRegistry(jobs.Deps{}), queue.Config{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestProcessesDrainWithoutLossOrDoubleRuns(t *testing.T) {
	t.Parallel()
	e := newProcEnv(t, "queues: {default: 25}\n")
	const n = 20000
	ps := make([]queue.InsertParams, n)
	for i := range ps {
		ps[i] = queue.InsertParams{Kind: "noop", Args: json.RawMessage(fmt.Sprintf(`{"sleep_ms": %d}`, i%3))}
	}
	if _, err := newNoopClient(t, e.db).InsertMany(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	var procs []*proc
	for i := 0; i < 4; i++ {
		procs = append(procs, e.start())
	}
	e.waitFor("all jobs completed", 5*time.Minute, func() bool {
		return e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) == n
	})
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		if err := <-p.done; err != nil {
			t.Errorf("worker exited with %v", err)
		}
	}
	execs := e.executions()
	if len(execs) != n {
		t.Fatalf("%d executions for %d jobs (every job should run exactly once here)", len(execs), n)
	}
	checkNoOverlap(t, execs)
	perJob := map[int64]bool{}
	workers := map[int]int{}
	for _, x := range execs {
		perJob[x.JobID] = true
		workers[x.WorkerPID]++
	}
	if len(perJob) != n {
		t.Fatalf("%d distinct jobs executed, want %d", len(perJob), n)
	}
	if len(workers) != 4 {
		t.Fatalf("executions spread over %d processes, want 4: %v", len(workers), workers)
	}
	if got := e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE kind = 'noop' AND attempt <> 1`); got != 0 {
		var detail string
		_ = e.db.DB.QueryRow(`SELECT GROUP_CONCAT(CONCAT(id, ' attempt ', attempt, ': ', errors) SEPARATOR '; ') FROM iactq_jobs WHERE kind = 'noop' AND attempt <> 1`).Scan(&detail)
		t.Fatalf("%d jobs took more than one attempt: %s", got, detail)
	}
}

func TestSIGKILLMidJobRunsAgainElsewhere(t *testing.T) {
	t.Parallel()
	e := newProcEnv(t, "queues: {default: 2}\nrescue_after: 3s\nheartbeat_interval: 1s\n")
	res, err := newNoopClient(t, e.db).Insert(context.Background(), queue.InsertParams{Kind: "noop", Args: json.RawMessage(`{"sleep_ms": 4000}`), RequestedBy: "analyst"})
	if err != nil {
		t.Fatal(err)
	}
	victim := e.start()
	e.waitFor("the job running", 20*time.Second, func() bool {
		return e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE id = ? AND state = 'running'`, res.ID) == 1
	})
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	killedAt := time.Now()
	e.start()
	e.waitFor("the job completed elsewhere", 60*time.Second, func() bool {
		return e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE id = ? AND state = 'completed'`, res.ID) == 1
	})
	if took := time.Since(killedAt); took > 45*time.Second {
		t.Fatalf("job finished %s after its worker was killed, want well within a minute", took)
	}
	execs := e.executions()
	if len(execs) != 1 || execs[0].Attempt != 2 || execs[0].WorkerPID == victim.cmd.Process.Pid {
		t.Fatalf("executions %+v, want one finished attempt 2 on the new worker", execs)
	}
	if got := e.count(`SELECT COUNT(*) FROM internal_messages WHERE job_id = ?`, res.ID); got != 1 {
		t.Fatalf("%d messages, want 1", got)
	}
}

func TestSIGTERMDrainsAndLeavesNothingRunning(t *testing.T) {
	t.Parallel()
	e := newProcEnv(t, "queues: {default: 20}\nshutdown_grace: 2s\n")
	c := newNoopClient(t, e.db)
	var ps []queue.InsertParams
	for i := 0; i < 10; i++ {
		ps = append(ps, queue.InsertParams{Kind: "noop", Args: json.RawMessage(`{"sleep_ms": 1000}`), Queue: "default"})
	}
	for i := 0; i < 5; i++ {
		ps = append(ps, queue.InsertParams{Kind: "noop", Args: json.RawMessage(`{"sleep_ms": 600000}`), Queue: "default"})
	}
	if _, err := c.InsertMany(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	p := e.start()
	e.waitFor("15 jobs running", 20*time.Second, func() bool {
		return e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE state = 'running'`) == 15
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("worker exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not exit within 20 s of SIGTERM")
	}
	if got := e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE state = 'running'`); got != 0 {
		t.Fatalf("%d jobs left running after the drain", got)
	}
	if got := e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`); got != 10 {
		t.Fatalf("%d short jobs completed during the grace period, want 10", got)
	}
	if got := e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE state = 'available' AND attempt = 0 AND claimed_by IS NULL`); got != 5 {
		t.Fatalf("%d long jobs back in the queue with their attempt unspent, want 5", got)
	}
	if got := e.count(`SELECT COUNT(*) FROM iactq_workers`); got != 0 {
		t.Fatalf("%d workers still registered after the drain", got)
	}
}

func TestScheduleAcrossThreeProcessesOneOccurrencePerTick(t *testing.T) {
	t.Parallel()
	e := newProcEnv(t, strings.Join([]string{
		"queues: {default: 5}",
		"poll_interval: 20ms",
		"schedules:",
		`  - {name: tick, cron: "@every 1s", kind: noop, args: {}}`,
		"",
	}, "\n"))
	var procs []*proc
	for i := 0; i < 3; i++ {
		procs = append(procs, e.start())
	}
	liveQuery := `SELECT COUNT(*) FROM iactq_jobs WHERE schedule_name = 'tick' AND state IN ('available','scheduled','running','retryable')`
	e.waitFor("the first occurrence", 20*time.Second, func() bool { return e.count(liveQuery) == 1 })
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(25 * time.Millisecond) {
		if got := e.count(liveQuery); got != 1 {
			t.Fatalf("%d live occurrences, want exactly 1", got)
		}
	}
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	}
	completed := e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE schedule_name = 'tick' AND state = 'completed'`)
	ticks := e.count(`SELECT COUNT(DISTINCT scheduled_at) FROM iactq_jobs WHERE schedule_name = 'tick'`)
	all := e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE schedule_name = 'tick'`)
	if completed < 5 || ticks != all {
		t.Fatalf("%d occurrences completed, %d distinct ticks among %d occurrences: want >= 5 and one occurrence per tick", completed, ticks, all)
	}
	checkNoOverlap(t, e.executions())
	if got := len(e.executions()); got != completed {
		t.Fatalf("%d executions for %d completed occurrences", got, completed)
	}
}
