package chaos

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is the outcome of one scenario: the row of the summary table plus what
// went wrong, if anything.
type Result struct {
	Scenario string
	Jobs     int // jobs the scenario enqueued (and expects a final state for)
	Faults   int // faults injected
	// FaultDetail says which, e.g. "9 SIGKILL, 1 SIGSTOP".
	FaultDetail string
	// Lost counts jobs not in the final state their args dictate (missing, left
	// waiting, or finished the wrong way).
	Lost int
	// Double counts jobs that executed in two places at once, the allowed overlap of
	// a paused worker's late execution with its rescuer's re-run excepted (Zombie).
	Double int
	// Zombie counts the allowed overlaps: a worker declared dead while paused ran
	// on after SIGCONT while another worker re-ran the job; its late outcome must not
	// have been recorded (checked, and reported in Failures otherwise).
	Zombie int
	// Repeated counts jobs executed again after a fault lost a finished run's outcome
	// (not at the same time): allowed by at-least-once, shown next to Double.
	Repeated int
	// Stuck counts jobs left running (or never finished) at the end.
	Stuck    int
	Elapsed  time.Duration
	Notes    []string // measurements worth showing (deadlocks seen, reconnects, ...)
	Failures []string // failed checks, each a sentence with evidence
}

// Passed tells whether every check of the scenario held.
func (r *Result) Passed() bool {
	return r.Lost == 0 && r.Double == 0 && r.Stuck == 0 && len(r.Failures) == 0
}

func (r *Result) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// WriteTable prints the summary table of rs, then each scenario's notes and failures.
func WriteTable(w io.Writer, rs []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tjobs\tfaults injected\tlost\tdouble-executed\tstuck\tresult\ttime")
	for _, r := range rs {
		result := "PASS"
		if !r.Passed() {
			result = "FAIL"
		}
		faults := fmt.Sprint(r.Faults)
		if r.FaultDetail != "" {
			faults += " (" + r.FaultDetail + ")"
		}
		double := fmt.Sprint(r.Double)
		if r.Zombie > 0 {
			double += fmt.Sprintf(" (+%d zombie, fenced)", r.Zombie)
		}
		if r.Repeated > 0 {
			double += fmt.Sprintf(" (+%d repeated, at-least-once)", r.Repeated)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%d\t%s\t%s\n", r.Scenario, r.Jobs, faults, r.Lost, double, r.Stuck, result, r.Elapsed.Round(time.Second))
	}
	_ = tw.Flush()
	for _, r := range rs {
		if len(r.Notes) == 0 && len(r.Failures) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", r.Scenario)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
		for _, f := range r.Failures {
			fmt.Fprintf(w, "  FAIL %s\n", strings.ReplaceAll(f, "\n", "\n       "))
		}
	}
}
