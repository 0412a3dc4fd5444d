package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// deployOutputLimit is how much of a step's output is kept: the last 64 KiB.
const deployOutputLimit = 64 << 10

// deployRun is what running one command gave.
type deployRun struct {
	ExitCode int // -1: it could not start, or timed out
	Output   string
	Started  time.Time
	Finished time.Time
}

// deployCommandEnv is the environment of a step's command: the worker's, less every
// IACTQ_* variable (the worker's DSN stays with the worker), plus the deploy's.
func deployCommandEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "IACTQ_") {
			env = append(env, kv)
		}
	}
	for _, k := range deploySortedKeys(vars) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// runDeployCommand runs argv in dir with env, without a shell, for at most timeout,
// and returns its exit code and the tail of its combined output. A command that
// fails, cannot start or times out is a result (exit code non-zero), not an error; the
// error is ctx's, when the job itself is stopped (shutdown, job timeout).
func runDeployCommand(ctx context.Context, argv []string, dir string, env []string, timeout time.Duration) (deployRun, error) {
	run := deployRun{Started: time.Now()}
	out := &deployTail{limit: deployOutputLimit}
	cmdCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cmdCtx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = nil
	cmd.Stdout = out
	cmd.Stderr = out
	deployKillGroup(cmd)
	// Children that keep the output open after a kill are given up on after this.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	run.Finished = time.Now()
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return run, fmt.Errorf("%s stopped: %w", argv[0], ctx.Err())
	case errors.Is(cmdCtx.Err(), context.DeadlineExceeded):
		run.ExitCode = -1
		fmt.Fprintf(out, "\n[iactq: timed out after %s; the command was killed]\n", timeout)
	case err == nil:
		run.ExitCode = 0
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		run.ExitCode = exitErr.ExitCode()
	default:
		run.ExitCode = -1
		fmt.Fprintf(out, "\n[iactq: %v]\n", err)
	}
	run.Output = out.String()
	return run, nil
}

// deployTail keeps the last limit bytes written to it.
type deployTail struct {
	mu      sync.Mutex
	limit   int
	buf     []byte
	dropped int64
}

func (t *deployTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.limit; over > 0 {
		t.dropped += int64(over)
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String is the kept output as valid UTF-8, saying how much was cut.
func (t *deployTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.ToValidUTF8(string(t.buf), "\uFFFD")
	if t.dropped > 0 {
		s = fmt.Sprintf("[iactq: first %d bytes of output dropped; last %d kept]\n", t.dropped, len(t.buf)) + s
	}
	return s
}
