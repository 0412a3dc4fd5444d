package chaos

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// privilegeConfig is the workers' config: every deploy step (and the rollback)
// appends "STEP REVISION" to STEPLOG through sh, the revision reaching it only as
// $IACTQ_REVISION; report CSV files go to OUTPUT.
const privilegeConfig = `queues: {default: 4}
poll_interval: 20ms
heartbeat_interval: 1s
rescue_after: 10s
shutdown_grace: 5s
retry: {initial: 100ms, max: 1s, jitter: 0.3}
schedules: []
jobs:
  reports: {output_dir: "OUTPUT"}
  deploy:
    notify: ops
    dir: "DEPLOYDIR"
    backup_dir: backups
    environments:
      staging: &env
        steps:
          validate: &step {command: [sh, -c, 'echo "$IACTQ_DEPLOY_STEP $IACTQ_REVISION" >> "$1"', sh, "STEPLOG"], timeout: 1m}
          tests: *step
          backup: *step
          migrate: *step
          collectstatic: *step
          restart: *step
          healthcheck: *step
        rollback: *step
      production: *env
`

// LeastPrivilege is scenario 5: the worker user (SELECT, INSERT, UPDATE, DELETE only)
// tries DDL and grants, and `iactq migrate`; the binary runs with a distinctive
// password in every way a DSN goes wrong and its output is searched for it; a worker
// serving the dashboard is sent actions without the token and probed on every
// interface; deploys whose args try to reach a shell and reports whose files try to
// land outside their folder run through real worker processes. Every probe counts as
// a fault injected; any that gets through fails the row.
func LeastPrivilege(ctx context.Context, o Options) (*Result, error) {
	r := &Result{Scenario: "5 least privilege"}
	began := time.Now()
	defer func() { r.Elapsed = time.Since(began) }()
	// Every probe is a fault injected, counted by kind.
	kinds := []string{"DDL/grant", "DSN/secret", "HTTP", "deploy", "report"}
	probes := map[string]int{}
	prober := func(kind string) func(ok bool, format string, args ...any) {
		return func(ok bool, format string, args ...any) {
			probes[kind]++
			r.Faults++
			if !ok {
				r.fail(format, args...)
			}
		}
	}

	db, err := NewDatabase(ctx, o.Server)
	if err != nil {
		return nil, err
	}
	defer db.Close()

	// DDL, grants and the server's own tables, as the worker user.
	probe := prober("DDL/grant")
	for _, stmt := range []string{
		"CREATE TABLE iactq_evil (id INT)",
		"DROP TABLE iactq_jobs",
		"ALTER TABLE iactq_jobs ADD COLUMN evil INT",
		"CREATE INDEX evil ON iactq_jobs (kind)",
		"TRUNCATE TABLE iactq_jobs",
		"DROP VIEW iactq_priorities",
		"CREATE DATABASE iactq_evil",
		"GRANT ALL ON *.* TO CURRENT_USER()",
		"GRANT SELECT ON " + db.Name + ".* TO 'iactq_evil'@'%'",
		"CREATE USER 'iactq_evil'@'%'",
		"SELECT COUNT(*) FROM mysql.user",
		"SET GLOBAL max_connections = 1",
	} {
		_, err := db.DB.ExecContext(ctx, stmt)
		probe(err != nil && strings.Contains(strings.ToLower(err.Error()), "denied"), "the worker user ran %s (err %v)", stmt, err)
	}
	// What it needs, it may do.
	for _, stmt := range []string{
		"INSERT INTO iactq_jobs (kind) VALUES ('noop')",
		"UPDATE iactq_jobs SET max_attempts = 2",
		"SELECT COUNT(*) FROM iactq_priorities",
		"DELETE FROM iactq_jobs",
	} {
		if _, err := db.DB.ExecContext(ctx, stmt); err != nil {
			r.fail("the worker user may not run %s: %v", stmt, err)
		}
	}

	// Migrations need another user: migrate and work as the worker on an empty database.
	empty, err := emptyDatabase(ctx, o.Server)
	if err != nil {
		return nil, err
	}
	defer empty.drop()
	res := runCLI(ctx, o.Bin, []string{"IACTQ_DSN=" + empty.WorkerDSN}, "", 0, "migrate")
	msg := strings.ToLower(res.stderr)
	probe(res.code == 1 && strings.HasPrefix(res.stderr, "iactq: ") && strings.Contains(msg, "denied") && (strings.Contains(msg, "privilege") || strings.Contains(msg, "ddl")),
		"migrate as the worker user: exit %d, stderr %q; want exit 1 saying it needs DDL privileges", res.code, abbreviate(res.stderr, 300))
	tables := count(ctx, db.Admin, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ?`, empty.Name)
	probe(tables == 0, "migrate as the worker user left %d tables", tables)
	res = runCLI(ctx, o.Bin, []string{"IACTQ_DSN=" + empty.WorkerDSN}, "", 20*time.Second, "work")
	probe(res.code == 1 && strings.Contains(res.stderr, "iactq migrate"), "work on an unmigrated database: exit %d, stderr %q; want exit 1 pointing at iactq migrate", res.code, abbreviate(res.stderr, 300))

	// Secrets: a worker user whose password is long and distinctive.
	user, pw, err := secretUser(ctx, db)
	if err != nil {
		return nil, err
	}
	defer dropUser(db, user)
	dsns, err := secretDSNs(db.WorkerDSN, user, pw)
	if err != nil {
		return nil, err
	}
	probe = prober("DSN/secret")
	for _, tc := range []struct {
		name, dsn string
		args      []string
		stop      time.Duration
		code      int // -1: any
	}{
		{"enqueue, wrong password", dsns.wrong, []string{"enqueue", "noop"}, 0, 1},
		{"enqueue --batch, wrong password", dsns.wrong, []string{"--log-level", "debug", "enqueue", "--batch"}, 0, 1},
		{"migrate, wrong password", dsns.wrong, []string{"migrate"}, 0, 1},
		{"enqueue, unreachable host", dsns.unreachable, []string{"enqueue", "noop"}, 0, 1},
		{"jobs list, unknown host", dsns.unknownHost, []string{"--log-level", "debug", "jobs", "list"}, 0, 1},
		{"enqueue, malformed DSN", dsns.malformed, []string{"enqueue", "noop"}, 0, 2},
		{"enqueue, bad DSN parameter", dsns.badParam, []string{"enqueue", "noop"}, 0, 2},
		{"work, wrong password", dsns.wrong, []string{"work", "--log-level", "debug"}, 3 * time.Second, -1},
		{"work, unreachable host", dsns.unreachable, []string{"work", "--log-level", "debug", "--log-format", "console"}, 3 * time.Second, -1},
		{"work, malformed DSN", dsns.malformed, []string{"work"}, 0, 2},
		{"config show", dsns.good, []string{"config", "show"}, 0, 0},
	} {
		res := runCLI(ctx, o.Bin, []string{"IACTQ_DSN=" + tc.dsn}, `{"kind":"noop"}`+"\n", tc.stop, tc.args...)
		probe(!strings.Contains(res.output(), pw), "iactq %s (%s) printed the password:\n%s", strings.Join(tc.args, " "), tc.name, abbreviate(res.output(), 500))
		if tc.code >= 0 && res.code != tc.code {
			r.fail("iactq %s (%s): exit %d, want %d: %s", strings.Join(tc.args, " "), tc.name, res.code, tc.code, abbreviate(res.output(), 300))
		}
	}

	// The worker processes: as the secret user, serving the dashboard on ":0"; and a
	// dashboard with its default address.
	base := filepath.Join(o.Dir, "privilege")
	files := filepath.Join(base, "files") // the report folder and a file beside it
	deployDir := filepath.Join(base, "deploy")
	stepLog := filepath.Join(deployDir, "steps.log")
	outside := filepath.Join(files, "outside.csv")
	for _, d := range []string{filepath.Join(files, "reports"), deployDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(outside, []byte("precious\n"), 0o644); err != nil {
		return nil, err
	}
	config := strings.NewReplacer("OUTPUT", filepath.Join(files, "reports"), "DEPLOYDIR", deployDir, "STEPLOG", stepLog).Replace(privilegeConfig)
	token := "chaos-" + randomHex(12)
	f, err := newFleet(o.Bin, filepath.Join(base, "workers"), config, "IACTQ_DSN="+dsns.good, "IACTQ_DASHBOARD_TOKEN="+token)
	if err != nil {
		return nil, err
	}
	defer f.killAll()
	worker, err := f.startCmd("work", "--http", ":0", "--log-level", "debug")
	if err != nil {
		return nil, err
	}
	addr := servingAddr(ctx, worker.log)
	if addr == "" {
		return nil, fmt.Errorf("work --http :0 logged no address (log %s):\n%s", worker.log, tailFile(worker.log, 1000))
	}
	o.logf("privilege: %d DDL probes, %d DSN probes; a worker serves %s", probes["DDL/grant"], probes["DSN/secret"], addr)

	client, err := db.client()
	if err != nil {
		return nil, err
	}
	probe = prober("HTTP")
	probeHTTP(ctx, r, probe, db.DB, client, addr, token, pw)
	res = runCLI(ctx, o.Bin, []string{"IACTQ_DSN=" + dsns.good}, "", 0, "dashboard", "--help")
	probe(strings.Contains(res.stdout, `"127.0.0.1:8090"`), "dashboard --help shows no 127.0.0.1 default: %s", abbreviate(res.stdout, 300))

	// Deploy args that try to reach a shell, and report jobs whose files try to escape.
	want := map[int64]string{}
	marker := filepath.Join(base, "pwned")
	cli := func(args ...string) cliResult {
		return runCLI(ctx, o.Bin, []string{"IACTQ_DSN=" + dsns.good}, "", 0, append([]string{"enqueue"}, args...)...)
	}
	probe = prober("deploy")
	for _, args := range []string{
		`{"env":"staging","revision":"$(touch ` + marker + `)"}`,
		`{"env":"staging","revision":"` + "`touch " + marker + "`" + `"}`,
		`{"env":"staging","revision":"x; touch ` + marker + `"}`,
		`{"env":"staging","revision":"main\ntouch ` + marker + `"}`,
		`{"env":"staging","revision":"-oProxyCommand=touch ` + marker + `"}`,
		`{"env":"staging; touch ` + marker + `","revision":"abc"}`,
		`{"env":"staging","revision":"abc","command":["touch","` + marker + `"]}`,
	} {
		res := cli("deploy", "--args", args)
		probe(res.code == 2 && res.stdout == "", "enqueue deploy %s: exit %d, stdout %q; want exit 2 and nothing written", args, res.code, res.stdout)
		// Plain SQL skips the CLI's checks: the worker must discard it unrun.
		id, err := insertRaw(ctx, db, "deploy", args, "chaos-deployer")
		if err != nil {
			return nil, err
		}
		want[id] = "discarded"
	}
	// A step enqueued by hand, not by a deploy, runs nothing.
	stepID, err := insertRaw(ctx, db, "deploy_step", `{"deploy_id": 1, "step": "migrate"}`, "")
	if err != nil {
		return nil, err
	}
	want[stepID] = "discarded"
	// A good deploy runs every step, through sh: the marker's absence means something.
	res = cli("deploy", "--args", `{"env":"staging","revision":"chaos-1.0"}`)
	if res.code != 0 {
		r.fail("enqueue a good deploy: exit %d %s", res.code, res.stderr)
	}

	// Reports: a symlink planted where a report's file goes, and where its temporary
	// file goes, both pointing outside the folder; a flow id that is a path.
	probe = prober("report")
	// The higher id first: inserted after 1 000 000, any job the running worker
	// inserts meanwhile (a next occurrence, a follow-up) would take 1 000 001 first.
	names := []string{"dashboard_metrics-job-%d.csv", ".dashboard_metrics-job-%d.csv.tmp"}
	for i := len(names) - 1; i >= 0; i-- {
		name, id := names[i], int64(1_000_000+i)
		if err := os.Symlink(outside, filepath.Join(files, "reports", fmt.Sprintf(name, id))); err != nil {
			return nil, err
		}
		if _, err := db.DB.ExecContext(ctx, `INSERT INTO iactq_jobs (id, kind, args, max_attempts) VALUES (?, 'dashboard_metrics', '{}', 2)`, id); err != nil {
			return nil, fmt.Errorf("insert report job %d: %w", id, err)
		}
		want[id] = "completed"
	}
	want[1_000_001] = "discarded" // its temporary file cannot be created: it fails, twice
	for _, args := range []string{`{"flow_id":"../../outside"}`, `{"flow_id":"/etc/passwd"}`, `{"period":"../../outside"}`} {
		res := cli("call_volume_trend", "--args", args)
		probe(res.code == 2 && res.stdout == "", "enqueue call_volume_trend %s: exit %d, stdout %q; want exit 2", args, res.code, res.stdout)
		id, err := insertRaw(ctx, db, "call_volume_trend", args, "")
		if err != nil {
			return nil, err
		}
		want[id] = "discarded"
	}
	res = cli("call_volume_trend", "--args", `{"period":"last 7d"}`)
	if res.code != 0 {
		r.fail("enqueue a good report: exit %d %s", res.code, res.stderr)
	}

	pending := `SELECT COUNT(*) FROM iactq_jobs WHERE state NOT IN ('completed', 'discarded', 'cancelled')`
	if !waitFor(ctx, 2*time.Minute, func() bool { return count(ctx, db.DB, pending) == 0 }) {
		r.fail("jobs not all finished within 2 minutes")
	}
	f.stopInto(r)
	out, _ := os.ReadFile(worker.log)
	prober("DSN/secret")(!strings.Contains(string(out), pw), "the worker's log (debug) shows the password")

	// What ran: the good deploy's seven steps, nothing else, and no marker.
	probe = prober("deploy")
	steps, _ := os.ReadFile(stepLog)
	lines := strings.Split(strings.TrimSpace(string(steps)), "\n")
	probe(len(lines) == len(jobs.DeploySteps) && !strings.Contains(string(steps), "touch") && !strings.Contains(string(steps), "$("),
		"the deploy steps ran %d commands, want the good deploy's %d:\n%s", len(lines), len(jobs.DeploySteps), abbreviate(string(steps), 500))
	_, err = os.Stat(marker)
	probe(os.IsNotExist(err), "%s exists: a deploy's args reached a shell", marker)
	var deployState string
	if err := db.DB.QueryRowContext(ctx, `SELECT state FROM iactq_deploys WHERE revision = 'chaos-1.0'`).Scan(&deployState); err != nil || deployState != "succeeded" {
		r.fail("the good deploy is %q (%v), want succeeded", deployState, err)
	}
	// What was written: nothing outside the report folder, nothing through a symlink.
	probe = prober("report")
	b, err := os.ReadFile(outside)
	probe(err == nil && string(b) == "precious\n", "the file beside the report folder changed: %q %v", abbreviate(string(b), 100), err)
	entries, _ := os.ReadDir(files)
	probe(len(entries) == 2, "%d entries beside the report folder, want reports/ and outside.csv only: %v", len(entries), entries)
	link, err := os.Lstat(filepath.Join(files, "reports", "dashboard_metrics-job-1000000.csv"))
	probe(err == nil && link.Mode().IsRegular(), "the report over a planted symlink is not a regular file of the folder (%v)", err)
	reports, _ := filepath.Glob(filepath.Join(files, "reports", "call_volume_trend-job-*.csv"))
	if len(reports) != 1 {
		r.fail("%d call_volume_trend reports in the folder, want the good one", len(reports))
	}

	all, err := loadJobs(ctx, db.DB)
	if err != nil {
		return nil, err
	}
	for id, j := range all {
		if _, ok := want[id]; !ok && j.State != "cancelled" {
			want[id] = "completed" // the good deploy, its steps, the good report
		}
	}
	r.Jobs = len(all)
	checkFinal(r, all, want)
	execs, err := readJournal(f.journal)
	if err != nil {
		return nil, err
	}
	checkOverlaps(r, execs, all, nil)
	checkMessages(r, all)
	var detail []string
	for _, k := range kinds {
		detail = append(detail, fmt.Sprintf("%d %s", probes[k], k))
	}
	r.FaultDetail = strings.Join(detail, ", ") + " probes"
	r.note("the worker ran as %s (SELECT, INSERT, UPDATE, DELETE only), serving the dashboard at %s", user, addr)
	r.note("deploy: %d commands ran, all the good deploy's; %d executions journaled", len(lines), len(execs))
	return r, nil
}

// insertRaw inserts a job with plain SQL, past the API's checks, and returns its id.
func insertRaw(ctx context.Context, db *Database, kind, args, requestedBy string) (int64, error) {
	res, err := db.DB.ExecContext(ctx, `INSERT INTO iactq_jobs (kind, args, requested_by) VALUES (?, ?, NULLIF(?, ''))`, kind, args, requestedBy)
	if err != nil {
		return 0, fmt.Errorf("insert %s job: %w", kind, err)
	}
	return res.LastInsertId()
}

// secretUser creates a user with a long, distinctive password and the worker's
// privileges on db, reachable over the socket and loopback TCP. dropUser removes it.
func secretUser(ctx context.Context, db *Database) (user, pw string, err error) {
	user = "iactq_sec_" + randomHex(4)
	pw = "Pw-" + randomHex(12) + "-Zq"
	for _, host := range []string{"localhost", "127.0.0.1"} {
		for _, stmt := range []string{
			fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", user, host, pw),
			fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s.* TO '%s'@'%s'", db.Name, user, host),
		} {
			if _, err := db.Admin.ExecContext(ctx, stmt); err != nil {
				return "", "", fmt.Errorf("%s: %w", strings.ReplaceAll(stmt, pw, "***"), err)
			}
		}
	}
	return user, pw, nil
}

func dropUser(db *Database, user string) {
	for _, host := range []string{"localhost", "127.0.0.1"} {
		_, _ = db.Admin.ExecContext(context.Background(), fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", user, host))
	}
}

// dsnSet is the secret user's DSN, and the ways it goes wrong.
type dsnSet struct{ good, wrong, unreachable, unknownHost, malformed, badParam string }

func secretDSNs(workerDSN, user, pw string) (dsnSet, error) {
	cfg, err := mysql.ParseDSN(workerDSN)
	if err != nil {
		return dsnSet{}, fmt.Errorf("worker DSN: %w", err)
	}
	at := func(pw, net, addr, params string) string {
		return fmt.Sprintf("%s:%s@%s(%s)/%s%s", user, pw, net, addr, cfg.DBName, params)
	}
	return dsnSet{
		good:        at(pw, cfg.Net, cfg.Addr, ""),
		wrong:       at(pw+"-wrong", cfg.Net, cfg.Addr, ""),
		unreachable: at(pw, "tcp", "127.0.0.1:1", ""),
		unknownHost: at(pw, "tcp", "iactq-no-such-host.invalid:3306", ""),
		malformed:   fmt.Sprintf("%s:%s@tcp(127.0.0.1:1/%s", user, pw, cfg.DBName),
		badParam:    at(pw, cfg.Net, cfg.Addr, "?timeout=soon"),
	}, nil
}

// servingAddr waits for the "serving" line of a worker's JSON log and returns its
// address.
func servingAddr(ctx context.Context, logPath string) string {
	addr := ""
	waitFor(ctx, 20*time.Second, func() bool {
		f, err := os.Open(logPath)
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var line struct {
				Message string `json:"message"`
				Addr    string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && strings.HasPrefix(line.Message, "serving") && line.Addr != "" {
				addr = line.Addr
				return true
			}
		}
		return false
	})
	return addr
}

// probeHTTP checks the dashboard at addr: bound to 127.0.0.1 only, actions refused
// without the token and changing nothing, no page showing the password or the token.
func probeHTTP(ctx context.Context, r *Result, probe func(bool, string, ...any), db *sql.DB, client *queue.Client, addr, token, pw string) {
	host, port, err := net.SplitHostPort(addr)
	probe(err == nil && host == "127.0.0.1", "work --http :0 listens on %q, want 127.0.0.1", addr)
	ifaddrs, _ := net.InterfaceAddrs()
	for _, ia := range ifaddrs {
		ipnet, ok := ia.(*net.IPNet)
		if !ok || ipnet.IP.IsLoopback() || ipnet.IP.IsLinkLocalUnicast() {
			continue
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(ipnet.IP.String(), port), time.Second)
		if err == nil {
			conn.Close()
		}
		probe(err != nil, "the dashboard is reachable on %s", ipnet.IP)
	}

	// A job that stays scheduled, and the actions on it and its queue.
	job, err := client.Insert(ctx, queue.InsertParams{Kind: "noop", ScheduledAt: time.Now().Add(time.Hour)})
	if err != nil {
		r.fail("insert a scheduled job: %v", err)
		return
	}
	base := "http://" + addr
	cancelURL := fmt.Sprintf("%s/jobs/%d/cancel", base, job.ID)
	post := func(target string, form url.Values, header http.Header) int {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
		if err != nil {
			return 0
		}
		req.Header = header.Clone()
		if req.Header == nil {
			req.Header = http.Header{}
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noRedirect.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for name, tc := range map[string]struct {
		target string
		form   url.Values
		header http.Header
	}{
		"cancel, no token":             {cancelURL, nil, nil},
		"cancel, wrong token":          {cancelURL, url.Values{"token": {token + "x"}}, nil},
		"cancel, token in the query":   {cancelURL + "?token=" + token, nil, nil},
		"cancel, wrong bearer":         {cancelURL, nil, http.Header{"Authorization": {"Bearer " + strings.ToUpper(token)}}},
		"pause, no token":              {base + "/queues/default/pause", nil, nil},
		"retry, empty cookie":          {fmt.Sprintf("%s/jobs/%d/retry", base, job.ID), nil, http.Header{"Cookie": {"iactq_token="}}},
		"run a schedule, basic auth":   {base + "/schedules/x/run", nil, http.Header{"Authorization": {"Basic " + token}}},
		"cancel, token as a header":    {cancelURL, nil, http.Header{"X-Token": {token}}},
		"cancel, token with a newline": {cancelURL, url.Values{"token": {token + "\n"}}, nil},
	} {
		code := post(tc.target, tc.form, tc.header)
		probe(code == http.StatusForbidden, "POST %s (%s): status %d, want 403", strings.TrimPrefix(tc.target, base), name, code)
	}
	resp, err := http.Get(cancelURL)
	if err == nil {
		resp.Body.Close()
	}
	probe(err == nil && resp.StatusCode == http.StatusMethodNotAllowed, "GET of a cancel: %v %v, want 405", err, resp)
	j, err := client.GetJob(ctx, job.ID)
	probe(err == nil && j.State == queue.StateScheduled, "refused requests changed job %d: %v %v", job.ID, j, err)
	paused := count(ctx, db, `SELECT COUNT(*) FROM iactq_queues WHERE paused_at IS NOT NULL`)
	probe(paused == 0, "a refused request paused %d queues", paused)
	// The token itself works: the probes above could have seen a change.
	code := post(cancelURL, nil, http.Header{"Authorization": {"Bearer " + token}})
	j, err = client.GetJob(ctx, job.ID)
	if code/100 == 5 || code == http.StatusForbidden || err != nil || j.State != queue.StateCancelled {
		r.fail("POST cancel with the token: status %d, job %v %v; want it cancelled", code, j, err)
	}
	for _, path := range []string{"/", "/workers", "/metrics", "/readyz", fmt.Sprintf("/jobs/%d", job.ID)} {
		resp, err := http.Get(base + path)
		if err != nil {
			r.fail("GET %s: %v", path, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		probe(!strings.Contains(string(body), pw) && !strings.Contains(string(body), token), "GET %s shows the password or the token", path)
	}
}
