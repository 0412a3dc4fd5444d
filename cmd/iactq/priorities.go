package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iact/iactq/queue"
)

func (a *app) prioritiesCmd() *cobra.Command {
	var asJSON, watch bool
	var limit int
	var explain int64
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "priorities [--json] [--watch] [--limit N] | --explain ID",
		Short: "Show waiting jobs by SLA class, in the order workers take them",
		Long: `priorities is the analysts' view of the queue: the jobs not yet finished, in the
order workers claim them, from the iactq_priorities view (which any SQL tool can
query too).

Each job's class comes from its age against its kind's SLA: OVERDUE once older than
the SLA, URGENT once older than the urgency threshold, NORMAL before that. Age
counts from when the job first became due; a retry does not reset it. SLA-LEFT is
the time until the job is overdue, or how long it has been overdue ("12m over").

Above the jobs, a summary per queue: available jobs per class, the oldest one's age,
and when the next job turns URGENT and OVERDUE as time passes.

--watch redraws in place every second (--every) until Ctrl-C, coloured by class
and cut to fit the terminal; when stdout is not a terminal it prints plain tables
one after another. --json prints a JSON array instead (with --watch, one per tick).

--explain ID says why a job is where it is: its class and due time, how many jobs
of each class workers take before it, whether its queue is paused, whether the
queue's workers are all busy, whether any worker serves its queue, and whether it
is due yet.`,
		Example: `  iactq priorities
  iactq priorities --limit 20 --watch
  iactq priorities --explain 1234
  iactq priorities --json | jq '.[] | select(.priority_class == "OVERDUE") | .id'`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			if every < 100*time.Millisecond {
				return usagef("--every %s is too short: at least 100ms", every)
			}
			if cmd.Flags().Changed("explain") && explain <= 0 {
				return usagef("invalid --explain %d: expected a job id", explain)
			}
			ctx := cmd.Context()
			c, db, err := a.client(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			out := cmd.OutOrStdout()
			if explain > 0 {
				e, err := c.Explain(ctx, explain)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(out, explainJSON(e, time.Now()))
				}
				writeExplanation(out, e, time.Now())
				return nil
			}
			tty := isTerminal(out)
			color := tty && a.getenv("NO_COLOR") == "" && a.getenv("TERM") != "dumb"
			draw := func() error {
				if asJSON {
					ps, err := c.Priorities(ctx, limit)
					if err != nil {
						return err
					}
					return writeJSON(out, ps)
				}
				backlog, err := c.Backlog(ctx, nil, 100_000)
				if err != nil {
					return err
				}
				fleet, err := c.Fleet(ctx)
				if err != nil {
					return err
				}
				var stranded bytes.Buffer
				writeStranded(&stranded, backlog, fleet, c.Config().UnknownKindGrace)
				var b bytes.Buffer
				n := limit
				width := 0
				if watch && tty {
					cols, rows := terminalSize(out)
					width = cols
					// Leave room for the clock line, the warnings, the summary and the
					// table header.
					if rows > 0 {
						n = min(n, max(rows-12-bytes.Count(stranded.Bytes(), []byte("\n")), 3))
					}
				}
				ps, err := c.Priorities(ctx, n)
				if err != nil {
					return err
				}
				if watch {
					fmt.Fprintf(&b, "%s  every %s, Ctrl-C to stop\n", time.Now().Format("15:04:05"), every)
				}
				writeClassCounts(&b, ps, n)
				b.Write(stranded.Bytes())
				writeBacklogSummary(&b, backlog, c.Config().SLAs, time.Now(), color)
				b.WriteString("\n")
				writePriorityTable(&b, ps, color, width, fleet.Workers > 0)
				if watch && tty {
					// Home, draw over the previous frame, clear what is left of it. No
					// line may be wider than the terminal: a wrapped line would scroll.
					lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
					for i, l := range lines {
						lines[i] = cutVisible(l, width) + "\x1b[K\n"
					}
					frame := strings.Join(lines, "")
					_, err = io.WriteString(out, "\x1b[H"+frame+"\x1b[J")
					return err
				}
				if watch {
					b.WriteString("\n")
				}
				_, err = out.Write(b.Bytes())
				return err
			}
			if !watch {
				return draw()
			}
			if tty && !asJSON {
				fmt.Fprint(out, "\x1b[?25l\x1b[2J") // hide the cursor, clear once
				defer fmt.Fprint(out, "\x1b[?25h")
			}
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				if err := draw(); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				select {
				case <-ctx.Done():
					return nil
				case <-tick.C:
				}
			}
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&watch, "watch", false, "redraw until Ctrl-C")
	cmd.Flags().DurationVar(&every, "every", time.Second, "with --watch, how often to redraw")
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most N jobs")
	cmd.Flags().Int64Var(&explain, "explain", 0, "say why job ID is where it is in the order")
	return cmd
}

// ANSI colours of the classes.
var classColor = map[queue.Class]string{
	queue.ClassOverdue: "\x1b[1;31m",
	queue.ClassUrgent:  "\x1b[33m",
	queue.ClassNormal:  "\x1b[32m",
}

const colorReset = "\x1b[0m"

func paint(s string, c queue.Class, color bool) string {
	if !color {
		return s
	}
	return classColor[c] + s + colorReset
}

func slaOf(slas map[string]queue.SLA, kind string) queue.SLA {
	if s, ok := slas[kind]; ok {
		return s
	}
	if s, ok := slas["*"]; ok {
		return s
	}
	return queue.DefaultSLAs()["*"]
}

// queueSummary is one queue's line of the summary.
type queueSummary struct {
	name          string
	counts        map[queue.Class]int64
	oldest        time.Time
	nextUrgent    time.Duration // -1: no NORMAL job
	nextOverdue   time.Duration // -1: no NORMAL or URGENT job
	capped        bool
	nextOverdueOK bool
	nextUrgentOK  bool
}

func summarize(backlog []queue.Backlog, slas map[string]queue.SLA, now time.Time) []*queueSummary {
	byName := map[string]*queueSummary{}
	var out []*queueSummary
	for _, b := range backlog {
		q := byName[b.Queue]
		if q == nil {
			q = &queueSummary{name: b.Queue, counts: map[queue.Class]int64{}}
			byName[b.Queue] = q
			out = append(out, q)
		}
		q.capped = q.capped || b.Capped
		for cl, st := range b.Classes {
			q.counts[cl] += st.Count
		}
		if q.oldest.IsZero() || b.Oldest.Before(q.oldest) {
			q.oldest = b.Oldest
		}
		sla := slaOf(slas, b.Kind)
		if st, ok := b.Classes[queue.ClassNormal]; ok && st.Count > 0 {
			d := st.Oldest.Add(sla.Urgent).Sub(now)
			if !q.nextUrgentOK || d < q.nextUrgent {
				q.nextUrgent, q.nextUrgentOK = d, true
			}
		}
		// The next to turn OVERDUE is the oldest URGENT job, else the oldest NORMAL one.
		for _, cl := range []queue.Class{queue.ClassUrgent, queue.ClassNormal} {
			if st, ok := b.Classes[cl]; ok && st.Count > 0 {
				d := st.Oldest.Add(sla.Deadline).Sub(now)
				if !q.nextOverdueOK || d < q.nextOverdue {
					q.nextOverdue, q.nextOverdueOK = d, true
				}
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// writeBacklogSummary writes, per queue, the available jobs by class, the oldest
// one's age and when the next job changes class.
func writeBacklogSummary(w io.Writer, backlog []queue.Backlog, slas map[string]queue.SLA, now time.Time, color bool) {
	qs := summarize(backlog, slas, now)
	if len(qs) == 0 {
		fmt.Fprintln(w, "no jobs available")
		return
	}
	rows := [][]cell{{{text: "QUEUE"}, {text: "OVERDUE"}, {text: "URGENT"}, {text: "NORMAL"}, {text: "OLDEST"}, {text: "NEXT URGENT"}, {text: "NEXT OVERDUE"}}}
	for _, q := range qs {
		plus := ""
		if q.capped {
			plus = "+"
		}
		count := func(cl queue.Class) cell {
			if q.counts[cl] == 0 {
				return cell{text: "0"}
			}
			return cell{text: fmt.Sprintf("%d%s", q.counts[cl], plus), color: classColor[cl]}
		}
		next := func(d time.Duration, ok bool) cell {
			switch {
			case !ok:
				return cell{text: "-"}
			case d <= 0:
				return cell{text: "now"}
			}
			return cell{text: "in " + shortDuration(d)}
		}
		rows = append(rows, []cell{{text: q.name}, count(queue.ClassOverdue), count(queue.ClassUrgent), count(queue.ClassNormal),
			{text: shortDuration(now.Sub(q.oldest))}, next(q.nextUrgent, q.nextUrgentOK), next(q.nextOverdue, q.nextOverdueOK)})
	}
	_ = writeColorTable(w, rows, color)
}

// writeClassCounts writes how many of the listed jobs each class holds.
func writeClassCounts(w io.Writer, ps []queue.Priority, limit int) {
	counts := map[queue.Class]int{}
	for _, p := range ps {
		counts[p.Class]++
	}
	more := ""
	if len(ps) == limit {
		more = fmt.Sprintf("  (first %d; --limit shows more)", limit)
	}
	fmt.Fprintf(w, "OVERDUE %d  URGENT %d  NORMAL %d%s\n", counts[queue.ClassOverdue], counts[queue.ClassUrgent], counts[queue.ClassNormal], more)
}

// writePriorityTable writes the jobs in claim order, coloured by class and cut to
// width when asked. With notes, jobs no live worker can take say why.
func writePriorityTable(w io.Writer, ps []queue.Priority, color bool, width int, notes bool) {
	if len(ps) == 0 {
		fmt.Fprintln(w, "no jobs waiting")
		return
	}
	var buf bytes.Buffer
	tw := newTable(&buf)
	// A NOTE column only when some job waits for a worker that is not there.
	notes = notes && slices.ContainsFunc(ps, func(p queue.Priority) bool { return p.NoWorkerRunsKind || p.NoWorkerServesQueue })
	header := "ID\tKIND\tQUEUE\tSTATE\tCLASS\tAGE\tSLA-LEFT"
	if notes {
		header += "\tNOTE"
	}
	fmt.Fprintln(tw, header)
	for _, p := range ps {
		age := shortDuration(time.Duration(p.AgeSeconds) * time.Second)
		if p.DueInSeconds > 0 {
			age = "due in " + shortDuration(time.Duration(p.DueInSeconds)*time.Second)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s", p.ID, p.Kind, p.Queue, p.State, p.Class,
			age, slaLeft(p.SLALeftSeconds))
		if notes {
			fmt.Fprintf(tw, "\t%s", priorityNote(p))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	// Colour and cut after alignment, so escape codes do not upset the columns.
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	for i, line := range lines {
		line = cutToWidth(line, width)
		if i > 0 && color {
			line = paint(line, ps[i-1].Class, true)
		}
		fmt.Fprintln(w, line)
	}
}

// priorityNote says why no live worker can take a waiting job, if none can.
func priorityNote(p queue.Priority) string {
	var notes []string
	if p.NoWorkerRunsKind {
		notes = append(notes, "no worker runs kind")
	}
	if p.NoWorkerServesQueue {
		notes = append(notes, "no worker serves queue")
	}
	return strings.Join(notes, "; ")
}

// writeStranded warns of available jobs no live worker takes: of a kind no live
// worker runs (discarded after grace), or in a queue no live worker serves.
func writeStranded(w io.Writer, backlog []queue.Backlog, fleet *queue.Fleet, grace time.Duration) {
	if len(backlog) == 0 {
		return
	}
	if fleet.Workers == 0 {
		fmt.Fprintln(w, "! no live worker: nothing is claimed until one starts ('iactq work')")
		return
	}
	kinds := map[string]int64{}
	queues := map[string]int64{}
	for _, b := range backlog {
		if !fleet.RunsKind(b.Kind) {
			kinds[b.Kind] += b.Total()
		}
		if !fleet.ServesQueue(b.Queue) {
			queues[b.Queue] += b.Total()
		}
	}
	after := "after unknown_kind_grace (" + shortDuration(max(grace, 0)) + ")"
	if grace <= 0 {
		after = "at once (unknown_kind_grace 0)"
	}
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		fmt.Fprintf(w, "! %d job(s) of kind %s wait: no live worker runs it; deploy a worker that does, or they are discarded %s\n", kinds[k], k, after)
	}
	served := "none"
	if names := fleet.QueueNames(); len(names) > 0 {
		served = strings.Join(names, ", ")
	}
	for _, q := range slices.Sorted(maps.Keys(queues)) {
		fmt.Fprintf(w, "! %d job(s) wait in queue %s: no live worker serves it (live workers serve: %s); start one with 'iactq work --queues %s=N'\n", queues[q], q, served, q)
	}
}

// slaLeft writes the seconds left before a job is overdue: "1h05m", or "12m over".
func slaLeft(sec int64) string {
	d := time.Duration(sec) * time.Second
	if sec < 0 {
		return shortDuration(d) + " over"
	}
	return shortDuration(d)
}

// writeExplanation says in words why a job is where it is in the claim order.
func writeExplanation(w io.Writer, e *queue.Explanation, now time.Time) {
	j := e.Job
	fmt.Fprintf(w, "job %d (%s, queue %s) is %s", j.ID, j.Kind, j.Queue, j.State)
	if j.State.Finished() {
		fmt.Fprintf(w, " since %s: it is no longer in the order.\n", when(j.FinishedAt, now))
		if j.State != queue.StateCancelled {
			fmt.Fprintf(w, "  'iactq jobs retry %d' puts it back as a new request.\n", j.ID)
		}
		return
	}
	fmt.Fprintln(w, ".")
	for _, line := range explainLines(e, now) {
		fmt.Fprintln(w, "  - "+line)
	}
}

func explainLines(e *queue.Explanation, now time.Time) []string {
	j, p := e.Job, e.Priority
	var out []string
	if p != nil {
		due := "due since " + localTime(j.ScheduledAt)
		if j.ScheduledAt.After(now) { // enqueued for later: its age counts from then
			due = fmt.Sprintf("due at %s (%s)", localTime(j.ScheduledAt), relative(j.ScheduledAt, now))
		}
		line := fmt.Sprintf("class %s: %s, age %s against an SLA of %s", p.Class, due,
			shortDuration(time.Duration(p.AgeSeconds)*time.Second), shortDuration(time.Duration(p.SLASeconds)*time.Second))
		if p.AgeSeconds > p.SLASeconds {
			line += fmt.Sprintf(" (overdue by %s)", shortDuration(time.Duration(p.AgeSeconds-p.SLASeconds)*time.Second))
		} else {
			line += fmt.Sprintf(" (overdue %s)", relative(p.DueAt, now))
		}
		out = append(out, line)
	}
	switch j.State {
	case queue.StateRunning:
		out = append(out, fmt.Sprintf("running: attempt %d of %d started %s on worker %d", j.Attempt, j.MaxAttempts, relative(j.AttemptedAt, now), j.ClaimedBy))
		return out
	case queue.StateScheduled, queue.StateRetryable:
		what := "scheduled"
		if j.State == queue.StateRetryable {
			what = fmt.Sprintf("waiting to retry after attempt %d of %d", j.Attempt, j.MaxAttempts)
		}
		out = append(out, fmt.Sprintf("not due yet: %s; it becomes available %s, then takes its place by age", what, when(j.AvailableAt, now)))
	case queue.StateAvailable:
		ahead := e.AheadTotal()
		switch {
		case ahead == 0 && (e.NoWorkerRunsKind || e.Workers == 0):
			out = append(out, "first in line in its queue")
		case ahead == 0:
			out = append(out, "first in line in its queue: the next free slot takes it")
		default:
			var parts []string
			for _, cl := range []queue.Class{queue.ClassOverdue, queue.ClassUrgent, queue.ClassNormal} {
				if n := e.Ahead[cl]; n > 0 {
					parts = append(parts, fmt.Sprintf("%d %s", n, cl))
				}
			}
			out = append(out, fmt.Sprintf("%d jobs of queue %s are taken before it: %s (more urgent classes first, then older jobs of its class)",
				ahead, j.Queue, strings.Join(parts, ", ")))
		}
	}
	if e.NoWorkerRunsKind {
		line := fmt.Sprintf("no live worker runs kind %s: it waits for a worker that does", j.Kind)
		if j.State == queue.StateAvailable {
			line += fmt.Sprintf("; unless one starts, it is discarded %s (unknown_kind_grace)", when(e.DiscardAt, now))
		}
		out = append(out, line)
	}
	if !e.PausedAt.IsZero() {
		out = append(out, fmt.Sprintf("queue %s is PAUSED since %s: nothing of it is claimed until 'iactq queues resume %s'", j.Queue, localTime(e.PausedAt), j.Queue))
	}
	switch {
	case e.Workers == 0:
		out = append(out, fmt.Sprintf("no live worker serves queue %s: start one with 'iactq work --queues %s=N'", j.Queue, j.Queue))
	case e.Running >= int64(e.Concurrency):
		out = append(out, fmt.Sprintf("concurrency limit reached: %d jobs of queue %s run, the limit over its %d worker(s) is %d; it waits for a slot",
			e.Running, j.Queue, e.Workers, e.Concurrency))
	default:
		out = append(out, fmt.Sprintf("queue %s has free slots: %d running of %d over %d worker(s)", j.Queue, e.Running, e.Concurrency, e.Workers))
	}
	return out
}

func explainJSON(e *queue.Explanation, now time.Time) map[string]any {
	ahead := map[string]int64{}
	for cl, n := range e.Ahead {
		ahead[string(cl)] = n
	}
	m := map[string]any{
		"id": e.Job.ID, "kind": e.Job.Kind, "queue": e.Job.Queue, "state": e.Job.State,
		"ahead": ahead, "ahead_total": e.AheadTotal(), "queue_paused": !e.PausedAt.IsZero(),
		"running": e.Running, "concurrency": e.Concurrency, "workers": e.Workers,
		"available_at": jsonTime(e.Job.AvailableAt), "reasons": explainLines(e, now),
		"no_worker_runs_kind": e.NoWorkerRunsKind, "no_worker_serves_queue": e.Workers == 0,
	}
	if e.NoWorkerRunsKind {
		m["discard_at"] = jsonTime(e.DiscardAt)
	}
	if e.Priority != nil {
		m["priority_class"] = e.Priority.Class
		m["due_at"] = jsonTime(e.Priority.DueAt)
		m["age_seconds"] = e.Priority.AgeSeconds
		m["sla_seconds"] = e.Priority.SLASeconds
	}
	return m
}
