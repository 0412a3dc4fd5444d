package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/iact/iactq/internal/waitfor"
	"github.com/iact/iactq/queue"
)

func TestWork(t *testing.T) {
	d, c := setup(t)
	journal := filepath.Join(t.TempDir(), "exec.jsonl")
	c.env["IACTQ_EXEC_LOG"] = journal
	const n = 8
	for i := 0; i < n; i++ {
		c.ok("enqueue", "noop", "--args", `{"sleep_ms": 20}`)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"work", "--queues", "default=4", "--http", "127.0.0.1:0", "--log-level", "debug"}, c.getenv, strings.NewReader(""), &stdout, &stderr)
	}()

	var completed int
	waitfor.True(t, 20*time.Second, func() bool {
		if err := d.DB.QueryRow("SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'").Scan(&completed); err != nil {
			t.Fatal(err)
		}
		return completed == n
	}, func() string {
		return fmt.Sprintf("%d of %d jobs completed; stderr:\n%s", completed, n, stderr.String())
	})

	addr := ""
	for _, line := range strings.Split(stderr.String(), "\n") {
		var entry struct{ Message, Addr string }
		if json.Unmarshal([]byte(line), &entry) == nil && strings.HasPrefix(entry.Message, "serving") {
			addr = entry.Addr
		}
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("no probe address logged:\n%s", stderr.String())
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
	if out := c.ok("workers"); !strings.Contains(out, "default=4") || !strings.Contains(out, "alive") {
		t.Errorf("workers:\n%s", out)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("work exited %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("work did not stop after its context was cancelled")
	}
	if stdout.String() != "" {
		t.Errorf("work wrote on stdout: %q", stdout.String())
	}

	f, err := os.Open(journal)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[int64]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct {
			JobID     int64   `json:"job_id"`
			Attempt   int     `json:"attempt"`
			WorkerPID int     `json:"worker_pid"`
			Start     string  `json:"start"`
			End       string  `json:"end"`
			Err       *string `json:"err"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		start, err1 := time.Parse(time.RFC3339Nano, e.Start)
		end, err2 := time.Parse(time.RFC3339Nano, e.End)
		if err1 != nil || err2 != nil || end.Sub(start) < 20*time.Millisecond || e.Attempt != 1 || e.WorkerPID != os.Getpid() || e.Err != nil {
			t.Errorf("journal entry %s", sc.Text())
		}
		seen[e.JobID] = true
	}
	if len(seen) != n {
		t.Fatalf("journal has %d jobs, want %d", len(seen), n)
	}
}

func TestWorkRefusesAnUnmigratedDatabase(t *testing.T) {
	t.Parallel()
	dsn := emptyDatabase(t)
	c := cli{t: t, env: map[string]string{"IACTQ_DSN": dsn}}
	r := c.run("work")
	if r.code != 1 || !strings.Contains(r.stderr, "iactq migrate") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestMigrateFreshDatabase(t *testing.T) {
	t.Parallel()
	c := cli{t: t, env: map[string]string{"IACTQ_DSN": emptyDatabase(t)}}
	if out := c.ok("migrate", "--status"); !strings.Contains(out, "pending") {
		t.Fatalf("status before migrating:\n%s", out)
	}
	if out := c.ok("migrate"); !strings.HasPrefix(out, "applied 00001_queue.sql\n") {
		t.Fatalf("first migrate: %q", out)
	}
	if out := c.ok("migrate"); out != "schema is up to date\n" {
		t.Fatalf("second migrate: %q", out)
	}
	if out := c.ok("migrate", "--status"); strings.Contains(out, "pending") {
		t.Fatalf("status after migrating:\n%s", out)
	}
}

// emptyDatabase creates a database with no schema and returns an admin DSN for it.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	adminDSN := os.Getenv("IACTQ_TEST_ADMIN_DSN")
	if adminDSN == "" {
		t.Fatal("IACTQ_TEST_ADMIN_DSN is not set: run the tests with `make test`")
	}
	root, err := queue.OpenDB(adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("iactq_t_cli_%d", time.Now().UnixNano())
	if _, err := root.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = root.Exec("DROP DATABASE IF EXISTS " + name)
		root.Close()
	})
	cfg, err := mysql.ParseDSN(adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}
