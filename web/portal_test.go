package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// loadCalls writes n calls spread over the last 20 hours, in flows main and support.
func loadCalls(t *testing.T, d *queuetest.DB, n int) {
	t.Helper()
	outcomes := []string{"answered", "answered", "abandoned", "self_served", "dropped"}
	for i := range n {
		flow := "main"
		if i%3 == 0 {
			flow = "support"
		}
		d.Exec(t, `INSERT INTO ivr_calls (call_ref, flow_id, caller_hash, started_at, ended_at, wait_seconds, handle_seconds, outcome)
			VALUES (?, ?, REPEAT('a', 64), NOW(6) - INTERVAL ? MINUTE, NOW(6) - INTERVAL ? MINUTE, ?, ?, ?)`,
			fmt.Sprintf("t-%d", i), flow, 20+i*1200/n, 19+i*1200/n, 5+i%90, 60, outcomes[i%len(outcomes)])
	}
}

func jobCount(t *testing.T, d *queuetest.DB) int {
	t.Helper()
	var n int
	if err := d.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// noRedirectWith keeps a 303 as the answer, to read where it goes.
func noRedirectWith(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// requestReport submits the page's request form as a browser holding jar would and
// returns the new job's id.
func requestReport(t *testing.T, b *bundle, jar http.CookieJar, form url.Values) int64 {
	t.Helper()
	form.Set("back", "/reports")
	resp, err := noRedirectWith(jar).PostForm(b.srv.URL+"/reports", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	m := regexp.MustCompile(`^/reports/(\d+)\?`).FindStringSubmatch(loc)
	if resp.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("request %v: %s, Location %q", form, resp.Status, loc)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// TestReportRequestedFromThePage: an analyst requests a report with the analysts'
// token; its page shows its place, class and when it turns URGENT and OVERDUE; it is
// in Priorities; once run, the same page is the result (totals, tables, charts, CSV)
// and the requester's inbox has the message, unread first, which can be marked read.
func TestReportRequestedFromThePage(t *testing.T) {
	b := setup(t, testToken)
	loadCalls(t, b.d, 60)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}

	// The form offers only what exists: the four kinds and the flows of the data.
	_, page := get(t, browser, b.srv.URL+"/reports")
	for _, want := range []string{`<option value="call_flow_analysis">`, `<option value="support">`, `name="token"`} {
		if !strings.Contains(page, want) {
			t.Errorf("request form lacks %s", want)
		}
	}
	// The analysts' token in the form is enough; the operator's actions stay locked to it.
	id := requestReport(t, b, jar, url.Values{"token": {testAnalystToken}, "kind": {"dashboard_metrics"}, "period": {"last 24h"},
		"flow_id": {""}, "granularity": {"hour"}, "requested_by": {"ana"}})
	j, err := b.c.GetJob(t.Context(), id)
	if err != nil || j.Queue != "reports" || j.RequestedBy != "ana" || j.Kind != "dashboard_metrics" {
		t.Fatalf("requested job: %+v, %v", j, err)
	}
	if code, _ := post(t, http.DefaultClient, b.srv.URL+fmt.Sprintf("/jobs/%d/cancel", id), url.Values{"token": {testAnalystToken}}, nil); code != http.StatusForbidden {
		t.Errorf("cancel with the analysts' token: %d, want 403", code)
	}

	_, page = get(t, browser, b.srv.URL+fmt.Sprintf("/reports/%d", id))
	for _, want := range []string{"Next in line", `id="class">NORMAL<`, "turns URGENT at", "turns OVERDUE at", "period", "last 24h", "by <a href=\"/messages?to=ana\">ana</a>"} {
		if !strings.Contains(page, want) {
			t.Errorf("waiting report page lacks %q:\n%s", want, page)
		}
	}
	if _, pr := get(t, browser, b.srv.URL+"/priorities"); !strings.Contains(pr, fmt.Sprintf(`data-id="%d"`, id)) {
		t.Errorf("the request is not in Priorities")
	}

	// Run it: the page becomes the result.
	if j := runUntilFinished(t, b.c, id); j.State != queue.StateCompleted {
		t.Fatalf("report job %s: %s", j.State, j.Errors)
	}
	_, page = get(t, browser, b.srv.URL+fmt.Sprintf("/reports/%d", id))
	for _, want := range []string{`id="totals"`, `<svg class="chart"`, "Calls by hour", `id="table-intervals"`, "Waited", "Ran", fmt.Sprintf(`/reports/%d/csv?table=intervals`, id)} {
		if !strings.Contains(page, want) {
			t.Errorf("result page lacks %q", want)
		}
	}
	if strings.Contains(page, `id="status"`) || strings.Contains(page, `id="nodata"`) {
		t.Error("result page still shows the waiting status or a no-data warning")
	}
	code, csv := get(t, browser, b.srv.URL+fmt.Sprintf("/reports/%d/csv", id))
	if code != http.StatusOK || !strings.HasPrefix(csv, "hour,calls,answered") || strings.Count(csv, "\n") < 20 {
		t.Errorf("CSV: %d\n%s", code, csv)
	}
	if _, list := get(t, browser, b.srv.URL+"/reports"); !strings.Contains(list, fmt.Sprintf(`href="/reports/%d"`, id)) {
		t.Error("/reports does not list the report")
	}

	// The inbox opens on ana's messages (the browser requested as ana): unread first.
	b.d.Exec(t, `INSERT INTO internal_messages (recipient, subject, body, created_at, read_at) VALUES ('ana', 'old news', 'read already', NOW(6) - INTERVAL 1 DAY, NOW(6))`)
	_, inbox := get(t, browser, b.srv.URL+"/messages")
	unread, read := strings.Index(inbox, fmt.Sprintf("dashboard_metrics job %d completed", id)), strings.Index(inbox, "old news")
	if !strings.Contains(inbox, "Messages for ana") || unread < 0 || read < unread || !strings.Contains(inbox, fmt.Sprintf(`href="/reports/%d">open the report`, id)) {
		t.Fatalf("inbox:\n%s", inbox)
	}
	// Mark read through the page's own form, with the analysts' cookie.
	if code, _ := post(t, browser, b.srv.URL+"/login", url.Values{"token": {testAnalystToken}, "back": {"/messages"}}, nil); code != http.StatusOK {
		t.Fatalf("analyst login: %d", code)
	}
	_, inbox = get(t, browser, b.srv.URL+"/messages")
	form := regexp.MustCompile(`action="(/messages/\d+/read)"`).FindStringSubmatch(inbox)
	if form == nil {
		t.Fatalf("no mark-read form:\n%s", inbox)
	}
	if code, _ := post(t, browser, b.srv.URL+form[1], url.Values{"back": {"/messages"}}, nil); code != http.StatusOK {
		t.Fatalf("mark read: %d", code)
	}
	if _, inbox = get(t, browser, b.srv.URL+"/messages"); !strings.Contains(inbox, "Nothing unread") {
		t.Errorf("after marking read:\n%s", inbox)
	}
}

// TestReportFormRefusesBadInput: bad, missing and hostile values are refused with a
// clear error, nothing is written, and nothing comes back unescaped.
func TestReportFormRefusesBadInput(t *testing.T) {
	b := setup(t, testToken)
	loadCalls(t, b.d, 10)
	good := url.Values{"token": {testAnalystToken}, "kind": {"abandonment_report"}, "period": {"last 7d"},
		"flow_id": {"main"}, "granularity": {"day"}, "requested_by": {"ana"}}
	hostile := `<script>alert(1)</script>"'&`
	cases := []struct{ field, value, says string }{
		{"kind", "noop", "choose a report kind"},
		{"kind", hostile, "choose a report kind"},
		{"kind", "", "choose a report kind"},
		{"period", "last 99999d", "choose a period"},
		{"period", hostile, "choose a period"},
		{"period", "range", "a range needs two dates"},
		{"flow_id", "nosuch", "choose a flow"},
		{"flow_id", hostile, "choose a flow"},
		{"granularity", "minute", "granularity: hour or day"},
		{"requested_by", "", "your name"},
		{"requested_by", hostile, "your name"},
		{"requested_by", strings.Repeat("a", 65), "your name"},
	}
	r := rand.New(rand.NewPCG(11, 42))
	fields := []string{"kind", "period", "from", "to", "flow_id", "granularity", "requested_by"}
	for range 40 { // random garbage in random fields
		f := fields[r.IntN(len(fields))]
		v := make([]byte, r.IntN(80))
		for i := range v {
			v[i] = byte(r.IntN(256))
		}
		cases = append(cases, struct{ field, value, says string }{f, string(v), ""})
	}
	for _, c := range cases {
		form := url.Values{}
		for k, v := range good {
			form[k] = v
		}
		form.Set(c.field, c.value)
		if c.field == "period" && c.value == "range" {
			form.Set("from", "2026-13-01")
		}
		before := jobCount(t, b.d)
		resp, err := http.PostForm(b.srv.URL+"/reports", form)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		_, _ = fmt.Fprint(&body, readAll(resp))
		written := jobCount(t, b.d) - before
		if c.says == "" { // random: either refused cleanly or a valid request
			if resp.StatusCode != http.StatusBadRequest && written != 1 {
				t.Errorf("%s=%q: %d and %d jobs written", c.field, c.value, resp.StatusCode, written)
			}
			continue
		}
		if resp.StatusCode != http.StatusBadRequest || written != 0 || !strings.Contains(body.String(), c.says) {
			t.Errorf("%s=%q: %d, %d jobs written, body %q; want 400 saying %q", c.field, c.value, resp.StatusCode, written, body.String(), c.says)
		}
		if resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || strings.Contains(body.String(), "<script>") && resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s: error answered as %s", c.field, resp.Header.Get("Content-Type"))
		}
	}
	// With the page's back field, the error comes back as a flash in the page: escaped.
	form := url.Values{}
	for k, v := range good {
		form[k] = v
	}
	form.Set("requested_by", hostile)
	form.Set("back", "/reports")
	before := jobCount(t, b.d)
	resp, err := http.PostForm(b.srv.URL+"/reports", form)
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(resp)
	if jobCount(t, b.d) != before || !strings.Contains(page, `class="flash flash-err"`) || strings.Contains(page, "<script>alert") {
		t.Errorf("flash of a refused request:\n%s", page)
	}
	// Without a token: 403, nothing written.
	form = url.Values{}
	for k, v := range good {
		form[k] = v
	}
	form.Del("token")
	if code, _ := post(t, http.DefaultClient, b.srv.URL+"/reports", form, nil); code != http.StatusForbidden || jobCount(t, b.d) != before {
		t.Errorf("request without a token: %d", code)
	}
	form.Set("token", "wrong-token-0123456789")
	if code, _ := post(t, http.DefaultClient, b.srv.URL+"/reports", form, nil); code != http.StatusForbidden || jobCount(t, b.d) != before {
		t.Errorf("request with a wrong token: %d", code)
	}
}

// runUntilFinished runs c's workers until job id is finished and returns its row.
func runUntilFinished(t *testing.T, c *queue.Client, id int64) *queue.JobRow {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Work(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(time.Minute)
	for {
		j, err := c.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Finished() {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d still %s after a minute", id, j.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestReportPagesSayWhatWentWrong: a report over a period without data says so on
// its page; a panicking job tells its requester one line, and the operator's job page
// keeps the stack, collapsed.
func TestReportPagesSayWhatWentWrong(t *testing.T) {
	b := setup(t, testToken)
	loadCalls(t, b.d, 10)
	rows := queuetest.RunJobs(t, b.c,
		queue.InsertParams{Kind: "dashboard_metrics", Args: json.RawMessage(`{"period":"2026-11-01/2026-11-08"}`), RequestedBy: "ana"},
		queue.InsertParams{Kind: "noop", Args: json.RawMessage(`{"panic":true}`), MaxAttempts: 1, RequestedBy: "ana"})
	_, page := get(t, http.DefaultClient, b.srv.URL+fmt.Sprintf("/reports/%d", rows[0].ID))
	if !strings.Contains(page, `id="nodata"`) || !strings.Contains(page, "no calls between 2026-11-01 00:00 and 2026-11-08 00:00 UTC; the data covers ") || strings.Contains(page, `<svg class="chart"`) {
		t.Errorf("report without data:\n%s", page)
	}
	var body string
	if err := b.d.DB.QueryRow(`SELECT body FROM internal_messages WHERE job_id = ?`, rows[1].ID).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, "goroutine") || strings.Count(body, "\n") != 1 || !strings.Contains(body, "panic:") {
		t.Errorf("the requester's message of a panic is not one line:\n%s", body)
	}
	_, page = get(t, http.DefaultClient, b.srv.URL+fmt.Sprintf("/jobs/%d", rows[1].ID))
	if !strings.Contains(page, `<details class="errors errline"><summary>`) || !strings.Contains(page, "goroutine") {
		t.Errorf("the operator's job page lacks the collapsed stack:\n%s", page)
	}
}
