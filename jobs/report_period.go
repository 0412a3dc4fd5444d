package jobs

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// period is a report's time range [From, To), resolved to instants.
type period struct {
	From, To time.Time
	// Label is how people read it: the arg as given, or the default.
	Label string
}

// defaultPeriod is the period of a report job that names none.
const defaultPeriod = "last 24h"

var (
	lastRe = regexp.MustCompile(`^last\s*([0-9]{1,5})\s*(h|hours?|d|days?|w|weeks?)$`)
	// The first and last instants a TIMESTAMP column holds.
	minPeriodTime = time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC)
	maxPeriodTime = time.Date(2038, 1, 19, 3, 14, 7, 0, time.UTC)
)

// parsePeriod resolves a period arg at now, dates being midnights in loc:
//
//   - "" is "last 24h";
//   - "last 24h", "last 7d", "last 2w" (also "last 3 days") end at now;
//   - "today" is from midnight to now, "yesterday" the day before today;
//   - "2026-11-01" is that day;
//   - "2026-11-01/2026-11-08" runs from the first date's midnight to the second's
//     (end exclusive: 7 days); either end may be an RFC 3339 instant instead.
func parsePeriod(s string, now time.Time, loc *time.Location) (period, error) {
	label := strings.TrimSpace(s)
	if label == "" {
		label = defaultPeriod
	}
	lower := strings.ToLower(label)
	p := period{Label: label}
	midnight := func(t time.Time) time.Time {
		t = t.In(loc)
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	}
	switch {
	case lower == "today":
		p.From, p.To = midnight(now), now
	case lower == "yesterday":
		today := midnight(now)
		p.From, p.To = midnight(today.Add(-12*time.Hour)), today
	case lastRe.MatchString(lower):
		m := lastRe.FindStringSubmatch(lower)
		n, _ := strconv.Atoi(m[1])
		if n == 0 {
			return period{}, fmt.Errorf("%q is empty: use at least 1", label)
		}
		unit := time.Hour
		switch m[2][0] {
		case 'd':
			unit = 24 * time.Hour
		case 'w':
			unit = 7 * 24 * time.Hour
		}
		p.From, p.To = now.Add(-time.Duration(n)*unit), now
	case strings.Contains(label, "/"):
		from, to, _ := strings.Cut(label, "/")
		if strings.TrimSpace(from) == "" || strings.TrimSpace(to) == "" {
			return period{}, fmt.Errorf("%q: a range needs a start and an end, as in 2026-11-01/2026-11-08", label)
		}
		var err error
		if p.From, err = parsePeriodEnd(strings.TrimSpace(from), loc); err != nil {
			return period{}, err
		}
		if p.To, err = parsePeriodEnd(strings.TrimSpace(to), loc); err != nil {
			return period{}, err
		}
	default:
		day, err := time.ParseInLocation(time.DateOnly, label, loc)
		if err != nil {
			return period{}, fmt.Errorf("%q: use \"last 24h\", \"last 7d\", \"today\", \"yesterday\", a date 2026-11-01 or a range 2026-11-01/2026-11-08 (dates or RFC 3339 instants, end exclusive)", label)
		}
		p.From, p.To = day, time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, loc)
	}
	p.From, p.To = p.From.UTC(), p.To.UTC()
	if !p.From.Before(p.To) {
		return period{}, fmt.Errorf("%q ends before it starts (the end is exclusive)", label)
	}
	if p.From.Before(minPeriodTime) || p.To.After(maxPeriodTime) {
		return period{}, fmt.Errorf("%q is outside 1970-01-01..2038-01-19, the range of the call data's timestamps", label)
	}
	return p, nil
}

func parsePeriodEnd(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a date (2026-11-01) nor an RFC 3339 instant (2026-11-01T08:00:00Z)", s)
}

// bucketer cuts time into hours or days of a zone.
type bucketer struct {
	granularity string // "hour" or "day"
	loc         *time.Location
}

// start is the start of the bucket holding t. Hours are cut on the local clock
// without time.Date, so the repeated hour when clocks go back is two buckets.
func (b bucketer) start(t time.Time) time.Time {
	t = t.In(b.loc)
	if b.granularity == "day" {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, b.loc)
	}
	return t.Add(-time.Duration(t.Minute())*time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
}

func (b bucketer) next(start time.Time) time.Time {
	if b.granularity == "day" {
		return time.Date(start.Year(), start.Month(), start.Day()+1, 0, 0, 0, 0, b.loc)
	}
	return start.Add(time.Hour)
}

// label is how a bucket is shown: "2026-11-03 11:00" or "2026-11-03".
func (b bucketer) label(start time.Time) string {
	if b.granularity == "day" {
		return start.In(b.loc).Format(time.DateOnly)
	}
	return start.In(b.loc).Format("2006-01-02 15:04")
}

// buckets lists the starts of the buckets that cover p, the first possibly starting
// before p.From.
func (b bucketer) buckets(p period) []time.Time {
	var starts []time.Time
	for t := b.start(p.From); t.Before(p.To); t = b.next(t) {
		starts = append(starts, t)
	}
	return starts
}

// index finds the bucket of t among starts (t within the period).
func bucketIndex(starts []time.Time, t time.Time) int {
	i := sort.Search(len(starts), func(i int) bool { return starts[i].After(t) })
	if i == 0 {
		return 0
	}
	return i - 1
}

// unit names a bucket in prose: "hour" or "day".
func (b bucketer) unit() string { return b.granularity }
