package jobs

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePeriod(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 8, 10, 30, 0, 0, time.UTC)
	lisbon, err := time.LoadLocation("Europe/Lisbon")
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		in       string
		loc      *time.Location
		from, to string
	}{
		{"", time.UTC, "2026-11-07T10:30:00Z", "2026-11-08T10:30:00Z"},
		{"last 24h", time.UTC, "2026-11-07T10:30:00Z", "2026-11-08T10:30:00Z"},
		{"last 7d", time.UTC, "2026-11-01T10:30:00Z", "2026-11-08T10:30:00Z"},
		{"LAST 3 days", time.UTC, "2026-11-05T10:30:00Z", "2026-11-08T10:30:00Z"},
		{"last 2w", time.UTC, "2026-10-25T10:30:00Z", "2026-11-08T10:30:00Z"},
		{"today", time.UTC, "2026-11-08T00:00:00Z", "2026-11-08T10:30:00Z"},
		{"yesterday", time.UTC, "2026-11-07T00:00:00Z", "2026-11-08T00:00:00Z"},
		{"2026-11-01", time.UTC, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"},
		{"2026-11-01/2026-11-08", time.UTC, "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z"},
		{"2026-11-01T08:00:00Z/2026-11-01T09:30:00+01:00", time.UTC, "2026-11-01T08:00:00Z", "2026-11-01T08:30:00Z"},
		// Dates are midnights of the configured zone.
		{"2026-07-01/2026-07-02", berlin, "2026-06-30T22:00:00Z", "2026-07-01T22:00:00Z"},
		// The day clocks go back in Lisbon has 25 hours.
		{"2026-10-25", lisbon, "2026-10-24T23:00:00Z", "2026-10-26T00:00:00Z"},
	} {
		p, err := parsePeriod(tc.in, now, tc.loc)
		if err != nil {
			t.Errorf("parsePeriod(%q): %v", tc.in, err)
			continue
		}
		if !p.From.Equal(utc(tc.from)) || !p.To.Equal(utc(tc.to)) {
			t.Errorf("parsePeriod(%q) = %s..%s, want %s..%s", tc.in, p.From, p.To, tc.from, tc.to)
		}
	}
	for _, bad := range []string{"last", "last 0h", "last 5 fortnights", "2026-11-08/2026-11-01", "2026-11-01/2026-11-01",
		"2026-11-01/", "/2026-11-01", "2026-13-01", "1960-01-01/1960-01-02", "2040-01-01", "next week"} {
		if _, err := parsePeriod(bad, now, time.UTC); err == nil {
			t.Errorf("parsePeriod(%q): no error", bad)
		} else if !strings.Contains(err.Error(), "\"") {
			t.Errorf("parsePeriod(%q): error %q does not quote the input", bad, err)
		}
	}
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	lisbon, err := time.LoadLocation("Europe/Lisbon")
	if err != nil {
		t.Fatal(err)
	}
	p, err := parsePeriod("2026-10-25", time.Now(), lisbon)
	if err != nil {
		t.Fatal(err)
	}
	hours := bucketer{granularity: "hour", loc: lisbon}.buckets(p)
	if len(hours) != 25 {
		t.Fatalf("%d hour buckets on the day clocks go back, want 25", len(hours))
	}
	// 01:00 comes twice: once in summer time, once in winter time.
	if hours[1].Sub(hours[0]) != time.Hour || hours[2].Sub(hours[1]) != time.Hour {
		t.Errorf("hour buckets not an hour apart: %v", hours[:3])
	}
	days := bucketer{granularity: "day", loc: time.UTC}.buckets(period{
		From: time.Date(2026, 11, 1, 10, 30, 0, 0, time.UTC), To: time.Date(2026, 11, 8, 10, 30, 0, 0, time.UTC)})
	if len(days) != 8 || !days[0].Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("last-7d day buckets = %d starting %v, want 8 starting at midnight of the first day", len(days), days[0])
	}
	if i := bucketIndex(days, time.Date(2026, 11, 3, 23, 59, 59, 0, time.UTC)); i != 2 {
		t.Errorf("bucketIndex = %d, want 2", i)
	}
}

func TestPercentileNearestRank(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		values []int32
		p      float64
		want   any
	}{
		{nil, 90, nil},
		{[]int32{7}, 90, 7.0},
		{[]int32{90, 5, 60, 10, 40, 20, 30}, 90, 90.0}, // rank ceil(6.3) = 7
		{[]int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90, 9.0},
		{[]int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 90, 10.0}, // rank ceil(9.9) = 10
		{[]int32{4, 1, 3, 2}, 50, 2.0},
	} {
		if got := percentile(tc.values, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.values, tc.p, got, tc.want)
		}
	}
}

func TestSlope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ys   []int
		want float64
	}{
		{nil, 0}, {[]int{5}, 0}, {[]int{1, 2, 3}, 1}, {[]int{10, 10, 10}, 0}, {[]int{9, 6, 3, 0}, -3},
		{[]int{1, 3, 2, 4}, 0.8}, // x̄ 1.5, ȳ 2.5: Σ(x-x̄)(y-ȳ) = 4, Σ(x-x̄)² = 5
	} {
		if got := slope(tc.ys); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("slope(%v) = %v, want %v", tc.ys, got, tc.want)
		}
	}
}

func TestReportsConfigValidate(t *testing.T) {
	t.Parallel()
	if err := defaultReportsConfig().validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tc := range []struct {
		edit func(*ReportsConfig)
		want string
	}{
		{func(c *ReportsConfig) { c.Timezone = "Mars/Olympus" }, "timezone"},
		{func(c *ReportsConfig) { c.Timezone = "" }, "timezone"},
		{func(c *ReportsConfig) { c.MaxPeriodDays = 0 }, "max_period_days"},
		{func(c *ReportsConfig) { c.DefaultGranularity = "week" }, "default_granularity"},
		{func(c *ReportsConfig) { c.TopPaths = 0 }, "top_paths"},
		{func(c *ReportsConfig) { c.Timeout = time.Millisecond }, "timeout"},
		{func(c *ReportsConfig) { c.OutputDir = "/" }, "output_dir"},
	} {
		c := defaultReportsConfig()
		tc.edit(&c)
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %+v: error %v, want one naming %s", c, err, tc.want)
		}
	}
}

func TestGroupDigits(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 950: "950", 3950: "3 950", 1204311: "1 204 311", -4500: "-4 500"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestWaitEdges(t *testing.T) {
	for _, c := range []struct {
		threshold int
		want      []int
	}{
		{0, []int{0, 10, 30, 60, 120, 300}},
		{30, []int{0, 10, 30, 60, 120, 300}},
		{5, []int{0, 5, 10, 30, 60, 120, 300}},
		{90, []int{0, 10, 30, 60, 90, 120, 300}},
		{600, []int{0, 10, 30, 60, 120, 300, 600}},
	} {
		if got := waitEdges(c.threshold); !slices.Equal(got, c.want) {
			t.Errorf("waitEdges(%d) = %v, want %v", c.threshold, got, c.want)
		}
	}
	for s, want := range map[int]string{0: "0 s", 45: "45 s", 60: "1 min", 90: "1.5 min", 600: "10 min", 61: "61 s"} {
		if got := waitLabel(s); got != want {
			t.Errorf("waitLabel(%d) = %q, want %q", s, got, want)
		}
	}
}
