package web_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSLAPage: /sla shows, per kind, the breach rate and p95 wait over 24 h, 7 d and
// 30 d from the rollup.
func TestSLAPage(t *testing.T) {
	b := setup(t, testToken)
	now := time.Now().UTC().Truncate(time.Minute)
	recent, old := now.Add(-10*time.Minute), now.Add(-3*24*time.Hour)

	// dashboard_metrics (SLA 2 h): one on time 10 minutes ago (rolled up now), and a
	// minute 3 days ago as the workers rolled it up then: one job, 3 h late.
	b.d.Exec(t, `INSERT INTO iactq_jobs (kind, state, attempt, created_at, scheduled_at, attempted_at, finished_at) VALUES
		('dashboard_metrics', 'completed', 1, ?, ?, ?, ?)`, recent, recent, recent.Add(time.Second), recent.Add(2*time.Second))
	if _, err := b.c.Rollup(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.d.Exec(t, `INSERT INTO iactq_sla_rollup (minute, kind, class, completed, breached, wait_p95_ms, run_p95_ms) VALUES
		(?, 'dashboard_metrics', '*', 1, 1, 10800000, 1000), (?, '*', '*', 1, 1, 10800000, 1000)`, old, old)
	_, page := get(t, http.DefaultClient, b.srv.URL+"/sla")
	row := regexp.MustCompile(`(?s)<tr data-kind="dashboard_metrics">(.*?)</tr>`).FindStringSubmatch(page)
	if row == nil {
		t.Fatalf("no dashboard_metrics row:\n%s", page)
	}
	cells := regexp.MustCompile(`<td[^>]*>([^<]*)</td>`).FindAllStringSubmatch(row[1], -1)
	var got []string
	for _, c := range cells[1:] {
		got = append(got, c[1])
	}
	want := []string{"0 / 1", "0.0%", "1s", "1 / 2", "50.0%", "3h", "1 / 2", "50.0%", "3h"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("24 h, 7 d, 30 d cells: %q, want %q", got, want)
	}
}
