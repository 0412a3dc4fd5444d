package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium finds Debian's chromium, installing it with apt when it is missing and the
// test runs as root.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("chromium is not installed and the test is not root: apt-get install chromium")
	}
	t.Log("installing chromium with apt-get")
	cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "chromium")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apt-get install chromium: %v\n%s", err, out)
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// headless runs chromium headless on one URL with extra flags and returns stdout.
func headless(t *testing.T, bin string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
	}
	return stdout.String()
}

// TestDashboardInChromium loads the dashboard's pages in headless Chromium, retries a
// failed job through the page's own form, and checks that an action without the token
// is refused.
func TestDashboardInChromium(t *testing.T) {
	b := setup(t, testToken)
	bin := chromium(t)
	id := b.seed(t)
	b.fillLastHour(t)
	if _, err := b.c.Rollup(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Pages load and render their data (the DOM after scripts ran).
	for path, want := range map[string]string{
		"/":           "Jobs finished per minute",
		"/priorities": "OVERDUE",
		"/failed":     "month out of range",
		"/workers":    "No worker is registered",
		"/deploys":    "DORA",
	} {
		dom := headless(t, bin, "--dump-dom", b.srv.URL+path)
		if !strings.Contains(dom, want) || !strings.Contains(dom, "</html>") {
			t.Errorf("%s in chromium: no %q in\n%s", path, want, dom)
		}
	}

	// A screenshot of the overview.
	shot := os.Getenv("IACTQ_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "dashboard.png")
	}
	headless(t, bin, "--hide-scrollbars", "--window-size=1400,1000", "--screenshot="+shot, b.srv.URL+"/")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() != 1400 {
		t.Fatalf("screenshot: %v %v", err, img.Bounds())
	}
	t.Logf("screenshot: %s", shot)

	// Without the token the page offers no retry, and a forged POST is refused.
	dom := headless(t, bin, "--dump-dom", b.srv.URL+"/failed")
	if strings.Contains(dom, "/retry") {
		t.Error("locked page shows a retry form")
	}
	code, _ := post(t, http.DefaultClient, b.srv.URL+fmt.Sprintf("/jobs/%d/retry", id), url.Values{"back": {"/failed"}}, nil)
	if code != http.StatusForbidden {
		t.Fatalf("retry without token: %d", code)
	}
	if s := jobState(t, b.d, id); s != "discarded" {
		t.Fatalf("refused retry changed the job: %s", s)
	}

	// Unlock as the page's login form does, then submit the retry form found in the page.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	if code, _ := post(t, browser, b.srv.URL+"/login", url.Values{"token": {testToken}, "back": {"/failed"}}, nil); code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	_, page := get(t, browser, b.srv.URL+"/failed")
	form := regexp.MustCompile(`<form method="post" action="(/jobs/\d+/retry)" class="retry"><input type="hidden" name="back" value="([^"]+)">`).FindStringSubmatch(page)
	if form == nil || form[1] != fmt.Sprintf("/jobs/%d/retry", id) {
		t.Fatalf("no retry form for job %d in the unlocked page:\n%s", id, page)
	}
	code, body := post(t, browser, b.srv.URL+form[1], url.Values{"back": {form[2]}}, nil)
	if code != http.StatusOK || !strings.Contains(body, fmt.Sprintf("job %d is available again", id)) {
		t.Fatalf("retry from the page: %d\n%s", code, body)
	}
	if s := jobState(t, b.d, id); s != "available" {
		t.Fatalf("after the retry the job is %s", s)
	}
	// Chromium sees the new state too.
	if dom := headless(t, bin, "--dump-dom", b.srv.URL+fmt.Sprintf("/jobs/%d", id)); !strings.Contains(dom, `id="job-state">available<`) {
		t.Errorf("job page after retry:\n%s", dom)
	}
}

// fillLastHour inserts finished jobs spread over the last hour, for the charts.
func (b *bundle) fillLastHour(t *testing.T) {
	t.Helper()
	now := time.Now().UTC()
	var sb strings.Builder
	sb.WriteString("INSERT INTO iactq_jobs (kind, queue, state, attempt, created_at, scheduled_at, attempted_at, finished_at) VALUES ")
	var args []any
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 600; i++ {
		fin := now.Add(-time.Duration(r.IntN(3540)+60) * time.Second)
		run := time.Duration(50+r.IntN(400)) * time.Millisecond
		wait := time.Duration(r.IntN(3000)) * time.Millisecond
		state := "completed"
		if r.IntN(25) == 0 {
			state = "discarded"
		}
		kind := []string{"noop", "dashboard_metrics", "session_cleanup"}[r.IntN(3)]
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString("(?, 'default', ?, 1, ?, ?, ?, ?)")
		start := fin.Add(-run)
		args = append(args, kind, state, start.Add(-wait), start.Add(-wait), start, fin)
	}
	b.d.Exec(t, sb.String(), args...)
}
