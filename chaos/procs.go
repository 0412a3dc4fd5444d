package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// fleet runs `iactq work` processes that share a config file and a journal.
type fleet struct {
	bin, dir, config, journal string
	env                       []string // IACTQ_DSN and friends

	mu     sync.Mutex
	procs  []*proc
	seq    int
	killed map[int]bool // pids SIGKILLed by replace
}

// proc is one worker process.
type proc struct {
	cmd  *exec.Cmd
	pid  int
	log  string
	done chan struct{} // closed when it exited
	err  error         // its exit status, once done
	// expectExit is set before the fleet kills or stops it on purpose.
	expectExit atomic.Bool
}

func newFleet(bin, dir, config string, env ...string) (*fleet, error) {
	f := &fleet{bin: bin, dir: dir, config: filepath.Join(dir, "iactq.yaml"), journal: filepath.Join(dir, "journal.jsonl"), env: env}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(f.config, []byte(config), 0o600); err != nil {
		return nil, err
	}
	return f, nil
}

// start starts a worker process (iactq work).
func (f *fleet) start() (*proc, error) { return f.startCmd("work") }

// stopInto stops the fleet (30 s of grace) and fails r for every process that had
// exited on its own or did not stop cleanly.
func (f *fleet) stopInto(r *Result) {
	for _, e := range f.unexpectedExits() {
		r.fail("%s", e)
	}
	for _, e := range f.stop(30 * time.Second) {
		r.fail("%s", e)
	}
}

// startN starts n worker processes.
func (f *fleet) startN(n int) error {
	for i := 0; i < n; i++ {
		if _, err := f.start(); err != nil {
			return err
		}
	}
	return nil
}

// startCmd starts `iactq ARGS...` with the fleet's config, journal and environment.
func (f *fleet) startCmd(args ...string) (*proc, error) {
	f.mu.Lock()
	f.seq++
	logPath := filepath.Join(f.dir, fmt.Sprintf("worker-%03d.log", f.seq))
	f.mu.Unlock()
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(f.bin, args...)
	cmd.Env = append(withoutIACTQ(os.Environ()), f.env...)
	cmd.Env = append(cmd.Env, "IACTQ_CONFIG="+f.config, "IACTQ_EXEC_LOG="+f.journal)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s %s: %w", f.bin, strings.Join(args, " "), err)
	}
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	f.mu.Lock()
	f.procs = append(f.procs, p)
	f.mu.Unlock()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// kill SIGKILLs p and waits for it.
func (p *proc) kill() {
	p.expectExit.Store(true)
	_ = p.signal(syscall.SIGKILL)
	<-p.done
}

// replace SIGKILLs victim and starts a worker in its place; the kill is remembered
// (wasKilled, kills) even when the new worker fails to start.
func (f *fleet) replace(victim *proc) error {
	victim.kill()
	f.mu.Lock()
	if f.killed == nil {
		f.killed = map[int]bool{}
	}
	f.killed[victim.pid] = true
	f.mu.Unlock()
	_, err := f.start()
	return err
}

// wasKilled tells whether replace SIGKILLed the process pid.
func (f *fleet) wasKilled(pid int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.killed[pid]
}

// kills is the number of processes replace SIGKILLed.
func (f *fleet) kills() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.killed)
}

// live returns the processes still running.
func (f *fleet) live() []*proc {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*proc
	for _, p := range f.procs {
		if !p.exited() {
			out = append(out, p)
		}
	}
	return out
}

// unexpectedExits lists the processes that exited without being killed on purpose.
func (f *fleet) unexpectedExits() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.procs {
		if p.exited() && !p.expectExit.Load() {
			out = append(out, fmt.Sprintf("worker pid %d exited: %v (log %s)", p.pid, p.err, p.log))
		}
	}
	return out
}

// stop sends SIGTERM to every live process (SIGCONT first, in case one is
// paused) and waits up to timeout for them; it returns the ones that failed to exit
// cleanly. Processes still there after the timeout are killed.
func (f *fleet) stop(timeout time.Duration) []string {
	var bad []string
	procs := f.live()
	for _, p := range procs {
		p.expectExit.Store(true)
		_ = p.signal(syscall.SIGCONT)
		_ = p.signal(syscall.SIGTERM)
	}
	deadline := time.After(timeout)
	for _, p := range procs {
		select {
		case <-p.done:
			if p.err != nil {
				bad = append(bad, fmt.Sprintf("worker pid %d exited with %v after SIGTERM (log %s)", p.pid, p.err, p.log))
			}
		case <-deadline:
			bad = append(bad, fmt.Sprintf("worker pid %d did not exit within %s of SIGTERM (log %s)", p.pid, timeout, p.log))
			_ = p.signal(syscall.SIGKILL)
			<-p.done
		}
	}
	return bad
}

// killAll SIGKILLs whatever still runs (cleanup).
func (f *fleet) killAll() {
	for _, p := range f.live() {
		p.kill()
	}
}

// execution is one line of the journal a worker writes with IACTQ_EXEC_LOG.
type execution struct {
	JobID     int64     `json:"job_id"`
	Attempt   int       `json:"attempt"`
	WorkerPID int       `json:"worker_pid"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Err       *string   `json:"err"`
}

func readJournal(path string) ([]execution, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []execution
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var x execution
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			// A SIGKILL cannot cut a line (each is one write(2)), so this is a bug.
			return nil, fmt.Errorf("journal %s: line %q: %w", path, sc.Text(), err)
		}
		out = append(out, x)
	}
	return out, sc.Err()
}

// tailFile returns the last n bytes of a file, for failure reports.
func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	return tailString(string(b), n)
}

// tailString is the last n bytes of s.
func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// cliResult is what one run of the iactq binary printed, and its exit status (-1 when
// it did not exit by itself: killed, or not started).
type cliResult struct {
	code           int
	stdout, stderr string
}

// output is everything the run printed.
func (r cliResult) output() string { return r.stdout + r.stderr }

// runCLI runs bin with args, stdin and env (added to a minimal PATH and HOME), for at
// most a minute. With stopAfter > 0 it is a long-running command (work, dashboard):
// it gets SIGTERM after stopAfter.
func runCLI(ctx context.Context, bin string, env []string, stdin string, stopAfter time.Duration, args ...string) cliResult {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return cliResult{code: -1, stderr: err.Error()}
	}
	if stopAfter > 0 {
		timer := time.AfterFunc(stopAfter, func() { _ = cmd.Process.Signal(syscall.SIGTERM) })
		defer timer.Stop()
	}
	err := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code == 0 {
		code = -1
	}
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}
