package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
	"github.com/iact/iactq/web"
)

const (
	testToken        = "test-token-0123456789"
	testAnalystToken = "analyst-token-0123456789"
)

type bundle struct {
	d   *queuetest.DB
	c   *queue.Client
	m   *web.Metrics
	srv *httptest.Server
}

func setup(t *testing.T, token string) *bundle {
	t.Helper()
	t.Parallel()
	d := queuetest.New(t)
	c, err := queue.NewClient(d.DB, jobs.NewRegistry(jobs.Deps{DB: d.DB, Config: jobs.DefaultConfig()}),
		queue.Config{PollInterval: 5 * time.Millisecond, Queues: map[string]int{"default": 4, "reports": 2}}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	m := web.NewMetrics(c)
	analyst := ""
	if token != "" {
		analyst = testAnalystToken
	}
	s, err := web.New(web.Options{Client: c, DB: d.DB, Token: token, AnalystToken: analyst, Metrics: m, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s) // 127.0.0.1
	t.Cleanup(srv.Close)
	return &bundle{d: d, c: c, m: m, srv: srv}
}

// seed inserts a discarded job with errors, waiting jobs in each class, and a paused
// queue. It returns the discarded job's id.
func (b *bundle) seed(t *testing.T) int64 {
	t.Helper()
	res := b.d.Exec(t, `INSERT INTO iactq_jobs (kind, queue, state, attempt, max_attempts, attempted_at, finished_at, errors)
		VALUES ('dashboard_metrics', 'reports', 'discarded', 3, 3, NOW(6) - INTERVAL 2 MINUTE, NOW(6) - INTERVAL 1 MINUTE,
		'[{"attempt": 3, "at": "2026-05-01T10:00:00Z", "error": "period 2026-13-01: month out of range"}]')`)
	id, _ := res.LastInsertId()
	b.d.Exec(t, `INSERT INTO iactq_jobs (kind, queue, scheduled_at) VALUES
		('noop', 'default', NOW(6) - INTERVAL 2 HOUR),
		('noop', 'default', NOW(6) - INTERVAL 40 MINUTE),
		('noop', 'default', NOW(6) - INTERVAL 1 MINUTE),
		('dashboard_metrics', 'reports', NOW(6) - INTERVAL 90 MINUTE)`)
	if err := b.c.PauseQueue(context.Background(), "reports"); err != nil {
		t.Fatal(err)
	}
	return id
}

func get(t *testing.T, client *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestDashboardPages(t *testing.T) {
	b := setup(t, testToken)
	id := b.seed(t)
	for path, wants := range map[string][]string{
		"/":                 {`id="queues"`, "reports", "paused", `class="num overdue"`, "<svg", "Jobs finished per minute"},
		"/priorities":       {`id="priorities"`, "OVERDUE", "URGENT", "NORMAL"},
		"/failed":           {`id="failed"`, "month out of range", "dashboard_metrics"},
		"/schedules":        {`id="schedules"`},
		"/workers":          {`id="workers"`},
		"/deploys":          {"DORA"},
		"/audit":            {`id="audit"`},
		"/jobs/" + itoa(id): {`id="job-state"`, "discarded"},
		"/static/app.css":   {"--overdue"},
		"/metrics":          {"iactq_jobs{", "iactq_backlog_jobs{"},
	} {
		code, body := get(t, http.DefaultClient, b.srv.URL+path)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", path, code, body)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: no %q in\n%s", path, w, body)
			}
		}
		if strings.Contains(body, "http://") && strings.HasSuffix(path, ".css") {
			t.Errorf("%s refers to another site", path)
		}
	}
	// Nothing is fetched from elsewhere: every src and href is local.
	_, body := get(t, http.DefaultClient, b.srv.URL+"/")
	for _, attr := range []string{`src="http`, `href="http`, `src="//`, `href="//`} {
		if strings.Contains(body, attr) {
			t.Errorf("the page loads something from elsewhere (%s)", attr)
		}
	}
	if code, _ := get(t, http.DefaultClient, b.srv.URL+"/jobs/999999"); code != http.StatusNotFound {
		t.Errorf("missing job: %d", code)
	}
}

func itoa(n int64) string { return strconvFormat(n) }

func post(t *testing.T, client *http.Client, u string, form url.Values, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func jobState(t *testing.T, d *queuetest.DB, id int64) string {
	t.Helper()
	var s string
	if err := d.DB.QueryRow("SELECT state FROM iactq_jobs WHERE id = ?", id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestActionsNeedTheToken(t *testing.T) {
	b := setup(t, testToken)
	id := b.seed(t)
	u := b.srv.URL + "/jobs/" + itoa(id) + "/retry"
	for name, tc := range map[string]struct {
		form   url.Values
		header http.Header
	}{
		"no token":     {url.Values{}, nil},
		"wrong token":  {url.Values{"token": {"guess"}}, nil},
		"wrong bearer": {url.Values{}, http.Header{"Authorization": {"Bearer guess"}}},
		"wrong cookie": {url.Values{}, http.Header{"Cookie": {"iactq_token=guess"}}},
		"prefix of it": {url.Values{"token": {testToken[:10]}}, nil},
	} {
		if code, body := post(t, http.DefaultClient, u, tc.form, tc.header); code != http.StatusForbidden {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	if s := jobState(t, b.d, id); s != "discarded" {
		t.Fatalf("refused retries changed the job: %s", s)
	}
	for _, path := range []string{"/queues/default/pause", "/queues/reports/resume", "/jobs/" + itoa(id) + "/cancel", "/schedules/x/run"} {
		if code, _ := post(t, http.DefaultClient, b.srv.URL+path, nil, nil); code != http.StatusForbidden {
			t.Errorf("POST %s without token: %d", path, code)
		}
	}

	code, body := post(t, http.DefaultClient, u, nil, http.Header{"Authorization": {"Bearer " + testToken}})
	if code != http.StatusOK || !strings.Contains(body, "available") {
		t.Fatalf("retry with the token: %d %s", code, body)
	}
	if s := jobState(t, b.d, id); s != "available" {
		t.Fatalf("after retry the job is %s", s)
	}
	// A second retry conflicts (the job is available already).
	if code, _ := post(t, http.DefaultClient, u, url.Values{"token": {testToken}}, nil); code != http.StatusConflict {
		t.Errorf("second retry: %d", code)
	}
	// Pause with the login cookie, as a browser does.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	if code, _ := post(t, browser, b.srv.URL+"/login", url.Values{"token": {testToken}, "back": {"/"}}, nil); code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	if code, body := post(t, browser, b.srv.URL+"/queues/default/pause", url.Values{"back": {"/"}}, nil); code != http.StatusOK || !strings.Contains(body, "queue default paused") {
		t.Fatalf("pause: %d %s", code, body)
	}
	var paused int
	if err := b.d.DB.QueryRow("SELECT COUNT(*) FROM iactq_queues WHERE name = 'default' AND paused_at IS NOT NULL").Scan(&paused); err != nil || paused != 1 {
		t.Fatalf("default not paused: %d %v", paused, err)
	}

	// Every attempt is in the audit table, refused ones too.
	var ok, refused int
	if err := b.d.DB.QueryRow("SELECT COALESCE(SUM(ok), 0), COALESCE(SUM(NOT ok), 0) FROM iactq_audit").Scan(&ok, &refused); err != nil {
		t.Fatal(err)
	}
	if ok != 3 || refused != 10 { // retry, login, pause; 9 refused without token + the conflict
		t.Errorf("audit: %d ok, %d refused", ok, refused)
	}
	if _, body := get(t, http.DefaultClient, b.srv.URL+"/audit"); !strings.Contains(body, "missing or wrong token") {
		t.Errorf("audit page:\n%s", body)
	}
}

func TestActionsDisabledWithoutAConfiguredToken(t *testing.T) {
	b := setup(t, "")
	id := b.seed(t)
	for _, form := range []url.Values{{}, {"token": {""}}, {"token": {"anything"}}} {
		code, body := post(t, http.DefaultClient, b.srv.URL+"/jobs/"+itoa(id)+"/retry", form, nil)
		if code != http.StatusForbidden || !strings.Contains(body, web.TokenEnv) {
			t.Errorf("%v: %d %s", form, code, body)
		}
	}
	if s := jobState(t, b.d, id); s != "discarded" {
		t.Fatalf("job changed: %s", s)
	}
	if _, body := get(t, http.DefaultClient, b.srv.URL+"/failed"); strings.Contains(body, "/retry") {
		t.Error("read-only dashboard shows retry buttons")
	}
}

func TestMetrics(t *testing.T) {
	b := setup(t, "")
	b.seed(t)
	b.m.Started(1)
	b.m.Claimed("default", 2, 3*time.Millisecond)
	job := &queue.JobRow{Kind: "noop", Queue: "default"}
	b.m.Finished(job, queue.StateCompleted, 40*time.Millisecond, 120*time.Millisecond)
	b.m.Finished(job, queue.StateRetryable, 40*time.Millisecond, 5*time.Millisecond)
	b.m.Polled(nil)
	b.d.Exec(t, "INSERT INTO iactq_workers (host, pid, queues) VALUES ('h1', 42, 'default=10')")
	code, body := get(t, http.DefaultClient, b.srv.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`iactq_jobs{queue="reports",state="discarded"} 1`,
		`iactq_jobs{queue="default",state="available"} 3`,
		`iactq_backlog_jobs{class="OVERDUE",queue="default"} 1`,
		`iactq_backlog_jobs{class="URGENT",queue="default"} 1`,
		`iactq_backlog_jobs{class="NORMAL",queue="default"} 1`,
		`iactq_backlog_jobs{class="URGENT",queue="reports"} 1`,
		`iactq_oldest_job_age_seconds{class="OVERDUE",queue="default"} 7`,
		`iactq_worker_heartbeat_age_seconds{host="h1",pid="42",queues="default=10",worker_id=`,
		`iactq_workers 1`,
		`iactq_jobs_finished_total{kind="noop",outcome="completed",queue="default"} 1`,
		`iactq_jobs_finished_total{kind="noop",outcome="retryable",queue="default"} 1`,
		`iactq_job_run_seconds_bucket{kind="noop",outcome="completed",le="0.25"} 1`,
		`iactq_job_wait_seconds_count{kind="noop"} 2`,
		`iactq_claim_duration_seconds_count{queue="default"} 1`,
		`iactq_worker_running_jobs 0`,
		`iactq_worker_claiming 1`,
		`iactq_polls_total{result="ok"} 1`,
		`iactq_scrape_error 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in /metrics", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

func strconvFormat(n int64) string { return strconv.FormatInt(n, 10) }

// Jobs no live worker can take are flagged on the Priorities page and counted in
// /metrics: a kind no live worker runs, a queue no live worker serves.
func TestStrandedJobsFlagged(t *testing.T) {
	b := setup(t, testToken)
	b.d.Exec(t, `INSERT INTO iactq_workers (host, pid, queues, kinds) VALUES ('test', 1, 'default=2', 'noop')`)
	b.d.Exec(t, `INSERT INTO iactq_jobs (kind, queue) VALUES ('call_recording_export', 'default'), ('noop', 'reprots'), ('noop', 'default')`)
	_, page := get(t, http.DefaultClient, b.srv.URL+"/priorities")
	if strings.Count(page, `class="bad stranded-kind"`) != 1 || strings.Count(page, `class="bad stranded-queue"`) != 1 {
		t.Errorf("/priorities: want one job flagged for its kind and one for its queue:\n%s", page)
	}
	_, metrics := get(t, http.DefaultClient, b.srv.URL+"/metrics")
	for _, want := range []string{
		`iactq_jobs_unknown_kind{kind="call_recording_export",queue="default"} 1`,
		`iactq_jobs_unserved_queue{queue="reprots"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("no %q in /metrics", want)
		}
	}
	if strings.Contains(metrics, `iactq_jobs_unknown_kind{kind="noop"`) || strings.Contains(metrics, `iactq_jobs_unserved_queue{queue="default"}`) {
		t.Errorf("/metrics flags jobs a live worker takes")
	}
}
