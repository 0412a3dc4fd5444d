package main

import (
	"encoding/json"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/iact/iactq/internal/human"
)

// newTable returns a tabwriter for a human table; Flush it.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// shortDuration writes d compactly, to two units: 45s, 12m, 1h05m, 3d4h.
func shortDuration(d time.Duration) string { return human.Duration(d) }

// relative says when t is from now: "3m ago", "in 4m", "now".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d > -time.Second && d < time.Second:
		return "now"
	case d > 0:
		return "in " + shortDuration(d)
	default:
		return shortDuration(d) + " ago"
	}
}

// localTime writes t in local time, or "-" for the zero time.
func localTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// when writes t in local time with how long ago or ahead it is.
func when(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return localTime(t) + " (" + relative(t, now) + ")"
}

// jsonTime is a time for JSON output: RFC 3339 in UTC, null when zero.
func jsonTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// parseID parses a job id argument.
func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("invalid job id %q: expected a positive integer", s)
	}
	return id, nil
}

// checkLimit rejects a --limit out of range.
func checkLimit(n int) error {
	if n < 1 || n > 100000 {
		return usagef("--limit %d is out of range 1..100000", n)
	}
	return nil
}
