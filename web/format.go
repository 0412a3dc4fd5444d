package web

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/iact/iactq/internal/human"
	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// templateFuncs are the helpers every template may call.
var templateFuncs = template.FuncMap{
	"ago":      ago,
	"dur":      shortDuration,
	"ts":       func(t time.Time) string { return stamp(t) },
	"classcss": func(c queue.Class) string { return strings.ToLower(string(c)) },
	"lower":    strings.ToLower,
	"add1":     func(i int) int { return i + 1 },
	"deref":    func(p *int) int { return *p },
	"clip": func(s string, n int) string {
		if r := []rune(s); len(r) > n {
			return string(r[:n-1]) + "…"
		}
		return s
	},
	"firstline": func(s string) string { first, _, _ := strings.Cut(s, "\n"); return first },
	// reportsubject tells whether a message is about a report job ("KIND job N ...").
	"reportsubject": func(subject string) bool {
		kind, _, _ := strings.Cut(subject, " ")
		return slices.Contains(jobs.ReportKinds, kind)
	},
	"pct": func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	"secs": func(v any) string {
		switch x := v.(type) {
		case float64:
			return shortDuration(time.Duration(x * float64(time.Second)))
		case int64:
			return shortDuration(time.Duration(x) * time.Second)
		}
		return ""
	},
}

// ---- formatting ----

func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := time.Since(t)
	if d < 0 {
		return "in " + shortDuration(-d)
	}
	return shortDuration(d) + " ago"
}

func shortDuration(d time.Duration) string {
	if d > -time.Second && d < time.Second && d != 0 {
		return fmt.Sprintf("%dms", (d%time.Second).Abs()/time.Millisecond)
	}
	return human.Duration(d)
}
