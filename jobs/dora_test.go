package jobs

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// doraT0 is the start of the window of the synthetic history; the window ends 10
// days later, and the previous window is the 10 days before doraT0.
var doraT0 = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

type doraTestDeploy struct {
	revision string
	state    string
	finished time.Duration // after doraT0
	lead     time.Duration // commit time before finished; 0: unknown
}

// doraTestHistory, with the answers worked out by hand:
//
//	current window [T0, T0+10d): 7 deploys, 4 succeeded, 3 failed
//	  frequency 4/10 = 0.4/day (2.8/week): high
//	  lead time median of 2h, 4h, 24h (one unknown) = 4h: high
//	  change failure rate 3/7 = 42.9%: medium
//	  time to restore: c2 and c3 restored by c4 after 3h and 2h30m, median
//	  2h45m: high; c7 not restored
//	previous window [T0-10d, T0): 2 deploys, 1 succeeded, 1 failed
//	  frequency 0.1/day: medium; lead time unknown: n/a; failure rate 50%: low;
//	  time to restore p1 -> p2 = 24h: medium
//
// o1 ended before both windows and counts nowhere; s1 is staging and counts nowhere.
var doraTestHistory = []doraTestDeploy{
	{"o1", "failed", -25 * doraDay, 0},
	{"p1", "rolled_back", -5 * doraDay, 0},
	{"p2", "succeeded", -4 * doraDay, 0},
	{"c1", "succeeded", 1 * doraDay, 2 * time.Hour},
	{"c2", "rolled_back", 2 * doraDay, time.Hour},
	{"c3", "failed", 2*doraDay + 30*time.Minute, 0},
	{"c4", "succeeded", 2*doraDay + 3*time.Hour, 4 * time.Hour},
	{"c5", "succeeded", 5 * doraDay, 0},
	{"c6", "succeeded", 9 * doraDay, 24 * time.Hour},
	{"c7", "rolled_back", 9*doraDay + 12*time.Hour, 0},
}

func doraTestRecords() []doraDeploy {
	var h []doraDeploy
	for i, d := range doraTestHistory {
		r := doraDeploy{ID: int64(i + 1), Failed: d.state != "succeeded", FinishedAt: doraT0.Add(d.finished)}
		if d.lead != 0 {
			r.CommitTime = r.FinishedAt.Add(-d.lead)
		}
		h = append(h, r)
	}
	return h
}

func doraF(v float64) *float64 { return &v }

func doraCheck(t *testing.T, name string, got, want DORAMetrics) {
	t.Helper()
	eq := func(a, b *float64) bool {
		return (a == nil) == (b == nil) && (a == nil || math.Abs(*a-*b) < 1e-9)
	}
	if got.Deploys != want.Deploys || got.Succeeded != want.Succeeded || got.Failed != want.Failed ||
		math.Abs(got.DeploysPerDay-want.DeploysPerDay) > 1e-9 || math.Abs(got.DeploysPerWeek-want.DeploysPerWeek) > 1e-9 ||
		!eq(got.LeadTimeSeconds, want.LeadTimeSeconds) || got.LeadTimeKnown != want.LeadTimeKnown || got.LeadTimeUnknown != want.LeadTimeUnknown ||
		!eq(got.ChangeFailureRate, want.ChangeFailureRate) || !eq(got.TimeToRestoreSeconds, want.TimeToRestoreSeconds) ||
		got.Restored != want.Restored || got.Unrestored != want.Unrestored || got.Bands != want.Bands {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("%s:\ngot  %s\nwant %s", name, g, w)
	}
}

var (
	doraWantCurrent = DORAMetrics{
		Deploys: 7, Succeeded: 4, Failed: 3,
		DeploysPerDay: 0.4, DeploysPerWeek: 2.8,
		LeadTimeSeconds: doraF(4 * 3600), LeadTimeKnown: 3, LeadTimeUnknown: 1,
		ChangeFailureRate:    doraF(3.0 / 7),
		TimeToRestoreSeconds: doraF(2.75 * 3600), Restored: 2, Unrestored: 1,
		Bands: DORABands{DeploymentFrequency: "high", LeadTime: "high", ChangeFailureRate: "medium", TimeToRestore: "high"},
	}
	doraWantPrevious = DORAMetrics{
		Deploys: 2, Succeeded: 1, Failed: 1,
		DeploysPerDay: 0.1, DeploysPerWeek: 0.7,
		LeadTimeUnknown:      1,
		ChangeFailureRate:    doraF(0.5),
		TimeToRestoreSeconds: doraF(24 * 3600), Restored: 1,
		Bands: DORABands{DeploymentFrequency: "medium", LeadTime: "n/a", ChangeFailureRate: "low", TimeToRestore: "medium"},
	}
)

func TestComputeDORA(t *testing.T) {
	t.Parallel()
	h := doraTestRecords()
	doraCheck(t, "current", computeDORA(h, doraT0, doraT0.Add(10*doraDay)), doraWantCurrent)
	doraCheck(t, "previous", computeDORA(h, doraT0.Add(-10*doraDay), doraT0), doraWantPrevious)
	empty := computeDORA(nil, doraT0, doraT0.Add(doraDay))
	if empty.ChangeFailureRate != nil || empty.LeadTimeSeconds != nil || empty.Bands != (DORABands{"low", "n/a", "n/a", "n/a"}) {
		t.Errorf("empty history: %+v", empty)
	}
}

func TestDORABands(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		perDay float64
		want   string
	}{{3, "elite"}, {1, "elite"}, {0.99, "high"}, {1.0 / 7, "high"}, {0.1, "medium"}, {1.0 / 30, "medium"}, {0.03, "low"}, {0, "low"}} {
		if got := doraFrequencyBand(tc.perDay); got != tc.want {
			t.Errorf("frequency %v/day: %s, want %s", tc.perDay, got, tc.want)
		}
	}
	for _, tc := range []struct {
		d         time.Duration
		lead, ttr string
	}{
		{30 * time.Minute, "elite", "elite"},
		{2 * time.Hour, "high", "high"},
		{2 * doraDay, "high", "medium"},
		{8 * doraDay, "medium", "low"},
		{200 * doraDay, "low", "low"},
	} {
		s := tc.d.Seconds()
		if got := doraLeadTimeBand(&s); got != tc.lead {
			t.Errorf("lead time %s: %s, want %s", tc.d, got, tc.lead)
		}
		if got := doraRestoreBand(&s); got != tc.ttr {
			t.Errorf("time to restore %s: %s, want %s", tc.d, got, tc.ttr)
		}
	}
	for _, tc := range []struct {
		rate float64
		want string
	}{{0, "elite"}, {0.15, "elite"}, {0.2, "high"}, {0.3, "high"}, {0.4, "medium"}, {0.5, "low"}} {
		if got := doraFailureBand(&tc.rate); got != tc.want {
			t.Errorf("failure rate %v: %s, want %s", tc.rate, got, tc.want)
		}
	}
}

func TestDORASnapshotArgs(t *testing.T) {
	t.Parallel()
	for _, ok := range []int{0, 1, 30, 365} {
		if err := (DORASnapshotArgs{WindowDays: ok}).Validate(); err != nil {
			t.Errorf("%d: %v", ok, err)
		}
	}
	for _, bad := range []int{-1, 366, 10000} {
		if err := (DORASnapshotArgs{WindowDays: bad}).Validate(); err == nil || !strings.Contains(err.Error(), "window_days") {
			t.Errorf("%d: %v", bad, err)
		}
	}
}

// doraInsertHistory records doraTestHistory in iactq_deploys, with each deploy's
// commit time when known, plus a staging deploy that must not count.
func doraInsertHistory(t *testing.T, db *queuetest.DB) {
	t.Helper()
	for _, d := range doraTestHistory {
		finished := doraT0.Add(d.finished)
		var commit *time.Time
		if d.lead != 0 {
			c := finished.Add(-d.lead)
			commit = &c
		}
		db.Exec(t, `INSERT INTO iactq_deploys (env, revision, state, started_at, finished_at, commit_time) VALUES ('production', ?, ?, ?, ?, ?)`,
			d.revision, d.state, finished.Add(-10*time.Minute), finished, commit)
	}
	db.Exec(t, `INSERT INTO iactq_deploys (env, revision, state, started_at, finished_at) VALUES ('staging', 's1', 'failed', ?, ?)`,
		doraT0.Add(doraDay), doraT0.Add(doraDay))
}

func doraTestClient(t *testing.T, db *queuetest.DB, cfg Config, now time.Time) *queue.Client {
	t.Helper()
	c, err := queue.NewClient(db.DB, NewRegistry(Deps{DB: db.DB, Config: cfg, Now: func() time.Time { return now }}),
		queue.Config{PollInterval: 5 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDORASnapshotOnKnownHistory(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	doraInsertHistory(t, db)
	c := doraTestClient(t, db, DefaultConfig(), doraT0.Add(10*doraDay))
	jobs := queuetest.RunJobs(t, c, queue.InsertParams{Args: DORASnapshotArgs{WindowDays: 10}, RequestedBy: "cto"})
	if jobs[0].State != queue.StateCompleted {
		t.Fatalf("job = %+v", jobs[0])
	}
	s, err := LatestDORASnapshot(context.Background(), db.DB, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Env != "production" || s.WindowDays != 10 || s.JobID != jobs[0].ID || s.LeadTimeSource != "deploys" {
		t.Errorf("snapshot = %+v", s)
	}
	doraCheck(t, "current", s.Current, doraWantCurrent)
	doraCheck(t, "previous", s.Previous, doraWantPrevious)
	// The headline columns, for SQL users.
	var deploys int
	var perDay, lead, cfr, ttr float64
	if err := db.DB.QueryRow(`SELECT deploys, deploys_per_day, lead_time_seconds, change_failure_rate, time_to_restore_seconds FROM iactq_dora_snapshots WHERE id = ?`, s.ID).
		Scan(&deploys, &perDay, &lead, &cfr, &ttr); err != nil {
		t.Fatal(err)
	}
	if deploys != 7 || perDay != 0.4 || lead != 14400 || math.Abs(cfr-3.0/7) > 1e-9 || ttr != 9900 {
		t.Errorf("columns: %d %v %v %v %v", deploys, perDay, lead, cfr, ttr)
	}
	var body string
	if err := db.DB.QueryRow(`SELECT body FROM internal_messages WHERE recipient = 'cto'`).Scan(&body); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"0.40 deploys/day (high)", "lead time 4h0m (high)", "change failure rate 42.9% (medium)", "time to restore 2h45m (high)", "iactq dora"} {
		if !strings.Contains(body, want) {
			t.Errorf("message %q lacks %q", body, want)
		}
	}
}

// With a git repository configured, lead times come from its commit times.
func TestDORALeadTimeFromGit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	repo := t.TempDir()
	commitAt := doraT0.Add(-90 * time.Minute)
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.invalid", "GIT_COMMITTER_DATE="+commitAt.Format(time.RFC3339), "GIT_AUTHOR_DATE="+commitAt.Format(time.RFC3339))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	if err := os.WriteFile(filepath.Join(repo, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	git("add", "f")
	git("commit", "-q", "-m", "c")
	sha := git("rev-parse", "HEAD")
	git("tag", "v1")

	db := queuetest.New(t)
	// Deployed 90 minutes after the commit (by sha), 150 minutes (by tag, with a
	// wrong commit_time that git overrides), and a revision git does not know.
	for _, d := range []struct {
		rev      string
		finished time.Time
	}{{sha, doraT0}, {"v1", doraT0.Add(time.Hour)}, {"unknown-rev", doraT0.Add(2 * time.Hour)}} {
		db.Exec(t, `INSERT INTO iactq_deploys (env, revision, state, started_at, finished_at, commit_time) VALUES ('production', ?, 'succeeded', ?, ?, ?)`,
			d.rev, d.finished, d.finished, doraT0.Add(-100*doraDay))
	}
	cfg := DefaultConfig()
	cfg.DORA.GitRepo = repo
	c := doraTestClient(t, db, cfg, doraT0.Add(doraDay))
	queuetest.RunJobs(t, c, queue.InsertParams{Args: DORASnapshotArgs{WindowDays: 7}})
	s, err := LatestDORASnapshot(context.Background(), db.DB, "production")
	if err != nil {
		t.Fatal(err)
	}
	// Leads: 1.5h, 2.5h (git), 100d+2h (the row's commit_time: git does not know it).
	if s.LeadTimeSource != "git" || s.Current.LeadTimeKnown != 3 || s.Current.LeadTimeSeconds == nil || *s.Current.LeadTimeSeconds != 2.5*3600 {
		t.Errorf("snapshot = %+v, lead %v", s, DORADuration(s.Current.LeadTimeSeconds))
	}
	if got, err := gitCommitTime(context.Background(), repo, "x; rm -rf /"); err == nil {
		t.Errorf("gitCommitTime accepted a bad revision: %v", got)
	}
}
