package web_test

import (
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAnalystJourneyInChromium: an analyst, in headless Chromium, fills in the
// request form (drop-downs with the keyboard, name and token typed) and presses
// Request; the browser lands on the request's page, which says where it waits; it is
// in Priorities; once a worker made it, the same page, left open, reloads itself
// into the result with its charts; the Messages link opens the analyst's inbox with
// the message, which the analyst marks read after unlocking with the token. Each
// step is screenshotted to $IACTQ_SHOTS when set (else a temporary folder), for
// people to look at.
func TestAnalystJourneyInChromium(t *testing.T) {
	b := setup(t, testToken)
	bin := chromium(t)
	loadCalls(t, b.d, 300)
	dir := os.Getenv("IACTQ_SHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const width = 1400
	br := openBrowser(t, bin, width, 900)
	shoot := func(name string, height int) {
		t.Helper()
		file := filepath.Join(dir, name+".png")
		br.screenshot(file, width, height)
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if img, err := png.Decode(f); err != nil || img.Bounds().Dx() != width {
			t.Fatalf("screenshot %s: %v", file, err)
		}
		var url string
		_ = br.eval("location.pathname + location.search", &url)
		t.Logf("screenshot %s: %s", url, file)
	}
	sees := func(where string, wants ...string) {
		t.Helper()
		text := br.text()
		for _, w := range wants {
			if !strings.Contains(text, w) {
				t.Errorf("%s: the page does not say %q:\n%s", where, w, text)
			}
		}
	}

	// 1. The request form, as an analyst who has not unlocked anything sees it; then
	// filled in as they would.
	br.navigate(b.srv.URL + "/reports")
	sees("/reports", "Request a report", "No report is waiting.")
	shoot("1-reports-form", 900)
	br.choose(`#request select[name="kind"]`, "abandonment_report")
	br.choose(`#request select[name="period"]`, "last 24h")
	br.choose(`#request select[name="flow_id"]`, "main")
	br.choose(`#request select[name="granularity"]`, "hour")
	br.typeInto(`#request input[name="requested_by"]`, "ana")
	br.typeInto(`#request input[name="token"]`, testAnalystToken)
	shoot("1b-reports-form-filled", 900)
	br.click(`#request button`)

	// 2. The browser is on the request's page: its place in the claim order.
	// (The flash is read as the page lands: the page reloads itself every 10 s, without it.)
	br.waitFor("the request's page", `/^\/reports\/\d+$/.test(location.pathname) && document.querySelector("#status") &&
		/report requested: job \d+/.test(document.querySelector("#flash").innerText)`, 2*time.Minute)
	var path string
	if err := br.eval("location.pathname", &path); err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.ParseInt(strings.TrimPrefix(path, "/reports/"), 10, 64)
	j, err := b.c.GetJob(t.Context(), id)
	if err != nil || j.Kind != "abandonment_report" || j.Queue != "reports" || j.RequestedBy != "ana" || !strings.Contains(string(j.Args), `"flow_id":"main"`) ||
		!strings.Contains(string(j.Args), `"period":"last 24h"`) || !strings.Contains(string(j.Args), `"granularity":"hour"`) {
		t.Fatalf("the form queued %+v (%v)", j, err)
	}
	sees(path, "Next in line", "turns URGENT at", "turns OVERDUE at", "flow id", "main")
	shoot("3-report-waiting", 700)

	// 3. It waits in Priorities.
	br.navigate(b.srv.URL + "/priorities")
	var listed bool
	if err := br.eval(fmt.Sprintf(`!!document.querySelector('[data-id="%d"]')`, id), &listed); err != nil || !listed {
		t.Errorf("request %d is not in Priorities (%v):\n%s", id, err, br.text())
	}
	shoot("2-priorities", 700)

	// 4. Back on its page, left open while a worker makes the report: the page reloads
	// itself into the result, with its charts.
	br.navigate(b.srv.URL + path)
	if j := runUntilFinished(t, b.c, id); j.State != "completed" {
		t.Fatalf("report job %s: %s", j.State, j.Errors)
	}
	// Loaded to its end: #totals is there while the rest of the page may still be parsed.
	br.waitFor("the page turned into the result", `document.querySelector("#totals") && document.readyState === "complete"`, 2*time.Minute)
	sees(path, "Abandoned calls by hour", "Abandoned calls by wait", "Period", "How the numbers are counted")
	var charts []string
	// A chart's marks: its bars (each titled with its value) and the points of its lines.
	if err := br.eval(`[...document.querySelectorAll("svg.chart")].map(s => s.getAttribute("aria-label") + ":" +
		(s.querySelectorAll("rect > title").length + [...s.querySelectorAll("polyline")].reduce((n, l) => n + l.points.length, 0)))`, &charts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Calls by hour", "Abandon rate (%) by hour", "Abandoned calls by wait before hanging up"} {
		ok := false
		for _, c := range charts {
			n, _ := strconv.Atoi(c[strings.LastIndex(c, ":")+1:])
			ok = ok || strings.HasPrefix(c, want+":") && n >= 2
		}
		if !ok {
			t.Errorf("no drawn chart %q among %v", want, charts)
		}
	}
	shoot("4-report-result", 2600)

	// 5. The Messages link opens ana's inbox (the browser requested as ana).
	br.click(`nav a[href="/messages"]`)
	br.waitFor("the inbox", `location.pathname === "/messages" && document.querySelector("#unread")`, 2*time.Minute)
	sees("/messages", "Messages for ana", fmt.Sprintf("abandonment_report job %d completed", id), "open the report", "To mark messages read, unlock")
	shoot("5-messages", 700)

	// Mark it read: unlock with the analysts' token in the header, then the button.
	br.typeInto(`header input[name="token"]`, testAnalystToken)
	br.click(`header form[action="/login"] button`)
	br.waitFor("unlocked for analysts", `document.querySelector("header .lock .ok") && /analyst/.test(document.querySelector("header .lock").innerText)`, 2*time.Minute)
	br.click(`#unread form[action$="/read"] button`)
	br.waitFor("marked read", `/marked read/.test(document.body.innerText) && /Nothing unread/.test(document.body.innerText)`, 2*time.Minute)
	var readAt int
	if err := b.d.DB.QueryRow(`SELECT COUNT(*) FROM internal_messages WHERE recipient = 'ana' AND job_id = ? AND read_at IS NOT NULL`, id).Scan(&readAt); err != nil || readAt != 1 {
		t.Errorf("the message is not marked read in the table: %d %v", readAt, err)
	}
	shoot("5b-messages-read", 700)

	// The other new pages, for the record.
	br.navigate(b.srv.URL + "/jobs?queue=reports")
	var row bool
	if err := br.eval(fmt.Sprintf(`!!document.querySelector('a[href="/jobs/%d"]')`, id), &row); err != nil || !row {
		t.Errorf("/jobs?queue=reports does not list job %d (%v)", id, err)
	}
	shoot("6-jobs", 700)
	// SLA history, once the last hour's jobs are rolled up.
	b.fillLastHour(t)
	if _, err := b.c.Rollup(t.Context()); err != nil {
		t.Fatal(err)
	}
	br.navigate(b.srv.URL + "/sla")
	sees("/sla", "dashboard_metrics", "(all kinds)")
	shoot("7-sla", 600)
}
