package chaos

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// jobRow is what the checks read of a job.
type jobRow struct {
	ID           int64
	State        string
	Attempt      int
	MaxAttempts  int
	Errors       []jobError
	RequestedBy  string
	ScheduleName string
	Messages     int // internal_messages rows about it
}

type jobError struct {
	Attempt int    `json:"attempt"`
	At      string `json:"at"`
	Error   string `json:"error"`
}

// rescueMark is in the error the engine records for an attempt whose worker was
// declared dead (queue.Client.Rescue).
const rescueMark = "stopped heart-beating"

func (j *jobRow) errorOf(attempt int) (jobError, bool) {
	for _, e := range j.Errors {
		if e.Attempt == attempt {
			return e, true
		}
	}
	return jobError{}, false
}

func (j *jobRow) rescued(attempt int) bool {
	e, ok := j.errorOf(attempt)
	return ok && strings.Contains(e.Error, rescueMark)
}

// loadJobs reads every job with its message count.
func loadJobs(ctx context.Context, db *sql.DB) (map[int64]*jobRow, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT j.id, j.state, j.attempt, j.max_attempts, j.errors,
		       COALESCE(j.requested_by, ''), COALESCE(j.schedule_name, ''),
		       (SELECT COUNT(*) FROM internal_messages m WHERE m.job_id = j.id)
		FROM iactq_jobs j`)
	if err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	defer rows.Close()
	out := map[int64]*jobRow{}
	for rows.Next() {
		var j jobRow
		var errs []byte
		if err := rows.Scan(&j.ID, &j.State, &j.Attempt, &j.MaxAttempts, &errs, &j.RequestedBy, &j.ScheduleName, &j.Messages); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(errs, &j.Errors); err != nil {
			return nil, fmt.Errorf("job %d errors %q: %w", j.ID, errs, err)
		}
		out[j.ID] = &j
	}
	return out, rows.Err()
}

// overlapAllowed says whether earlier, still running when later started, is an
// allowed overlap (a zombie's late run) rather than a double execution.
type overlapAllowed func(earlier, later execution, job *jobRow) bool

// checkOverlaps counts jobs executed in two places at once: Double for those no
// rule allows, Zombie for the allowed ones. Failures carry up to 5 examples.
func checkOverlaps(r *Result, execs []execution, jobs map[int64]*jobRow, allowed overlapAllowed) {
	byJob := map[int64][]execution{}
	for _, x := range execs {
		byJob[x.JobID] = append(byJob[x.JobID], x)
	}
	var examples []string
	for id, xs := range byJob {
		sort.Slice(xs, func(i, k int) bool { return xs[i].Start.Before(xs[k].Start) })
		double, zombie := false, false
		for k := 1; k < len(xs); k++ {
			for i := 0; i < k; i++ {
				if !xs[k].Start.Before(xs[i].End) {
					continue
				}
				if allowed != nil && jobs[id] != nil && allowed(xs[i], xs[k], jobs[id]) {
					zombie = true
					continue
				}
				double = true
				if len(examples) < 5 {
					examples = append(examples, fmt.Sprintf("job %d: %s and %s", id, describe(xs[i]), describe(xs[k])))
				}
			}
		}
		if double {
			r.Double++
		} else if zombie {
			r.Zombie++
		}
	}
	if r.Double > 0 {
		r.fail("%d jobs ran in two places at once, e.g.\n%s", r.Double, strings.Join(examples, "\n"))
	}
}

func describe(x execution) string {
	res := "ok"
	if x.Err != nil {
		res = "err " + abbreviate(*x.Err, 60)
	}
	return fmt.Sprintf("[attempt %d pid %d %s..%s %s]", x.Attempt, x.WorkerPID, x.Start.Format("15:04:05.000000"), x.End.Format("15:04:05.000000"), res)
}

func abbreviate(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// checkFencing compares the journal with the final rows: the database's outcome of
// every job must come from the execution of its last attempt, and an attempt the
// engine rescued must have belonged to a worker that was really dead (dead reports
// whether pid was killed or paused when the execution ran).
func checkFencing(r *Result, execs []execution, jobs map[int64]*jobRow, dead func(x execution) bool) {
	byAttempt := map[int64]map[int][]execution{}
	for _, x := range execs {
		if byAttempt[x.JobID] == nil {
			byAttempt[x.JobID] = map[int][]execution{}
		}
		byAttempt[x.JobID][x.Attempt] = append(byAttempt[x.JobID][x.Attempt], x)
	}
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	for id, j := range jobs {
		runs := byAttempt[id]
		for attempt, xs := range runs {
			if attempt > j.Attempt {
				add("job %d: the journal has attempt %d (%s) but the database's last attempt is %d: a late outcome won", id, attempt, describe(xs[0]), j.Attempt)
			}
		}
		if j.State == "completed" {
			final := runs[j.Attempt]
			switch {
			case len(final) == 0:
				add("job %d completed at attempt %d, which no journal shows", id, j.Attempt)
			case len(final) > 1:
				add("job %d: attempt %d ran %d times", id, j.Attempt, len(final))
			case final[0].Err != nil:
				add("job %d completed at attempt %d, but that execution failed: %s", id, j.Attempt, abbreviate(*final[0].Err, 80))
			}
		}
		for _, e := range j.Errors {
			xs := runs[e.Attempt]
			if strings.Contains(e.Error, rescueMark) {
				for _, x := range xs {
					if dead != nil && !dead(x) {
						add("job %d: attempt %d was rescued from worker pid %d, which was neither killed nor paused", id, e.Attempt, x.WorkerPID)
					}
				}
				continue
			}
			if len(xs) == 0 {
				add("job %d: the database records a failure of attempt %d that no journal shows (%s)", id, e.Attempt, abbreviate(e.Error, 60))
				continue
			}
			if xs[0].Err == nil {
				add("job %d: the database records a failure of attempt %d, whose execution succeeded (%s)", id, e.Attempt, describe(xs[0]))
			}
		}
		if j.State == "discarded" {
			if e, ok := j.errorOf(j.Attempt); !ok {
				add("job %d discarded without an error for its last attempt %d", id, j.Attempt)
			} else if !strings.Contains(e.Error, rescueMark) && len(runs[j.Attempt]) == 0 {
				add("job %d discarded by attempt %d, which no journal shows", id, j.Attempt)
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		r.fail("%d fencing/journal mismatches, e.g.\n%s", len(problems), strings.Join(problems[:min(8, len(problems))], "\n"))
	}
}

// checkMessages: every job with requested_by has exactly one internal message.
func checkMessages(r *Result, jobs map[int64]*jobRow) {
	var bad []string
	n := 0
	for id, j := range jobs {
		if j.RequestedBy == "" {
			continue
		}
		n++
		if j.Messages != 1 && (j.State == "completed" || j.State == "discarded") {
			bad = append(bad, fmt.Sprintf("job %d (%s): %d messages", id, j.State, j.Messages))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		r.fail("%d requested jobs without exactly one message, e.g. %s", len(bad), strings.Join(bad[:min(5, len(bad))], "; "))
	}
	r.note("%d requested jobs, each with exactly one message: %v", n, len(bad) == 0)
}

// checkFinal counts Lost and Stuck among the expected jobs: want maps each job id
// to the final state its args dictate.
func checkFinal(r *Result, jobs map[int64]*jobRow, want map[int64]string) {
	var lost, stuck []string
	for id, state := range want {
		j, ok := jobs[id]
		switch {
		case !ok:
			lost = append(lost, fmt.Sprintf("job %d is missing", id))
		case j.State == "running":
			stuck = append(stuck, fmt.Sprintf("job %d running (attempt %d)", id, j.Attempt))
		case j.State != state:
			lost = append(lost, fmt.Sprintf("job %d is %s (attempt %d), want %s", id, j.State, j.Attempt, state))
		}
	}
	r.Lost, r.Stuck = len(lost), len(stuck)
	sort.Strings(lost)
	sort.Strings(stuck)
	if len(lost) > 0 {
		r.fail("lost: %s", strings.Join(lost[:min(5, len(lost))], "; "))
	}
	if len(stuck) > 0 {
		r.fail("stuck: %s", strings.Join(stuck[:min(5, len(stuck))], "; "))
	}
}

// jobErrorsMentioning counts jobs whose recorded errors contain any of needles.
func jobErrorsMentioning(jobs map[int64]*jobRow, needles ...string) (int, string) {
	n, example := 0, ""
	for id, j := range jobs {
		for _, e := range j.Errors {
			hit := false
			for _, s := range needles {
				if strings.Contains(strings.ToLower(e.Error), strings.ToLower(s)) {
					hit = true
				}
			}
			if hit {
				n++
				if example == "" {
					example = fmt.Sprintf("job %d attempt %d: %s", id, e.Attempt, abbreviate(e.Error, 100))
				}
				break
			}
		}
	}
	return n, example
}

// since is a short duration for notes.
func since(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }
