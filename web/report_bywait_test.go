package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// TestAbandonmentByWaitOnThePage: an abandonment report's page shows abandoned calls
// by how long the callers waited, as a chart and a table whose counts are the call
// data's, in its CSV too; the period is said once.
func TestAbandonmentByWaitOnThePage(t *testing.T) {
	b := setup(t, testToken)
	loadCalls(t, b.d, 300)
	job := queuetest.RunJobs(t, b.c, queue.InsertParams{Kind: "abandonment_report",
		Args: json.RawMessage(`{"period":"last 24h","granularity":"hour"}`), RequestedBy: "ana"})[0]
	if job.State != queue.StateCompleted {
		t.Fatalf("report: %s %s", job.State, job.Errors)
	}
	// What the bands must count, straight from the calls (all within the last 24 h).
	want := map[string]int{}
	rows, err := b.d.DB.Query(`SELECT CASE WHEN wait_seconds < 10 THEN 'under 10 s' WHEN wait_seconds < 30 THEN '10 s – 30 s'
		WHEN wait_seconds < 60 THEN '30 s – 1 min' WHEN wait_seconds < 120 THEN '1 min – 2 min' WHEN wait_seconds < 300 THEN '2 min – 5 min'
		ELSE '5 min+' END, COUNT(*) FROM ivr_calls WHERE outcome = 'abandoned' GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var band string
		var n int
		if err := rows.Scan(&band, &n); err != nil {
			t.Fatal(err)
		}
		want[band] = n
	}
	rows.Close()
	if len(want) < 3 {
		t.Fatalf("the test data spreads abandoned waits over %d bands only: %v", len(want), want)
	}

	_, page := get(t, http.DefaultClient, b.srv.URL+fmt.Sprintf("/reports/%d", job.ID))
	chart := regexp.MustCompile(`(?s)<svg class="chart"[^>]*aria-label="Abandoned calls by wait before hanging up">.*?</svg>`).FindString(page)
	if chart == "" {
		t.Fatalf("no by-wait chart:\n%s", page)
	}
	// One bar per band with calls, titled with its count; short ones apart.
	for band, n := range want {
		if n == 0 {
			continue
		}
		class := "s-bad"
		if band == "under 10 s" || band == "10 s – 30 s" {
			class = "s-wait50"
		}
		if bar := fmt.Sprintf(`<rect class="%s"`, class); !strings.Contains(chart, bar) ||
			!strings.Contains(chart, fmt.Sprintf("<title>%s ", band)) || !regexp.MustCompile(regexp.QuoteMeta(band)+` [a-z ]+: `+fmt.Sprint(n)+`</title>`).MatchString(chart) {
			t.Errorf("chart: no %s bar of %d for %s:\n%s", class, n, band, chart)
		}
	}
	table := regexp.MustCompile(`(?s)<table class="grid report-table" id="table-by_wait">.*?</table>`).FindString(page)
	for band, n := range want {
		if !regexp.MustCompile(`<tr><td>` + regexp.QuoteMeta(band) + `</td><td>\d+</td><td>\d*</td><td>` + fmt.Sprint(n) + `</td>`).MatchString(table) {
			t.Errorf("table: no row %s with %d abandoned:\n%s", band, n, table)
		}
	}
	if !strings.Contains(table, "<th>share (%)</th>") || !strings.Contains(table, "no (short)") {
		t.Errorf("table headers or short bands:\n%s", table)
	}
	// The period once: the Period row, not the args' own line besides.
	params := regexp.MustCompile(`(?s)<table class="kv" id="params">.*?</table>`).FindString(page)
	if strings.Count(params, "last 24h") != 1 || strings.Contains(params, "(UTC)") || strings.Contains(params, "<th>period</th>") ||
		!regexp.MustCompile(`<td id="period">last 24h: \d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? to \S+ \S+ UTC, by hour</td>`).MatchString(params) {
		t.Errorf("the period is not said once:\n%s", params)
	}

	code, csv := get(t, http.DefaultClient, b.srv.URL+fmt.Sprintf("/reports/%d/csv?table=by_wait", job.ID))
	if code != http.StatusOK || !strings.HasPrefix(csv, "wait,from_s,to_s,abandoned,share_pct,cumulative_pct,counted\n") ||
		!strings.Contains(csv, fmt.Sprintf("30 s – 1 min,30,60,%d,", want["30 s – 1 min"])) || !strings.Contains(csv, "\n5 min+,300,,") {
		t.Errorf("by_wait CSV: %d\n%s", code, csv)
	}
}
