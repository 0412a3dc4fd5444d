package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/iact/iactq/queue"
)

// templateFuncs are the helpers every template may call.
var templateFuncs = template.FuncMap{
	"ago":      ago,
	"dur":      shortDuration,
	"ts":       func(t time.Time) string { return stamp(t) },
	"classcss": func(c queue.Class) string { return strings.ToLower(string(c)) },
	"lower":    strings.ToLower,
	"pct":      func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
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
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}
