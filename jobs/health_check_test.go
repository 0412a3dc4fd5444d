package jobs

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/iact/iactq/jobs/internal/jobsdb"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// flakyServer answers 200 on /api/health, or 503 while fail is set; it wants token.
func flakyServer(t *testing.T, token string) (*httptest.Server, *atomic.Bool) {
	t.Helper()
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "Bearer "+token:
			http.Error(w, "no token", http.StatusUnauthorized)
		case r.URL.Path != "/api/health":
			http.NotFound(w, r)
		case fail.Load():
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte(`{"status":"ok"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &fail
}

func healthStates(t *testing.T, db *queuetest.DB) map[string]jobsdb.IactqHealthState {
	t.Helper()
	sts, err := jobsdb.New(db.DB).HealthStateList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]jobsdb.IactqHealthState{}
	for _, s := range sts {
		m[s.Target] = s
	}
	return m
}

// TestHealthCheckStateChanges: OK, FAIL, FAIL, OK tells ops exactly twice — when the
// target fails and when it recovers — and every probe is recorded with its latency.
func TestHealthCheckStateChanges(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	srv, fail := flakyServer(t, "s3cret")
	cfg := DefaultConfig()
	cfg.HealthCheck.Targets = []HealthTarget{{Name: "ivr-api", URL: srv.URL + "/api/health", Token: "s3cret"}}
	c := maintClient(t, db, cfg)

	for i, failing := range []bool{false, true, true, false} {
		fail.Store(failing)
		job := queuetest.RunJobs(t, c, queue.InsertParams{Kind: "health_check", RequestedBy: "analyst"})[0]
		if job.State != queue.StateCompleted {
			t.Fatalf("run %d: job %s: %s", i, job.State, job.Errors)
		}
		st := healthStates(t, db)["ivr-api"]
		if !st.Ok.Valid || st.Ok.Bool == failing || st.LastJobID.Int64 != job.ID {
			t.Fatalf("run %d: state %+v", i, st)
		}
		if db := healthStates(t, db)["database"]; !db.Ok.Bool {
			t.Fatalf("run %d: database state %+v", i, db)
		}
	}
	ops := messagesTo(t, c, "ops")
	if len(ops) != 2 {
		t.Fatalf("ops got %d messages, want 2: %+v", len(ops), ops)
	}
	// Messages come newest first.
	if ops[1].Subject != "health: ivr-api is FAILING" || !strings.Contains(ops[1].Body, "503 Service Unavailable: database unreachable") {
		t.Errorf("first message: %q\n%s", ops[1].Subject, ops[1].Body)
	}
	if ops[0].Subject != "health: ivr-api is OK again" {
		t.Errorf("second message: %q\n%s", ops[0].Subject, ops[0].Body)
	}

	var rows, changed, okRows, dbRows int
	err := db.DB.QueryRow(`SELECT COUNT(*), COALESCE(SUM(state_changed), 0), COALESCE(SUM(ok), 0),
		COALESCE(SUM(target = 'database'), 0) FROM iactq_health_results`).Scan(&rows, &changed, &okRows, &dbRows)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 8 || changed != 2 || okRows != 6 || dbRows != 4 {
		t.Fatalf("results: %d rows, %d changes, %d OK, %d database; want 8, 2, 6, 4", rows, changed, okRows, dbRows)
	}
	var since, last time.Time
	if err := db.DB.QueryRow("SELECT since, last_checked_at FROM iactq_health_state WHERE target = 'ivr-api'").Scan(&since, &last); err != nil {
		t.Fatal(err)
	}
	var lastChange time.Time
	if err := db.DB.QueryRow("SELECT MAX(checked_at) FROM iactq_health_results WHERE target = 'ivr-api' AND state_changed").Scan(&lastChange); err != nil {
		t.Fatal(err)
	}
	if !since.Equal(lastChange) || !last.Equal(since) {
		t.Errorf("since %v, last checked %v, last change %v", since, last, lastChange)
	}
	if req := messagesTo(t, c, "analyst"); len(req) != 4 || !strings.Contains(req[2].Body, "health_check: 1 of 2 targets OK; FAIL: ivr-api (HTTP 503") {
		t.Errorf("requester messages %+v", req)
	}
}

// TestHealthCheckFirstObservation: a target failing from its first probe is a change
// (ops is told once), one OK from the first is not; timeouts and refused connections
// fail; the default targets are base_url + paths.
func TestHealthCheckFirstObservation(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/slow" {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer slow.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	cfg := DefaultConfig()
	cfg.HealthCheck.BaseURL = slow.URL + "/"
	cfg.HealthCheck.Paths = []string{"/api/health", "/api/slow"}
	cfg.HealthCheck.Timeout = 200 * time.Millisecond
	cfg.HealthCheck.Database = false
	c := maintClient(t, db, cfg)
	for range 2 {
		start := time.Now()
		job := queuetest.RunJobs(t, c, queue.InsertParams{Kind: "health_check"})[0]
		if job.State != queue.StateCompleted || time.Since(start) > 3*time.Second {
			t.Fatalf("job %s after %s: %s", job.State, time.Since(start), job.Errors)
		}
	}
	sts := healthStates(t, db)
	okURL, slowURL := slow.URL+"/api/health", slow.URL+"/api/slow"
	if len(sts) != 2 || !sts[okURL].Ok.Bool || sts[slowURL].Ok.Bool || sts[slowURL].LastDetail != "no answer within 200ms" {
		t.Fatalf("states %+v", sts)
	}
	ops := messagesTo(t, c, "ops")
	if len(ops) != 1 || ops[0].Subject != "health: "+slowURL+" is FAILING" {
		t.Fatalf("ops messages %+v", ops)
	}

	// A refused connection; several changes at once make one message.
	cfg.HealthCheck.Targets = []HealthTarget{{Name: "gone", URL: closed.URL}, {Name: "gone-too", URL: closed.URL + "/x", Timeout: time.Second}}
	c = maintClient(t, db, cfg)
	queuetest.RunJobs(t, c, queue.InsertParams{Kind: "health_check"})
	ops = messagesTo(t, c, "ops")
	if len(ops) != 2 || ops[0].Subject != "health: 2 targets changed state (2 failing, 0 OK again)" || !strings.Contains(ops[0].Body, "connection refused") {
		t.Fatalf("ops messages %+v", ops)
	}
}

// TestHealthCheckConcurrent: jobs probing the same failing target at once tell ops
// once: the state row is locked while it is compared and set.
func TestHealthCheckConcurrent(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	srv, fail := flakyServer(t, "")
	fail.Store(true)
	cfg := DefaultConfig()
	cfg.HealthCheck.Targets = []HealthTarget{{Name: "a", URL: srv.URL + "/api/health", Token: ""}}
	c := maintClient(t, db, cfg)
	ps := make([]queue.InsertParams, 8)
	for i := range ps {
		ps[i] = queue.InsertParams{Kind: "health_check"}
	}
	for _, j := range queuetest.RunJobs(t, c, ps...) {
		if j.State != queue.StateCompleted {
			t.Fatalf("job %d %s: %s", j.ID, j.State, j.Errors)
		}
	}
	if ops := messagesTo(t, c, "ops"); len(ops) != 1 {
		t.Fatalf("ops got %d messages, want 1: %+v", len(ops), ops)
	}
	var changes int
	if err := db.DB.QueryRow("SELECT COUNT(*) FROM iactq_health_results WHERE state_changed").Scan(&changes); err != nil {
		t.Fatal(err)
	}
	if changes != 1 {
		t.Fatalf("%d results marked as changes, want 1", changes)
	}
}

// TestHealthCheckSessionEngine: the settings file named by the config is checked.
func TestHealthCheckSessionEngine(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	settings := filepath.Join(t.TempDir(), "settings.py")
	write := func(s string) {
		if err := os.WriteFile(settings, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultConfig()
	cfg.HealthCheck.Paths = nil
	cfg.HealthCheck.DjangoSettings = settings
	c := maintClient(t, db, cfg)

	write("SESSION_ENGINE = 'django.contrib.sessions.backends.db'\n")
	queuetest.RunJobs(t, c, queue.InsertParams{Kind: "health_check"})
	write("SESSION_ENGINE = 'django.contrib.sessions.backends.cache'  # faster\n")
	queuetest.RunJobs(t, c, queue.InsertParams{Kind: "health_check"})
	st := healthStates(t, db)
	if len(st) != 2 || st["session_engine"].Ok.Bool || !strings.Contains(st["session_engine"].LastDetail, "backends.cache") {
		t.Fatalf("states %+v", st)
	}
	ops := messagesTo(t, c, "ops")
	if len(ops) != 1 || ops[0].Subject != "health: session_engine is FAILING" {
		t.Fatalf("ops messages %+v", ops)
	}
}

func TestReadSessionEngine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i, tc := range []struct {
		file string
		ok   bool
		want string // in the detail
	}{
		{"DEBUG = False\n", true, "not set"},
		{"SESSION_ENGINE = \"django.contrib.sessions.backends.db\"\n", true, "= django.contrib.sessions.backends.db"},
		{"SESSION_ENGINE: str = 'django.contrib.sessions.backends.db'\r\n", true, "backends.db"},
		{"SESSION_ENGINE = 'django.contrib.sessions.backends.cache'\n", false, "SESSION_ENGINE is django.contrib.sessions.backends.cache"},
		{"SESSION_ENGINE = 'django.contrib.sessions.backends.cached_db'\n", false, "cached_db"},
		{"SESSION_ENGINE = 'django.contrib.sessions.backends.signed_cookies'\nSESSION_ENGINE = 'django.contrib.sessions.backends.db'\n", true, "backends.db"},
		{"SESSION_ENGINE = 'django.contrib.sessions.backends.db'\nSESSION_ENGINE = 'redis_sessions.session'\n", false, "redis_sessions.session"},
		{"# SESSION_ENGINE = 'django.contrib.sessions.backends.cache'\n", true, "not set"},
		{"SESSION_ENGINE = env('SESSION_ENGINE')\n", false, "not a string literal"},
		{"SESSION_ENGINE_X = 'x'\n", true, "not set"},
	} {
		path := filepath.Join(dir, "s"+string(rune('a'+i))+".py")
		if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
			t.Fatal(err)
		}
		r := probeSessionEngine(path)
		if r.ok != tc.ok || !strings.Contains(r.detail, tc.want) || r.target != "session_engine" {
			t.Errorf("%q: ok %v %q; want %v %q", tc.file, r.ok, r.detail, tc.ok, tc.want)
		}
	}
	if r := probeSessionEngine(filepath.Join(dir, "missing.py")); r.ok || !strings.Contains(r.detail, "no such file") {
		t.Errorf("missing file: %+v", r)
	}
	big := filepath.Join(dir, "big.py")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# x\n"), settingsMaxSize), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := probeSessionEngine(big); r.ok || !strings.Contains(r.detail, "larger than 1 MiB") {
		t.Errorf("big file: %+v", r)
	}
}

func TestHealthTransition(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	st := func(ok bool, last time.Time) jobsdb.IactqHealthState {
		s := jobsdb.IactqHealthState{}
		s.Ok.Bool, s.Ok.Valid = ok, true
		s.LastCheckedAt.Time, s.LastCheckedAt.Valid = last, true
		return s
	}
	for _, tc := range []struct {
		name           string
		st             jobsdb.IactqHealthState
		ok             bool
		changed, apply bool
	}{
		{"first OK", jobsdb.IactqHealthState{}, true, false, true},
		{"first FAIL", jobsdb.IactqHealthState{}, false, true, true},
		{"OK stays", st(true, t0), true, false, true},
		{"OK to FAIL", st(true, t0), false, true, true},
		{"FAIL stays", st(false, t0), false, false, true},
		{"FAIL to OK", st(false, t0), true, true, true},
		{"stale", st(false, t0.Add(time.Minute)), true, false, false},
	} {
		changed, apply := healthTransition(tc.st, tc.ok, t0.Add(time.Second))
		if changed != tc.changed || apply != tc.apply {
			t.Errorf("%s: changed %v apply %v", tc.name, changed, apply)
		}
	}
}

// decodeJobsYAML decodes a `jobs:` section as the config file loader does.
func decodeJobsYAML(t *testing.T, src string) (Config, error) {
	t.Helper()
	var sections map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(src), &sections); err != nil {
		t.Fatal(err)
	}
	return DecodeConfig(sections)
}

func TestMaintenanceConfig(t *testing.T) {
	t.Parallel()
	// The shape of the example file and of cmd/iactq's tests.
	c, err := decodeJobsYAML(t, `
health_check:
  targets: [{url: "http://127.0.0.1:8000/health", token: hunter22}]
session_cleanup:
  table: platform.django_session
  pause: 10ms
`)
	if err != nil {
		t.Fatal(err)
	}
	ts := c.HealthCheck.httpTargets()
	if len(ts) != 1 || ts[0] != (HealthTarget{Name: "http://127.0.0.1:8000/health", URL: "http://127.0.0.1:8000/health", Timeout: 5 * time.Second, Token: "hunter22"}) {
		t.Fatalf("targets %+v", ts)
	}
	if c.SessionCleanup.Table != "platform.django_session" || c.SessionCleanup.Pause != 10*time.Millisecond || c.SessionCleanup.BatchSize != 2000 {
		t.Fatalf("session_cleanup %+v", c.SessionCleanup)
	}
	d := DefaultConfig().HealthCheck.httpTargets()
	if len(d) != 3 || d[2].URL != "http://127.0.0.1:8000/api/session-check" || d[0].Name != d[0].URL {
		t.Fatalf("default targets %+v", d)
	}
	c, err = decodeJobsYAML(t, "health_check:\n  paths: []\n  base_url: ''\n")
	if err != nil || len(c.HealthCheck.httpTargets()) != 0 {
		t.Fatalf("no HTTP targets: %+v, %v", c.HealthCheck, err)
	}

	for _, tc := range []struct{ src, want string }{
		{"session_cleanup: {table: 'django_session; DROP TABLE iactq_jobs'}", `jobs.session_cleanup: table: "django_session; DROP TABLE iactq_jobs" is not a plain identifier`},
		{"session_cleanup: {table: '`x`'}", "jobs.session_cleanup: table:"},
		{"session_cleanup: {batch_size: 0}", "jobs.session_cleanup: batch_size 0 is out of range 1..10000"},
		{"session_cleanup: {batch_size: 20000}", "batch_size 20000 is out of range"},
		{"session_cleanup: {pause: -1s}", "pause -1s is out of range"},
		{"session_cleanup: {pause: soon}", "session_cleanup"},
		{"session_cleanup: {max_batches: -1}", "max_batches -1"},
		{"session_cleanup: {max_duration: 0s}", "max_duration 0s is out of range"},
		{"session_cleanup: {warn_threshold: -5}", "warn_threshold -5"},
		{"session_cleanup: {notify: ''}", "jobs.session_cleanup: notify:"},
		{"session_cleanup: {notify: 'ops team'}", "notify:"},
		{"session_cleanup: {tabel: x}", `field tabel not found`},
		{"health_check: {timeout: 0s}", "jobs.health_check: timeout 0s is out of range"},
		{"health_check: {timeout: 10m}", "timeout 10m0s is out of range"},
		{"health_check: {base_url: 'ftp://x'}", "base_url: \"ftp://x\": the scheme must be http or https"},
		{"health_check: {base_url: 'http://'}", "has no host"},
		{"health_check: {paths: [api/health]}", `paths[0]: "api/health" must start with /`},
		{"health_check: {targets: [{url: 'localhost:8000'}]}", "targets[0].url"},
		{"health_check: {targets: [{url: 'http://u:pw@h/x'}]}", "put credentials in token"},
		{"health_check: {targets: [{url: 'http://h/x', timeout: -1s}]}", "targets[0].timeout"},
		{"health_check: {targets: [{url: 'http://h/x'}, {url: 'http://h/x'}]}", `target "http://h/x" is listed twice`},
		{"health_check: {targets: [{name: database, url: 'http://h/x'}]}", `target name "database" is reserved`},
		{"health_check: {targets: [{url: 'http://h/x', tokn: y}]}", "field tokn not found"},
		{"health_check: {notify: ''}", "jobs.health_check: notify:"},
		{"health_check: {keep_results: 1m}", "keep_results 1m0s"},
		{"health_check: {django_settings: ' settings.py'}", "django_settings"},
	} {
		_, err := decodeJobsYAML(t, tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestHealthCheckArgs(t *testing.T) {
	t.Parallel()
	r := NewRegistry(Deps{})
	if err := r.Validate("health_check", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	for _, args := range []string{`{"url": "http://evil/"}`, `{"django_settings": "/etc/shadow"}`} {
		if err := r.Validate("health_check", []byte(args)); err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("%s: %v", args, err)
		}
	}
}
