package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/web"
)

// TestPrioritiesAgreeInCLIPageAndMetrics renders the same backdated jobs through
// `iactq priorities --json`, the dashboard's Priorities page and /metrics, and
// compares the figures: each job's age, SLA left and due time; each queue's count
// per class and its oldest job's age.
func TestPrioritiesAgreeInCLIPageAndMetrics(t *testing.T) {
	d, c := setup(t)
	// The cases: a call_flow_analysis job (SLA 4 h) 5h12m old must read
	// "1h12m over"; a dashboard_metrics job (SLA 2 h) 1h57m44s old has 2m16s left;
	// a job enqueued for in 30 minutes is due in 30m, not 0 s old.
	d.Exec(t, `INSERT INTO iactq_jobs (kind, queue, state, args, scheduled_at) VALUES
		('call_flow_analysis', 'reports', 'available', '{}', NOW(6) - INTERVAL 18750 SECOND),
		('dashboard_metrics', 'reports', 'available', '{}', NOW(6) - INTERVAL 7064 SECOND),
		('abandonment_report', 'reports', 'available', '{}', NOW(6) - INTERVAL 10 MINUTE),
		('noop', 'default', 'available', '{}', NOW(6) - INTERVAL 3 MINUTE),
		('noop', 'default', 'scheduled', '{}', NOW(6) + INTERVAL 1830 SECOND)`)

	var cli []queue.Priority
	if err := json.Unmarshal([]byte(c.ok("priorities", "--json")), &cli); err != nil || len(cli) != 5 {
		t.Fatalf("priorities --json: %v, %d jobs", err, len(cli))
	}

	client, err := queue.NewClient(d.DB, queue.NewRegistry(), queue.Config{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	m := web.NewMetrics(client)
	dash, err := web.New(web.Options{Client: client, Metrics: m, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(dash)
	t.Cleanup(srv.Close)
	page := fetch(t, srv.URL+"/priorities")
	metrics := fetch(t, srv.URL+"/metrics")

	// The page: one row per job, in the CLI's order, numbered from 1.
	row := regexp.MustCompile(`(?s)<tr class="row-(\w+)" data-id="(\d+)" data-age="(-?\d+)" data-due-in="(\d+)" data-sla-left="(-?\d+)">\s*<td class="num muted">(\d+)</td>.*?<td class="age">(.*?)</td>\s*<td class="sla-left">(.*?)</td>`)
	rows := row.FindAllStringSubmatch(page, -1)
	if len(rows) != len(cli) {
		t.Fatalf("page shows %d rows, the CLI %d:\n%s", len(rows), len(cli), page)
	}
	tag := regexp.MustCompile(`<[^>]+>`)
	near := func(a, b int64) bool { return a-b <= 1 && b-a <= 1 } // two reads, up to a second apart
	for i, p := range cli {
		r := rows[i]
		num := func(k int) int64 { n, _ := strconv.ParseInt(r[k], 10, 64); return n }
		if num(2) != p.ID || num(6) != int64(i+1) || r[1] != strings.ToLower(string(p.Class)) {
			t.Errorf("row %d: id %s, number %s, class %s; want id %d, number %d, class %s", i, r[2], r[6], r[1], p.ID, i+1, p.Class)
		}
		if !near(num(3), p.AgeSeconds) || !near(num(4), p.DueInSeconds) || !near(num(5), p.SLALeftSeconds) {
			t.Errorf("job %d: page age %s due-in %s sla-left %s; CLI %d %d %d", p.ID, r[3], r[4], r[5], p.AgeSeconds, p.DueInSeconds, p.SLALeftSeconds)
		}
		age, left := strings.TrimSpace(tag.ReplaceAllString(r[7], "")), strings.TrimSpace(tag.ReplaceAllString(r[8], ""))
		wantLeft := shortDuration(time.Duration(num(5)) * time.Second)
		if num(5) < 0 {
			wantLeft += " over"
		}
		if left != wantLeft {
			t.Errorf("job %d: SLA left reads %q, want %q", p.ID, left, wantLeft)
		}
		wantAge := shortDuration(time.Duration(num(3)) * time.Second)
		if num(4) > 0 {
			wantAge = "due in " + shortDuration(time.Duration(num(4))*time.Second)
		}
		if age != wantAge {
			t.Errorf("job %d: age reads %q, want %q", p.ID, age, wantAge)
		}
	}
	// The figures, as read.
	for _, want := range []string{"1h12m over", "due in 30m"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not read %q", want)
		}
	}
	if cli[0].Kind != "call_flow_analysis" || cli[0].SLALeftSeconds > -4320 || cli[0].SLALeftSeconds < -4380 {
		t.Errorf("first job: %+v, want call_flow_analysis 1h12m-1h13m over", cli[0])
	}
	if cli[1].Kind != "dashboard_metrics" || cli[1].SLALeftSeconds > 136 || cli[1].SLALeftSeconds < 130 {
		t.Errorf("second job: %+v, want dashboard_metrics with 2m16s left", cli[1])
	}

	// /metrics: the available jobs per queue and class, and the oldest one's age.
	type key struct{ queue, class string }
	count, oldest := map[key]int64{}, map[key]int64{}
	for _, p := range cli {
		if p.State != queue.StateAvailable {
			continue
		}
		k := key{p.Queue, string(p.Class)}
		count[k]++
		oldest[k] = max(oldest[k], p.AgeSeconds)
	}
	sample := regexp.MustCompile(`(?m)^(iactq_backlog_jobs|iactq_oldest_job_age_seconds)\{class="(\w+)",queue="(\w+)"\} (\S+)$`)
	seen := map[string]bool{}
	for _, s := range sample.FindAllStringSubmatch(metrics, -1) {
		k := key{s[3], s[2]}
		v, _ := strconv.ParseFloat(s[4], 64)
		switch s[1] {
		case "iactq_backlog_jobs":
			if int64(v) != count[k] {
				t.Errorf("/metrics backlog %v = %v, CLI counts %d", k, v, count[k])
			}
		case "iactq_oldest_job_age_seconds":
			if count[k] > 0 && !near(int64(v), oldest[k]) {
				t.Errorf("/metrics oldest age %v = %v, CLI says %d", k, v, oldest[k])
			}
		}
		seen[s[1]+s[2]+s[3]] = true
	}
	for k := range count {
		if !seen["iactq_backlog_jobs"+k.class+k.queue] || !seen["iactq_oldest_job_age_seconds"+k.class+k.queue] {
			t.Errorf("/metrics has no backlog or oldest age for %v:\n%s", k, metrics)
		}
	}
}

func fetch(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", u, resp.Status, b)
	}
	return string(b)
}
