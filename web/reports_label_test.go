package web

import "testing"

func TestFieldLabel(t *testing.T) {
	for name, want := range map[string]string{
		"abandon_rate_pct":     "abandon rate (%)",
		"avg_abandoned_wait_s": "avg abandoned wait (s)",
		"threshold_seconds":    "threshold (s)",
		"worst_hour":           "worst hour",
		"calls":                "calls",
	} {
		if got := fieldLabel(name); got != want {
			t.Errorf("fieldLabel(%q) = %q, want %q", name, got, want)
		}
	}
}
