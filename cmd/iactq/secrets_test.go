package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/iact/iactq/internal/waitfor"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// TestWorkerUserHasNoDDL: the user the workers (and every CLI test) run as can read
// and write rows and nothing else: no CREATE, DROP, ALTER, TRUNCATE, GRANT.
func TestWorkerUserHasNoDDL(t *testing.T) {
	d, _ := setup(t)
	for _, stmt := range []string{
		"CREATE TABLE iactq_evil (id INT)",
		"DROP TABLE iactq_jobs",
		"ALTER TABLE iactq_jobs ADD COLUMN evil INT",
		"CREATE INDEX evil ON iactq_jobs (kind)",
		"TRUNCATE TABLE iactq_jobs",
		"DROP VIEW iactq_priorities",
		"CREATE VIEW evil AS SELECT 1",
		"CREATE DATABASE iactq_evil",
		"GRANT ALL ON *.* TO CURRENT_USER()",
		"SELECT COUNT(*) FROM mysql.user",
		"SET GLOBAL max_connections = 1",
	} {
		if _, err := d.DB.Exec(stmt); err == nil {
			t.Errorf("the worker user may run %s", stmt)
		}
	}
	// What it needs, it may do.
	for _, stmt := range []string{
		"INSERT INTO iactq_jobs (kind) VALUES ('noop')",
		"UPDATE iactq_jobs SET max_attempts = 2",
		"SELECT COUNT(*) FROM iactq_priorities",
		"DELETE FROM iactq_jobs",
	} {
		if _, err := d.DB.Exec(stmt); err != nil {
			t.Errorf("the worker user may not run %s: %v", stmt, err)
		}
	}
}

// workerDatabase creates an empty database on which the worker user has SELECT,
// INSERT, UPDATE and DELETE only, and returns the worker's DSN for it.
func workerDatabase(t *testing.T) string {
	t.Helper()
	adminDSN, workerDSN := os.Getenv("IACTQ_TEST_ADMIN_DSN"), os.Getenv("IACTQ_TEST_WORKER_DSN")
	if adminDSN == "" || workerDSN == "" {
		t.Fatal("IACTQ_TEST_ADMIN_DSN and IACTQ_TEST_WORKER_DSN are not set: run the tests with `make test`")
	}
	root, err := queue.OpenDB(adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	wcfg, err := mysql.ParseDSN(workerDSN)
	if err != nil {
		t.Fatal(err)
	}
	name := "iactq_t_priv_" + randomHex(6)
	stmts := []string{"CREATE DATABASE " + name}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		stmts = append(stmts, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s.* TO '%s'@'%s'", name, wcfg.User, host))
	}
	for _, s := range stmts {
		if _, err := root.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	t.Cleanup(func() { _, _ = root.Exec("DROP DATABASE IF EXISTS " + name) })
	wcfg.DBName = name
	return wcfg.FormatDSN()
}

// TestMigrateNeedsDDL: `iactq migrate` as the worker user fails (exit 1) with a message
// that says why, and leaves nothing behind.
func TestMigrateNeedsDDL(t *testing.T) {
	t.Parallel()
	c := cli{t: t, env: map[string]string{"IACTQ_DSN": workerDatabase(t)}}
	r := c.run("migrate")
	if r.code != 1 || r.stdout != "" {
		t.Fatalf("migrate as the worker: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	msg := strings.ToLower(r.stderr)
	if !strings.HasPrefix(r.stderr, "iactq: ") || !strings.Contains(msg, "denied") {
		t.Errorf("migrate as the worker: stderr %q: want the server's 'command denied'", r.stderr)
	}
	if !strings.Contains(msg, "privilege") && !strings.Contains(msg, "ddl") {
		t.Errorf("migrate as the worker: stderr %q does not say that migrate needs a user with DDL privileges", r.stderr)
	}
	// migrate --status needs DDL too on a fresh database (goose creates its version
	// table first): reported, not required here.
	if r := c.run("migrate", "--status"); r.code != 0 {
		t.Logf("migrate --status as the worker on a fresh database: exit %d %s", r.code, r.stderr)
	}
	// work refuses the unmigrated database rather than fail on every query, as it
	// does for a user with DDL (TestWorkRefusesAnUnmigratedDatabase).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r := c.runIn(ctx, "", "work"); r.code != 1 || !strings.Contains(r.stderr, "iactq migrate") || ctx.Err() != nil {
		t.Errorf("work as the worker on the unmigrated database: still running after 10 s (%v), exit %d, stderr:\n%s", ctx.Err(), r.code, abbrevOut(r.stderr))
	}
}

// TestWorkerDSNRunsEveryDayToDayCommand: everything but migrate works as the
// least-privileged user.
func TestWorkerDSNRunsEveryDayToDayCommand(t *testing.T) {
	_, c := setup(t)
	id := strings.TrimSpace(c.ok("enqueue", "noop", "--requested-by", "analyst"))
	c.ok("enqueue", "noop", "--in", "1h", "--queue", "reports")
	r := c.runIn(context.Background(), `{"kind":"noop"}`+"\n", "enqueue", "--batch")
	if r.code != 0 {
		t.Fatalf("enqueue --batch: %d %s", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"jobs", "list"}, {"jobs", "show", id}, {"queues", "list"}, {"queues", "pause", "reports"},
		{"queues", "resume", "reports"}, {"messages"}, {"priorities"}, {"priorities", "--json"},
		{"schedules"}, {"workers"}, {"sla"}, {"migrate", "--status"},
	} {
		c.ok(args...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() { done <- c.runIn(ctx, "", "work", "--queues", "default=2") }()
	waitfor.True(t, 20*time.Second, func() bool { return strings.Contains(c.ok("jobs", "show", id), "completed") },
		func() string { return "work as the worker user did not complete the job" })
	cancel()
	if r := <-done; r.code != 0 {
		t.Fatalf("work: exit %d %s", r.code, r.stderr)
	}
	if out := c.ok("messages", "--to", "analyst"); !strings.Contains(out, id) {
		t.Errorf("no message for job %s:\n%s", id, out)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// buildBinary builds bin/iactq into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "iactq")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// secretUser creates a user with a long, distinctive password and the worker's
// privileges on d, reachable from the unix socket and loopback TCP. It returns the
// user and password, and the server's network and address.
func secretUser(t *testing.T, d *queuetest.DB) (user, pw, network, addr string) {
	t.Helper()
	admin, err := mysql.ParseDSN(os.Getenv("IACTQ_TEST_ADMIN_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := queue.OpenDB(os.Getenv("IACTQ_TEST_ADMIN_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	user = "iactq_sec_" + randomHex(4)
	pw = "Pw-" + randomHex(12) + "-Zq"
	for _, host := range []string{"localhost", "127.0.0.1"} {
		for _, s := range []string{
			fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", user, host, pw),
			fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s.* TO '%s'@'%s'", d.Name, user, host),
		} {
			if _, err := root.Exec(s); err != nil {
				t.Fatalf("%s: %v", strings.ReplaceAll(s, pw, "***"), err)
			}
		}
		host := host
		t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", user, host)) })
	}
	return user, pw, admin.Net, admin.Addr
}

// flakyProxy forwards TCP connections to the database until cut, and refuses them
// while cut: the database going away and coming back, as a worker sees it.
type flakyProxy struct {
	ln              net.Listener
	network, target string
	mu              sync.Mutex
	down            bool
	conns           map[net.Conn]bool
}

func newFlakyProxy(t *testing.T, network, target string) *flakyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, network: network, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *flakyProxy) addr() string { return p.ln.Addr().String() }

func (p *flakyProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.Dial(p.network, p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, up); up.Close(); c.Close() }()
	}
}

// cut closes every connection and refuses new ones until restore.
func (p *flakyProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *flakyProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// TestSecretsNeverPrintedByTheBinary runs bin/iactq as a real process with a DSN whose
// password is long and distinctive, in every way a DSN goes wrong, and greps all of
// its output for the password.
func TestSecretsNeverPrintedByTheBinary(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t, t.TempDir())
	d := queuetest.New(t)
	user, pw, network, addr := secretUser(t, d)
	good := fmt.Sprintf("%s:%s@%s(%s)/%s", user, pw, network, addr, d.Name)
	wrongPW := fmt.Sprintf("%s:%s-wrong@%s(%s)/%s", user, pw, network, addr, d.Name)
	unreachable := fmt.Sprintf("%s:%s@tcp(127.0.0.1:1)/%s", user, pw, d.Name)
	noHost := fmt.Sprintf("%s:%s@tcp(iactq-no-such-host.invalid:3306)/%s", user, pw, d.Name)
	malformed := fmt.Sprintf("%s:%s@tcp(127.0.0.1:1/%s", user, pw, d.Name)
	badParam := fmt.Sprintf("%s:%s@%s(%s)/%s?timeout=soon", user, pw, network, addr, d.Name)

	run := func(t *testing.T, env []string, stdin string, wait time.Duration, args ...string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if wait > 0 {
			// A long-running command: let it try for a while, then stop it.
			timer := time.AfterFunc(wait, func() { _ = cmd.Process.Signal(syscall.SIGTERM) })
			defer timer.Stop()
		}
		err := cmd.Wait()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), pw) {
			t.Errorf("iactq %s printed the password:\n%s", strings.Join(args, " "), out.String())
		}
		return code, out.String()
	}

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		wait time.Duration
		code int
	}{
		{"enqueue, wrong password", []string{"IACTQ_DSN=" + wrongPW}, []string{"enqueue", "noop"}, 0, 1},
		{"enqueue --batch, wrong password", []string{"IACTQ_DSN=" + wrongPW}, []string{"enqueue", "--batch"}, 0, 1},
		{"migrate, wrong password", []string{"IACTQ_DSN=" + wrongPW}, []string{"migrate"}, 0, 1},
		{"migrate, wrong password, --dsn", nil, []string{"--dsn", wrongPW, "migrate", "--status"}, 0, 1},
		{"migrate, unreachable", []string{"IACTQ_DSN=" + unreachable}, []string{"migrate"}, 0, 1},
		{"enqueue, unreachable, --dsn=", nil, []string{"--dsn=" + unreachable, "enqueue", "noop"}, 0, 1},
		{"enqueue, no such host", []string{"IACTQ_DSN=" + noHost}, []string{"--log-level", "debug", "enqueue", "noop"}, 0, 1},
		{"enqueue, malformed", []string{"IACTQ_DSN=" + malformed}, []string{"enqueue", "noop"}, 0, 2},
		{"migrate, malformed", nil, []string{"--dsn", malformed, "migrate"}, 0, 2},
		{"enqueue, bad parameter", []string{"IACTQ_DSN=" + badParam}, []string{"enqueue", "noop"}, 0, 2},
		{"work, wrong password", []string{"IACTQ_DSN=" + wrongPW}, []string{"work", "--log-level", "debug"}, 3 * time.Second, -1},
		{"work, unreachable", []string{"IACTQ_DSN=" + unreachable}, []string{"work", "--log-level", "debug", "--log-format", "console"}, 3 * time.Second, -1},
		{"work, malformed", []string{"IACTQ_DSN=" + malformed}, []string{"work"}, 0, 2},
		{"work, binlog DSN unreachable", []string{"IACTQ_DSN=" + good, "IACTQ_BINLOG_DSN=" + unreachable}, []string{"work", "--log-level", "debug"}, 3 * time.Second, 0},
		{"config show", []string{"IACTQ_DSN=" + good}, []string{"config", "show"}, 0, 0},
		{"help", []string{"IACTQ_DSN=" + good}, []string{"work", "--help"}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := run(t, tc.env, `{"kind":"noop"}`+"\n", tc.wait, tc.args...)
			if tc.code >= 0 && code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			if tc.code > 0 && !strings.Contains(out, "iactq: ") {
				t.Errorf("no error message:\n%s", out)
			}
			if tc.wait > 0 && tc.code < 0 && !strings.Contains(out, `"level":"warn"`) && !strings.Contains(out, "WRN") {
				t.Errorf("work said nothing of the failing database:\n%s", out)
			}
		})
	}

	// A worker whose database goes away (every connection cut, new ones refused) and
	// comes back, running a job that panics, with debug logs.
	t.Run("work, database goes away", func(t *testing.T) {
		proxy := newFlakyProxy(t, network, addr)
		viaProxy := fmt.Sprintf("%s:%s@tcp(%s)/%s", user, pw, proxy.addr(), d.Name)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "work", "--log-level", "debug", "--queues", "default=2", "--http", "127.0.0.1:0")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "IACTQ_DSN=" + viaProxy, "IACTQ_DASHBOARD_TOKEN=0123456789abcdef"}
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c := cli{t: t, env: map[string]string{"IACTQ_DSN": d.WorkerDSN}}
		waitDone := func(id string) {
			t.Helper()
			deadline := time.Now().Add(40 * time.Second)
			for {
				s := c.ok("jobs", "show", id)
				if strings.Contains(s, "completed") || strings.Contains(s, "discarded") {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("job %s not finished:\n%s\nworker output:\n%s", id, s, out.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		waitDone(strings.TrimSpace(c.ok("enqueue", "noop", "--args", `{"panic": true}`, "--max-attempts", "1")))
		// The outage lasts until the worker has failed to reach the database
		// (a warning logged) both before and after the job is enqueued.
		warnings := func() int { return strings.Count(out.String(), `"level":"warn"`) }
		waitWarned := func() {
			t.Helper()
			before := warnings()
			waitfor.True(t, 30*time.Second, func() bool { return warnings() > before },
				func() string { return "the worker logged no warning while its database was away:\n" + out.String() })
		}
		proxy.cut()
		waitWarned()
		id := strings.TrimSpace(c.ok("enqueue", "noop", "--args", `{"sleep_ms": 10}`))
		waitWarned()
		proxy.restore()
		waitDone(id)
		// The dashboard and /metrics do not show it either.
		for _, line := range strings.Split(out.String(), "\n") {
			if i := strings.Index(line, `"addr":"`); i >= 0 && strings.Contains(line, "serving") {
				a := line[i+len(`"addr":"`):]
				a = a[:strings.IndexByte(a, '"')]
				for _, path := range []string{"/", "/workers", "/metrics", "/readyz"} {
					resp, err := http.Get("http://" + a + path)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if bytes.Contains(body, []byte(pw)) {
						t.Errorf("GET %s shows the password", path)
					}
				}
			}
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		if err != nil {
			t.Errorf("work: %v", err)
		}
		s := out.String()
		if strings.Contains(s, pw) {
			t.Errorf("work printed the password:\n%s", s)
		}
		if !strings.Contains(s, "panic") {
			t.Errorf("the panicking job left no log line:\n%s", s)
		}
	})
}

// TestHTTPBindsLoopbackByDefault: the dashboard's default address is loopback, and an
// address without a host (":0") binds 127.0.0.1 only, not every interface.
func TestHTTPBindsLoopbackByDefault(t *testing.T) {
	_, c := setup(t)
	a := &app{getenv: c.getenv}
	if def := a.dashboardCmd().Flags().Lookup("http").DefValue; !strings.HasPrefix(def, "127.0.0.1:") {
		t.Errorf("dashboard --http defaults to %q", def)
	}
	if def := a.workCmd().Flags().Lookup("http").DefValue; def != "" {
		t.Errorf("work --http defaults to %q: want no HTTP unless asked", def)
	}
	for _, args := range [][]string{{"work", "--http", ":0"}, {"dashboard", "--http", ":0"}} {
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- execute(ctx, args, c.getenv, strings.NewReader(""), &stdout, &stderr)
		}()
		addr := ""
		waitfor.True(t, 20*time.Second, func() bool {
			for _, line := range strings.Split(stderr.String(), "\n") {
				if i := strings.Index(line, `"addr":"`); i >= 0 && strings.Contains(line, "serving") {
					a := line[i+len(`"addr":"`):]
					addr = a[:strings.IndexByte(a, '"')]
				}
			}
			return addr != ""
		}, func() string { return fmt.Sprintf("%v: no address logged:\n%s", args, stderr.String()) })
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Errorf("%v: listening on %q", args, addr)
		}
		// Not reachable on any other address of this machine.
		ifaddrs, _ := net.InterfaceAddrs()
		for _, ia := range ifaddrs {
			ipnet, ok := ia.(*net.IPNet)
			if !ok || ipnet.IP.IsLoopback() || ipnet.IP.IsLinkLocalUnicast() {
				continue
			}
			conn, err := net.DialTimeout("tcp", net.JoinHostPort(ipnet.IP.String(), port), time.Second)
			if err == nil {
				conn.Close()
				t.Errorf("%v: reachable on %s", args, ipnet.IP)
			}
		}
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("%v: exit %d %s", args, code, stderr.String())
		}
	}
}
