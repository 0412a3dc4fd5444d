package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iact/iactq/queue"
)

// TestJobsBrowser: /jobs filters by state, kind, queue, requester and time range,
// finds a job by id or by a value inside its args, pages by keyset, and retries or
// cancels the filtered set only with the token, recorded in the audit log.
func TestJobsBrowser(t *testing.T) {
	b := setup(t, testToken)
	b.d.Exec(t, `INSERT INTO iactq_jobs (kind, queue, state, args, requested_by, created_at, finished_at) VALUES
		('dashboard_metrics', 'reports', 'discarded', '{"period":"last 7d","flow_id":"sales"}', 'ana', NOW(6) - INTERVAL 3 DAY, NOW(6)),
		('dashboard_metrics', 'reports', 'discarded', '{"period":"today"}', 'bob', NOW(6) - INTERVAL 1 HOUR, NOW(6)),
		('call_flow_analysis', 'reports', 'completed', '{"flow_id":"sales"}', 'ana', NOW(6) - INTERVAL 2 HOUR, NOW(6))`)
	ps := make([]queue.InsertParams, 120)
	for i := range ps {
		ps[i] = queue.InsertParams{Kind: "noop", Args: json.RawMessage(fmt.Sprintf(`{"sleep_ms":%d}`, i))}
	}
	if _, err := b.c.InsertMany(t.Context(), ps); err != nil {
		t.Fatal(err)
	}
	ids := func(page string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`<tr data-id="(\d+)">`).FindAllStringSubmatch(page, -1) {
			out = append(out, m[1])
		}
		return out
	}
	for q, want := range map[string]int{
		"":                 50,
		"?state=discarded": 2,
		"?kind=dashboard_metrics&state=discarded&requested_by=ana": 1,
		"?queue=reports":                   3,
		"?requested_by=ana":                2,
		"?q=sales":                         2,
		"?q=sales&kind=call_flow_analysis": 1,
		"?q=1":                             1,
		"?q=999999":                        0,
		"?from=" + time.Now().UTC().Add(-150*time.Minute).Format("2006-01-02T15:04") + "&queue=reports": 2,
	} {
		code, page := get(t, http.DefaultClient, b.srv.URL+"/jobs"+q)
		if code != http.StatusOK || len(ids(page)) != want {
			t.Errorf("/jobs%s: %d, %d rows, want %d", q, code, len(ids(page)), want)
		}
	}
	// Keyset pages: 123 jobs in 50 + 50 + 23, each older than the last, none twice.
	seen := map[string]bool{}
	next, pages := "/jobs", 0
	for next != "" {
		_, page := get(t, http.DefaultClient, b.srv.URL+next)
		for _, id := range ids(page) {
			if seen[id] {
				t.Fatalf("job %s on two pages", id)
			}
			seen[id] = true
		}
		pages++
		next = ""
		if m := regexp.MustCompile(`<a href="([^"]+)" id="next">`).FindStringSubmatch(page); m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if len(seen) != 123 || pages != 3 {
		t.Errorf("paged through %d jobs in %d pages, want 123 in 3", len(seen), pages)
	}
	for _, q := range []string{"?state=bogus", "?kind=<script>", "?from=yesterday", "?before=-1", "?from=2026-11-02&to=2026-11-01"} {
		if code, page := get(t, http.DefaultClient, b.srv.URL+"/jobs"+q); code != http.StatusBadRequest || strings.Contains(page, "<script>") {
			t.Errorf("/jobs%s: %d %q", q, code, page)
		}
	}

	// Bulk retry of the discarded dashboard_metrics: refused without the token.
	form := url.Values{"state": {"discarded"}, "kind": {"dashboard_metrics"}, "confirm": {"yes"}}
	if code, _ := post(t, http.DefaultClient, b.srv.URL+"/jobs/bulk/retry", form, nil); code != http.StatusForbidden {
		t.Errorf("bulk retry without the token: %d", code)
	}
	if code, _ := post(t, http.DefaultClient, b.srv.URL+"/jobs/bulk/retry", url.Values{"token": {testAnalystToken}, "state": {"discarded"}, "confirm": {"yes"}}, nil); code != http.StatusForbidden {
		t.Errorf("bulk retry with the analysts' token: %d", code)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	post(t, browser, b.srv.URL+"/login", url.Values{"token": {testToken}, "back": {"/jobs"}}, nil)
	_, page := get(t, browser, b.srv.URL+"/jobs?state=discarded&kind=dashboard_metrics")
	if !strings.Contains(page, `action="/jobs/bulk/retry"`) || !strings.Contains(page, `name="kind" value="dashboard_metrics"`) {
		t.Fatalf("no bulk form carrying the filter:\n%s", page)
	}
	code, body := post(t, browser, b.srv.URL+"/jobs/bulk/retry", form, nil)
	if code != http.StatusOK || !strings.Contains(body, "retried 2 of 2 matching jobs") {
		t.Errorf("bulk retry: %d %s", code, body)
	}
	var discarded int
	b.d.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE state = 'discarded'`).Scan(&discarded)
	if discarded != 0 {
		t.Errorf("%d jobs still discarded", discarded)
	}
	code, body = post(t, browser, b.srv.URL+"/jobs/bulk/cancel", url.Values{"kind": {"noop"}, "confirm": {"yes"}}, nil)
	if code != http.StatusOK || !strings.Contains(body, "cancelled 120 of 120") {
		t.Errorf("bulk cancel: %d %s", code, body)
	}
	if code, _ := post(t, browser, b.srv.URL+"/jobs/bulk/cancel", url.Values{"kind": {"noop"}}, nil); code != http.StatusBadRequest {
		t.Errorf("bulk cancel without confirming: %d", code)
	}
	_, audit := get(t, http.DefaultClient, b.srv.URL+"/audit")
	for _, want := range []string{"bulk_retry", "kind=dashboard_metrics&amp;state=discarded", "bulk_cancel", "cancelled 120 of 120"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log lacks %q", want)
		}
	}
}

// TestDeployPage: /deploys/ID shows each step's command, exit code, duration and log,
// and the deploy list links to it.
func TestDeployPage(t *testing.T) {
	b := setup(t, testToken)
	b.d.Exec(t, `INSERT INTO iactq_deploys (id, env, revision, state, failed_step, requested_by, started_at, finished_at)
		VALUES (7, 'staging', 'abc123', 'rolled_back', 'migrate', 'ops', NOW(6) - INTERVAL 5 MINUTE, NOW(6))`)
	b.d.Exec(t, `INSERT INTO iactq_deploy_steps (deploy_id, seq, step, command, exit_code, output, started_at, finished_at) VALUES
		(7, 1, 'validate', '["true"]', 0, 'restrictions ok', NOW(6) - INTERVAL 300 SECOND, NOW(6) - INTERVAL 298 SECOND),
		(7, 2, 'migrate', '["./manage.py","migrate"]', 3, 'django.db.utils.OperationalError: <no such table>', NOW(6) - INTERVAL 200 SECOND, NOW(6) - INTERVAL 155 SECOND)`)
	_, list := get(t, http.DefaultClient, b.srv.URL+"/deploys")
	if !strings.Contains(list, `<a href="/deploys/7">7</a>`) {
		t.Errorf("deploy list does not link to /deploys/7")
	}
	code, page := get(t, http.DefaultClient, b.srv.URL+"/deploys/7")
	for _, want := range []string{"./manage.py migrate", `<span class="pill failed">3</span>`, `<span class="pill succeeded">0</span>`, "45s", "2s",
		"OperationalError: &lt;no such table&gt;", "<details open>", "rolled_back"} {
		if !strings.Contains(page, want) {
			t.Errorf("deploy page lacks %q", want)
		}
	}
	if code != http.StatusOK {
		t.Errorf("deploy page: %d", code)
	}
	if code, _ := get(t, http.DefaultClient, b.srv.URL+"/deploys/8"); code != http.StatusNotFound {
		t.Errorf("unknown deploy: %d", code)
	}
}
