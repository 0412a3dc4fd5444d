package web_test

import (
	"fmt"
	"image/png"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAnalystJourneyInChromium: an analyst requests a report with the page's form, it
// appears in Priorities, its page follows it and becomes the result with charts, and
// the message is in the inbox, each page as headless Chromium renders it. Screenshots
// go to $IACTQ_SHOTS when set (else a temporary folder), for people to look at.
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
	shoot := func(name, path string, height int) {
		t.Helper()
		file := filepath.Join(dir, name+".png")
		headless(t, bin, "--hide-scrollbars", fmt.Sprintf("--window-size=1400,%d", height), "--screenshot="+file, b.srv.URL+path)
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if img, err := png.Decode(f); err != nil || img.Bounds().Dx() != 1400 {
			t.Fatalf("screenshot %s: %v", file, err)
		}
		t.Logf("screenshot %s: %s", path, file)
	}
	dom := func(path string, wants ...string) string {
		t.Helper()
		d := headless(t, bin, "--dump-dom", b.srv.URL+path)
		for _, w := range wants {
			if !strings.Contains(d, w) {
				t.Errorf("%s in chromium: no %q", path, w)
			}
		}
		return d
	}

	// 1. The request form, as an analyst who has not unlocked anything sees it.
	dom("/reports", `<form class="request" method="post" action="/reports"`, `<option value="abandonment_report">`, `<option value="support">`, `name="token"`)
	shoot("1-reports-form", "/reports", 900)

	// 2. The request, as that form sends it (the analysts' token in its field).
	jar, _ := cookiejar.New(nil)
	id := requestReport(t, b, jar, url.Values{"token": {testAnalystToken}, "kind": {"abandonment_report"}, "period": {"last 24h"},
		"flow_id": {"main"}, "granularity": {"hour"}, "requested_by": {"ana"}})

	// 3. It waits in Priorities, and its page says where it is.
	dom("/priorities", fmt.Sprintf(`data-id="%d"`, id), "abandonment_report")
	shoot("2-priorities", "/priorities", 700)
	dom(fmt.Sprintf("/reports/%d", id), "Next in line", "turns URGENT at", "turns OVERDUE at")
	shoot("3-report-waiting", fmt.Sprintf("/reports/%d", id), 700)

	// 4. A worker makes it: the same page is the result, with charts.
	if j := runUntilFinished(t, b.c, id); j.State != "completed" {
		t.Fatalf("report job %s: %s", j.State, j.Errors)
	}
	dom(fmt.Sprintf("/reports/%d", id), `<svg class="chart"`, "Abandoned calls by hour", `id="totals"`, "CSV")
	shoot("4-report-result", fmt.Sprintf("/reports/%d", id), 2200)

	// 5. The message in ana's inbox, unread.
	dom("/messages?to=ana", "Messages for ana", fmt.Sprintf("abandonment_report job %d completed", id), "open the report")
	shoot("5-messages", "/messages?to=ana", 700)

	// The other new pages, for the record.
	shoot("6-jobs", "/jobs?queue=reports", 700)
	shoot("7-sla", "/sla", 600)
	code, _ := get(t, http.DefaultClient, b.srv.URL+"/reports")
	if code != http.StatusOK {
		t.Errorf("/reports: %d", code)
	}
}
