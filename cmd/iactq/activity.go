package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
)

// summaryEvery is how often, at most, a worker logs what its jobs did.
const summaryEvery = 10 * time.Second

// activityLog is what a worker says at the default log level besides its start, stop
// and troubles: a summary of the jobs that finished, at most every summaryEvery and
// only while jobs ran, and a line for each occurrence of a schedule. A completed job
// has a line of its own only at debug; each failure and discard is logged by the
// engine as it happens.
type activityLog struct {
	queue.NopObserver
	log       zerolog.Logger
	slas      map[string]queue.SLA
	schedules map[string]queue.Schedule
	// overdueWaiting counts the available jobs that are OVERDUE now.
	overdueWaiting func(ctx context.Context) (int64, error)
	now            func() time.Time

	mu      sync.Mutex
	since   time.Time                      // start of the period being counted
	byState map[queue.State]map[string]int // outcome -> kind -> jobs
	overdue int                            // jobs of the period that started OVERDUE
}

func newActivityLog(log zerolog.Logger, cfg queue.Config, overdueWaiting func(context.Context) (int64, error)) *activityLog {
	l := &activityLog{
		log:            log,
		slas:           cfg.SLAs,
		schedules:      map[string]queue.Schedule{},
		overdueWaiting: overdueWaiting,
		now:            time.Now,
	}
	for _, s := range cfg.Schedules {
		l.schedules[s.Name] = s
	}
	l.reset()
	return l
}

func (l *activityLog) reset() {
	l.since = l.now()
	l.byState = map[queue.State]map[string]int{}
	l.overdue = 0
}

// Finished counts the outcome, and logs the occurrence of a schedule that ended.
func (l *activityLog) Finished(job *queue.JobRow, state queue.State, wait, run time.Duration) {
	l.mu.Lock()
	kinds := l.byState[state]
	if kinds == nil {
		kinds = map[string]int{}
		l.byState[state] = kinds
	}
	kinds[job.Kind]++
	if state != queue.StateAvailable && l.sla(job.Kind).ClassAt(job.ScheduledAt, job.ScheduledAt.Add(wait)) == queue.ClassOverdue {
		l.overdue++
	}
	l.mu.Unlock()

	if job.ScheduleName != "" && (state == queue.StateCompleted || state == queue.StateDiscarded) {
		ev := l.log.Info().Str("schedule", job.ScheduleName).Int64("job_id", job.ID).Str("kind", job.Kind).
			Str("outcome", string(state)).Dur("duration", run)
		next := ""
		if s, ok := l.schedules[job.ScheduleName]; ok {
			if at, err := s.Next(later(l.now(), job.ScheduledAt)); err == nil {
				ev = ev.Time("next_at", at)
				next = "; next at " + at.Local().Format("15:04:05")
			}
		}
		ev.Msgf("schedule %s ran: job %d %s in %s%s", job.ScheduleName, job.ID, state, run.Round(time.Millisecond), next)
	}
}

// DiscardedUnknown counts jobs of a kind no live worker runs, discarded by the leader
// past unknown_kind_grace, with the other discards.
func (l *activityLog) DiscardedUnknown(_, kind string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byState[queue.StateDiscarded] == nil {
		l.byState[queue.StateDiscarded] = map[string]int{}
	}
	l.byState[queue.StateDiscarded][kind] += n
}

// Stopped counts an execution stopped from outside (an operator's cancel, a lost
// registration) under its cause: "cancelled", "lost".
func (l *activityLog) Stopped(job *queue.JobRow, cause error, _, _ time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	state := queue.State(queue.StopOutcome(cause))
	if l.byState[state] == nil {
		l.byState[state] = map[string]int{}
	}
	l.byState[state][job.Kind]++
}

func (l *activityLog) sla(kind string) queue.SLA {
	if s, ok := l.slas[kind]; ok {
		return s
	}
	if s, ok := l.slas["*"]; ok {
		return s
	}
	return queue.DefaultSLAs()["*"]
}

// run logs a summary every summaryEvery while jobs finished, and a last one when ctx
// ends.
func (l *activityLog) run(ctx context.Context) {
	t := time.NewTicker(summaryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			l.flush(ctx)
		}
	}
}

// flush logs the summary of the jobs finished since the last one, if any finished.
func (l *activityLog) flush(ctx context.Context) {
	l.mu.Lock()
	byState, overdue, since := l.byState, l.overdue, l.since
	if len(byState) == 0 {
		l.mu.Unlock()
		return // nothing ran: no line, and the period goes on
	}
	l.reset()
	l.mu.Unlock()
	period := l.now().Sub(since).Round(time.Second)
	ev := l.log.Info().Str("period", period.String()).Int("overdue_started", overdue)
	parts := []string{}
	type outcome struct {
		state       queue.State
		field, word string
		always      bool // said even when none
	}
	outcomes := []outcome{
		{queue.StateCompleted, "completed", "completed", true},
		{queue.StateRetryable, "retried", "retried", true},
		{queue.StateDiscarded, "discarded", "discarded", true},
		{queue.StateCancelled, "cancelled", "cancelled", false},
		{queue.StateAvailable, "released", "released at shutdown", false},
	}
	for _, st := range slices.Sorted(maps.Keys(byState)) { // any other outcome, by its name
		if !slices.ContainsFunc(outcomes, func(o outcome) bool { return o.state == st }) {
			outcomes = append(outcomes, outcome{st, string(st), string(st), false})
		}
	}
	for _, o := range outcomes {
		kinds := byState[o.state]
		total := 0
		for _, n := range kinds {
			total += n
		}
		if total == 0 {
			if o.always {
				parts = append(parts, "0 "+o.word)
			}
			continue
		}
		ev = ev.Interface(o.field, kinds)
		each := make([]string, 0, len(kinds))
		for _, k := range slices.Sorted(maps.Keys(kinds)) {
			each = append(each, fmt.Sprintf("%s %d", k, kinds[k]))
		}
		parts = append(parts, fmt.Sprintf("%d %s (%s)", total, o.word, strings.Join(each, ", ")))
	}
	msg := fmt.Sprintf("last %s: %s; %d started OVERDUE", period, strings.Join(parts, ", "), overdue)
	if l.overdueWaiting != nil {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := l.overdueWaiting(qctx)
		cancel()
		if err == nil {
			ev = ev.Int64("overdue_waiting", n)
			msg += fmt.Sprintf(", %d OVERDUE waiting", n)
		}
	}
	ev.Msg(msg)
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// wakeupLog says how idle workers will be woken, and why: by the binary log with the
// binlog DSN from binlogFrom (--binlog-dsn or IACTQ_BINLOG_DSN); by polling when that
// is "off" (queue.BinlogOff, any case); else, automatic, by the binary log with the
// worker's own DSN (Config.DSN) if the server and the user's grants allow, which the
// leader finds out when elected (it says why once if not), polling meanwhile.
func wakeupLog(log zerolog.Logger, cfg queue.Config, binlogFrom string) {
	switch b := strings.TrimSpace(cfg.BinlogDSN); {
	case strings.EqualFold(b, queue.BinlogOff):
		log.Info().Str("wakeup", "polling").Str("binlog_dsn", "off").Dur("poll_interval", cfg.PollInterval).
			Msgf("wake-ups: the leader polls every %s and rings the doorbell idle workers wait on, because %s=off: it does not try the binary log (unset it to try the worker's own DSN, or set it to a replication user's DSN to ring the moment a job is inserted)", cfg.PollInterval, binlogFrom)
	case b != "":
		log.Info().Str("wakeup", "binlog").Str("binlog_dsn", binlogFrom).Dur("poll_interval", cfg.PollInterval).
			Msgf("wake-ups: the leader follows the binary log, because %s is set, and rings the doorbell idle workers wait on the moment a job is inserted; while the log cannot be followed it polls every %s, warns and retries", binlogFrom, cfg.PollInterval)
	case cfg.DSN != "":
		log.Info().Str("wakeup", "automatic").Str("binlog_dsn", "worker's own").Dur("poll_interval", cfg.PollInterval).
			Msgf("wake-ups: no binary-log DSN is set, so the leader tries the binary log with the worker's own DSN: it rings the doorbell idle workers wait on the moment a job is inserted if the server (log_bin on, binlog_format=ROW) and the user's grants (REPLICATION SLAVE, and BINLOG MONITOR or REPLICATION CLIENT) allow, else it polls every %s and says why once ('iactq doctor' tells which ahead; IACTQ_BINLOG_DSN=off or --binlog-dsn=off polls without trying)", cfg.PollInterval)
	default: // a Config without the worker's DSN (Go API): nothing to try
		log.Info().Str("wakeup", "polling").Str("binlog_dsn", "none").Dur("poll_interval", cfg.PollInterval).
			Msgf("wake-ups: the leader polls every %s and rings the doorbell idle workers wait on, because no binary-log DSN is set (set IACTQ_BINLOG_DSN or --binlog-dsn to a replication user to ring the moment a job is inserted)", cfg.PollInterval)
	}
}
