package queue_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// TestDatabaseRestartsMidRun stops and starts the database twice while two worker
// processes run and jobs keep arriving: the workers reconnect with back-off, nothing
// is lost, nothing stays running, and no worker exits. It runs its own private server
// (scripts/db.sh) so that the other tests' server stays up.
func TestDatabaseRestartsMidRun(t *testing.T) {
	t.Parallel()
	name := fmt.Sprintf("restart-%d", os.Getpid())
	dbsh, _ := filepath.Abs("../scripts/db.sh")
	base, _ := filepath.Abs(filepath.Join("..", ".iactq", name))
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(dbsh, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("db.sh %v: %v\n%s", args, err, out)
		}
	}
	run("up", name)
	t.Cleanup(func() {
		_ = exec.Command(dbsh, "down", name).Run()
		_ = os.RemoveAll(base)
	})
	env := readEnvFile(t, filepath.Join(base, "env"))

	ctx := context.Background()
	admin, err := queue.OpenDB(env["IACTQ_ADMIN_DSN"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := queue.Migrate(ctx, admin); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	db, err := queue.OpenDB(env["IACTQ_DSN"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	client, err := queue.NewClient(db, jobs.NewRegistry(jobs.Deps{}), queue.Config{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	config := filepath.Join(dir, "iactq.yaml")
	_ = os.WriteFile(config, []byte("queues: {default: 10}\nheartbeat_interval: 1s\nrescue_after: 20s\n"), 0o600)
	var workers []*exec.Cmd
	var exited []chan error
	for i := 0; i < 2; i++ {
		logf, _ := os.Create(filepath.Join(dir, fmt.Sprintf("worker%d.log", i)))
		cmd := exec.Command(iactqBinary(t), "work")
		cmd.Env = append(os.Environ(), "IACTQ_DSN="+env["IACTQ_DSN"], "IACTQ_BINLOG_DSN="+env["IACTQ_BINLOG_DSN"], "IACTQ_CONFIG="+config)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait(); logf.Close() }()
		workers, exited = append(workers, cmd), append(exited, done)
	}
	t.Cleanup(func() {
		for i, w := range workers {
			if w.ProcessState == nil {
				_ = w.Process.Kill()
				<-exited[i]
			}
		}
		if t.Failed() {
			for i := range workers {
				out, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("worker%d.log", i)))
				t.Logf("worker %d log (tail):\n%s", i, tail(string(out), 2000))
			}
		}
	})

	// A producer inserts jobs throughout, retrying while the database is down.
	var ids []int64
	produce := func(n int) {
		for i := 0; i < n; i++ {
			for {
				res, err := client.Insert(ctx, queue.InsertParams{Kind: "noop", Args: json.RawMessage(`{"sleep_ms": 20}`)})
				if err == nil {
					ids = append(ids, res.ID)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	produce(100)
	for round := 0; round < 2; round++ {
		run("down", name)
		time.Sleep(2 * time.Second)
		run("up", name)
		produce(100)
	}
	for i, done := range exited {
		select {
		case err := <-done:
			t.Fatalf("worker %d exited during the restarts: %v", i, err)
		default:
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		var completed, running int
		if err := db.QueryRow(`SELECT COUNT(*), (SELECT COUNT(*) FROM iactq_jobs WHERE state = 'running') FROM iactq_jobs WHERE state = 'completed'`).Scan(&completed, &running); err == nil && completed == len(ids) && running == 0 {
			break
		}
		if time.Now().After(deadline) {
			var states string
			_ = db.QueryRow(`SELECT GROUP_CONCAT(CONCAT(state, '=', n)) FROM (SELECT state, COUNT(*) n FROM iactq_jobs GROUP BY state) s`).Scan(&states)
			t.Fatalf("after the restarts: %s, want all %d completed", states, len(ids))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, w := range workers {
		_ = w.Process.Signal(syscall.SIGTERM)
		if err := <-exited[i]; err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
}

func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			env[k] = strings.Trim(v, "'")
		}
	}
	return env
}
