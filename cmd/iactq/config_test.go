package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// registryWithScheduledKinds has the kinds the default schedules run.
func registryWithScheduledKinds() *queue.Registry {
	return jobs.NewRegistry(jobs.Deps{})
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "iactq.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	s, err := loadSettings("", registryWithScheduledKinds(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.queueConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := queue.Config{
		Queues:            map[string]int{"default": 25, "reports": 4, "maintenance": 2},
		SLAs:              queue.DefaultSLAs(),
		PollInterval:      10 * time.Millisecond,
		HeartbeatInterval: 5 * time.Second,
		RescueAfter:       30 * time.Second,
		ShutdownGrace:     30 * time.Second,
		JobTimeout:        10 * time.Minute,
		FinishedRetention: 7 * 24 * time.Hour,
		MaxArgsBytes:      1 << 20,
		UnknownKindGrace:  time.Hour,
		Retry:             queue.RetryPolicy{Initial: time.Second, Max: time.Hour, Jitter: 0.3},
		Schedules: []queue.Schedule{
			{Name: "session_cleanup", Cron: "0 */6 * * *", Kind: "session_cleanup", Queue: "maintenance", Args: []byte("{}")},
			{Name: "health_check", Cron: "*/5 * * * *", Kind: "health_check", Queue: "maintenance", Args: []byte("{}")},
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", cfg, want)
	}

	// Without those kinds in the build, the default schedules are left out quietly.
	s, err = loadSettings("", queue.NewRegistry(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Schedules) != 0 {
		t.Fatalf("schedules of missing kinds kept: %+v", s.Schedules)
	}
}

func TestExampleDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	fc := defaultFileConfig()
	v := reflect.ValueOf(*fc)
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if name == "Jobs" {
			if !strings.Contains(string(exampleConfig), "# jobs:") {
				t.Error("the example does not document jobs:")
			}
			continue
		}
		if v.Field(i).IsZero() {
			t.Errorf("the example sets no %s", name)
		}
	}
	c := cli{t: t, env: map[string]string{}}
	if out := c.ok("config", "example"); out != string(exampleConfig) {
		t.Fatal("config example does not print the example file")
	}
}

func TestConfigFileOverDefaults(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `
queues: {default: 3}
poll_interval: 200ms
retry: {max: 10m}
sla:
  dashboard_metrics: {urgent: 90m}
  noop: {sla: 3h}
schedules:
  - {name: ping, cron: "@every 1m", kind: noop, args: {sleep_ms: 5}, requested_by: ops}
jobs:
  health_check:
    targets: [{url: "http://127.0.0.1:8000/health", token: hunter22}]
`)
	s, err := loadSettings(path, jobs.NewRegistry(jobs.Deps{}), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.queueConfig()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !reflect.DeepEqual(cfg.Queues, map[string]int{"default": 3}):
		t.Errorf("queues %v", cfg.Queues)
	case cfg.PollInterval != 200*time.Millisecond || cfg.HeartbeatInterval != 5*time.Second:
		t.Errorf("intervals %v %v", cfg.PollInterval, cfg.HeartbeatInterval)
	case cfg.Retry != queue.RetryPolicy{Initial: time.Second, Max: 10 * time.Minute, Jitter: 0.3}:
		t.Errorf("retry %+v", cfg.Retry)
	case cfg.SLAs["dashboard_metrics"] != queue.SLA{Deadline: 2 * time.Hour, Urgent: 90 * time.Minute}:
		t.Errorf("dashboard_metrics SLA %+v", cfg.SLAs["dashboard_metrics"])
	case cfg.SLAs["noop"] != queue.SLA{Deadline: 3 * time.Hour, Urgent: 30 * time.Minute}:
		t.Errorf("noop SLA %+v", cfg.SLAs["noop"])
	case cfg.SLAs["call_flow_analysis"] != queue.DefaultSLAs()["call_flow_analysis"]:
		t.Errorf("call_flow_analysis SLA %+v", cfg.SLAs["call_flow_analysis"])
	case len(cfg.Schedules) != 1 || cfg.Schedules[0].Queue != "default" || string(cfg.Schedules[0].Args) != `{"sleep_ms":5}` || cfg.Schedules[0].RequestedBy != "ops":
		t.Errorf("schedules %+v", cfg.Schedules)
	}

	c := cli{t: t, env: map[string]string{"IACTQ_CONFIG": path}}
	out := c.ok("config", "show")
	if strings.Contains(out, "hunter22") || !strings.Contains(out, "token: '***'") && !strings.Contains(out, `token: "***"`) {
		t.Errorf("config show does not hide the token:\n%s", out)
	}
	if !strings.Contains(out, path) || !strings.Contains(out, "poll_interval: 200ms") {
		t.Errorf("config show:\n%s", out)
	}
}

func TestBadConfigExits2(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, want string }{
		{"queues: {default: 2}\npol_interval: 1s\n", `line 2: unknown key "pol_interval"`},
		{"retry:\n  initial: 1s\n  maximum: 2s\n", `line 3: unknown key "maximum"`},
		{"poll_interval: fast\n", `line 1: "fast" is not a duration`},
		{"queues: {default: many}\n", "line 1"},
		{"schedules:\n  - {name: x, cron: '@hourly', kind: no_such_kind}\n", `schedule x: unknown kind "no_such_kind"`},
		{"schedules:\n  - {name: x, cron: 'every tuesday', kind: noop}\n", "bad cron expression"},
		{"schedules:\n  - {name: x, cron: '@hourly', kind: noop, args: {sleep_ms: -1}}\n", "schedule x"},
		{"sla:\n  noop: {sla: 10m}\n", "urgency threshold"},
		{"rescue_after: 1s\n", "rescue_after"},
		{"retry: {jitter: 2}\n", "jitter"},
		{"queues: {}\n", "at least one queue"},
		{"queues: {default: 0}\n", "out of range"},
		{"a: [\n", "line"},
	} {
		path := writeConfig(t, tc.body)
		c := cli{t: t, env: map[string]string{"IACTQ_DSN": "u:p@tcp(127.0.0.1:1)/x"}}
		for _, args := range [][]string{{"--config", path, "config", "show"}, {"--config", path, "enqueue", "noop"}} {
			r := c.run(args...)
			if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "config "+path) || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%q, %v: exit %d, stderr %q; want 2 and %q", tc.body, args[2:], r.code, r.stderr, tc.want)
			}
		}
	}
	c := cli{t: t, env: map[string]string{}}
	if r := c.run("--config", "/nonexistent/iactq.yaml", "config", "show"); r.code != 2 {
		t.Errorf("missing config file: exit %d", r.code)
	}
}

func TestParseQueues(t *testing.T) {
	t.Parallel()
	got, err := parseQueues("default=10, reports=4")
	if err != nil || !reflect.DeepEqual(got, map[string]int{"default": 10, "reports": 4}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "default", "default=", "=3", "default=x", "default=0", "a=1,a=2", "bad name=1", "default=1,"} {
		if _, err := parseQueues(bad); err == nil {
			t.Errorf("parseQueues(%q) accepted", bad)
		}
	}
}

func TestParseAt(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Time{
		"2030-01-02T03:04:05Z":      time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		"2030-01-02T03:04:05+01:00": time.Date(2030, 1, 2, 2, 4, 5, 0, time.UTC),
		"2030-01-02 03:04":          time.Date(2030, 1, 2, 3, 4, 0, 0, time.Local),
		"2030-01-02 03:04:05":       time.Date(2030, 1, 2, 3, 4, 5, 0, time.Local),
	} {
		got, err := parseAt(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseAt(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "2030-13-01 00:00", "1700000000"} {
		if _, err := parseAt(bad); err == nil {
			t.Errorf("parseAt(%q) accepted", bad)
		}
	}
}

func TestDurations(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "0s", 45 * time.Second: "45s", 90 * time.Second: "1m30s", 12 * time.Minute: "12m",
		time.Hour + 5*time.Minute: "1h05m", 2 * time.Hour: "2h", 76 * time.Hour: "3d4h", -12 * time.Minute: "12m",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
	if got := slaLeft(-720); got != "12m over" {
		t.Errorf("slaLeft(-720) = %q", got)
	}
	if got := slaLeft(3900); got != "1h05m" {
		t.Errorf("slaLeft(3900) = %q", got)
	}
	for d, want := range map[time.Duration]string{time.Hour: "1h", 30 * time.Minute: "30m", 90 * time.Minute: "1h30m", 50 * time.Millisecond: "50ms", 5 * time.Second: "5s"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestRedactor(t *testing.T) {
	t.Parallel()
	pws := dsnPasswords([]string{"--dsn", "a:flagpw1@tcp(h:1)/x", "--dsn=b:flagpw2@tcp(h:1)/x", "--", "--dsn", "c:notme@/x"},
		func(string) string { return "u:envpw@unix(/s)/db" })
	if !reflect.DeepEqual(pws, []string{"envpw", "flagpw1", "flagpw2"}) {
		t.Fatalf("passwords %v", pws)
	}
	var b strings.Builder
	w := newRedactor(&b, pws)
	w.Write([]byte("envpw flagpw1 flagpw2\n"))
	if b.String() != "*** *** ***\n" {
		t.Fatalf("redacted %q", b.String())
	}
	if got := dsnPassword("u:p@ss@tcp(h:1/x"); got != "p@ss" {
		t.Fatalf("password of a malformed DSN: %q", got)
	}
}

// unknown_kind_grace: 0s discards jobs of unknown kinds at once; a negative one is
// refused.
func TestUnknownKindGraceZeroMeansAtOnce(t *testing.T) {
	t.Parallel()
	s, err := loadSettings(writeConfig(t, "unknown_kind_grace: 0s\n"), registryWithScheduledKinds(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.queueConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.UnknownKindGrace != queue.DiscardAtOnce {
		t.Fatalf("unknown_kind_grace 0s: UnknownKindGrace = %v, want DiscardAtOnce", cfg.UnknownKindGrace)
	}
	_, err = loadSettings(writeConfig(t, "unknown_kind_grace: -1s\n"), registryWithScheduledKinds(), zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "unknown_kind_grace") {
		t.Fatalf("negative grace: %v", err)
	}
}
