package bench

import (
	"fmt"
	"io"
	"strings"
)

// Target is one of issue 13's targets next to what the run measured: the median the
// figures give, and whether it is met.
type Target struct {
	Target string `json:"target"` // what is asked, limit included: "... <= 10 ms"
	// Measured is the median the target is judged on; nil when it was not measured.
	Measured *float64 `json:"measured"`
	Unit     string   `json:"unit"`
	Result   string   `json:"result"` // "pass", "fail" or "not measured"
	Note     string   `json:"note,omitempty"`
}

// atMost records a target met when measured <= limit.
func (r *Report) atMost(what string, limit, measured float64, unit, note string) {
	r.judge(fmt.Sprintf("%s <= %s %s", what, num(limit), unit), measured <= limit, measured, unit, note)
}

// atLeast records a target met when measured >= limit.
func (r *Report) atLeast(what string, limit, measured float64, unit, note string) {
	r.judge(fmt.Sprintf("%s >= %s %s", what, num(limit), unit), measured >= limit, measured, unit, note)
}

func (r *Report) judge(target string, met bool, measured float64, unit, note string) {
	result := "fail"
	if met {
		result = "pass"
	}
	r.Targets = append(r.Targets, Target{Target: target, Measured: &measured, Unit: unit, Result: result, Note: note})
}

// notMeasured records a target the run could not measure, and why.
func (r *Report) notMeasured(target, why string) {
	r.Targets = append(r.Targets, Target{Target: target, Result: "not measured", Note: why})
}

// num prints a limit without a needless fraction: 1.5, 10, 0.5.
func num(x float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", x), "0"), ".")
}

func (r *Report) printTargets(w io.Writer) {
	if len(r.Targets) == 0 {
		return
	}
	width := len("target")
	for _, t := range r.Targets {
		width = max(width, len(t.Target))
	}
	fmt.Fprintf(w, "\ntargets (issue 13), each judged on the median:\n%-*s  %12s %-10s %s\n", width, "target", "measured", "", "result")
	for _, t := range r.Targets {
		measured := "-"
		if t.Measured != nil {
			measured = fmt.Sprintf("%.2f", *t.Measured)
		}
		line := fmt.Sprintf("%-*s  %12s %-10s %s", width, t.Target, measured, t.Unit, strings.ToUpper(t.Result))
		if t.Note != "" {
			line += "  (" + t.Note + ")"
		}
		fmt.Fprintln(w, line)
	}
}
