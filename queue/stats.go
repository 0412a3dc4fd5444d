package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// Read-only statistics for the dashboard, /metrics, systemd's STATUS line and
// `iactq priorities --explain`. Every query reads bounded index ranges (sql/stats.sql).

// ClassStat is how many available jobs a class holds and the oldest one's first-due
// time (zero when there is none).
type ClassStat struct {
	Count  int64
	Oldest time.Time
}

// Backlog is the available jobs of one queue and kind, by SLA class at At.
type Backlog struct {
	Queue   string
	Kind    string
	At      time.Time
	Oldest  time.Time // the oldest available job's first-due time
	Classes map[Class]ClassStat
	// Capped is set when a class holds more jobs than the limit counted.
	Capped bool
}

// Total is the number of available jobs counted.
func (b Backlog) Total() int64 {
	var n int64
	for _, s := range b.Classes {
		n += s.Count
	}
	return n
}

// Backlog counts the available jobs of every queue and kind by SLA class (with the
// client's SLAs), counting at most limit jobs per class (default 100 000): a loose
// index scan for the kinds, then one bounded index range per kind and class. classes
// narrows the classes counted (nil: all three).
func (c *Client) Backlog(ctx context.Context, classes []Class, limit int) ([]Backlog, error) {
	if limit <= 0 {
		limit = 100_000
	}
	if classes == nil {
		classes = classOrder
	}
	heads, err := c.store.q.StatsHeads(ctx)
	if err != nil {
		return nil, fmt.Errorf("read backlog heads: %w", err)
	}
	now := c.now()
	out := make([]Backlog, 0, len(heads))
	for _, h := range heads {
		b := Backlog{Queue: h.Queue, Kind: h.Kind, At: now, Oldest: h.Oldest, Classes: map[Class]ClassStat{}}
		sla := slaFor(c.cfg.SLAs, h.Kind)
		for _, cl := range classes {
			from, to := sla.classRange(cl, now)
			if cl == ClassNormal {
				to = maxTime // jobs first due in the future (none, normally) count as NORMAL
			}
			if !h.Oldest.Before(to) {
				continue // the oldest is younger than this class: none in it
			}
			r, err := c.store.q.StatsClassRange(ctx, dbsqlc.StatsClassRangeParams{Queue: h.Queue, Kind: h.Kind, FromAt: from, ToAt: to, Limit: int32(limit)})
			if err != nil {
				return nil, fmt.Errorf("count %s jobs of %s in %s: %w", cl, h.Kind, h.Queue, err)
			}
			if r.N == 0 {
				continue
			}
			if r.N >= int64(limit) {
				b.Capped = true
			}
			b.Classes[cl] = ClassStat{Count: r.N, Oldest: anyTime(r.Oldest)}
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Queue != out[j].Queue {
			return out[i].Queue < out[j].Queue
		}
		return out[i].Kind < out[j].Kind
	})
	return out, nil
}

// maxTime is after any TIMESTAMP value.
var maxTime = time.Date(2038, 1, 19, 3, 14, 7, 0, time.UTC)

// StateCount is the number of jobs of one queue in one state.
type StateCount struct {
	State State
	Queue string
	N     int64
}

// CountByState counts every job by state and queue (a scan of the claim index's
// prefix: cache it when calling it often on a big table).
func (c *Client) CountByState(ctx context.Context) ([]StateCount, error) {
	rows, err := c.store.q.StatsCountByStateQueue(ctx)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	out := make([]StateCount, len(rows))
	for i, r := range rows {
		out[i] = StateCount{State: State(r.State), Queue: r.Queue, N: r.N}
	}
	return out, nil
}

// RecentFailures lists discarded jobs and jobs waiting to retry, most recent first.
func (c *Client) RecentFailures(ctx context.Context, limit int) ([]*JobRow, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := c.store.q.StatsRecentFailed(ctx, int32(limit))
	if err != nil {
		return nil, fmt.Errorf("list failed jobs: %w", err)
	}
	out := make([]*JobRow, len(rows))
	for i, r := range rows {
		out[i] = jobRowFromDB(r)
	}
	return out, nil
}

// Explanation says why a job is where it is in the claim order.
type Explanation struct {
	Job *JobRow
	// Priority is the job's row of iactq_priorities; nil once it is finished.
	Priority *Priority
	// Ahead counts, by class, the available jobs of its queue that workers claim first
	// (when the job is available).
	Ahead map[Class]int64
	// PausedAt is when its queue was paused; zero when it is not.
	PausedAt time.Time
	// Running is how many jobs of its queue run now; Concurrency is the sum of the
	// queue's concurrency over the live workers that serve it (Workers of them).
	Running     int64
	Concurrency int
	Workers     int
	// NoWorkerRunsKind: no live worker runs the job's kind; a waiting job is then
	// discarded at DiscardAt (after unknown_kind_grace, by this client's config)
	// unless a worker that runs it starts first.
	NoWorkerRunsKind bool
	DiscardAt        time.Time
}

// AheadTotal is the number of jobs claimed before this one.
func (e *Explanation) AheadTotal() int64 {
	var n int64
	for _, v := range e.Ahead {
		n += v
	}
	return n
}

// Explain gathers why job id is where it is in the claim order: its class, the jobs
// ahead of it, its queue's pause and concurrency, and when it becomes due.
func (c *Client) Explain(ctx context.Context, id int64) (*Explanation, error) {
	job, err := c.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	e := &Explanation{Job: job, Ahead: map[Class]int64{}}
	if !job.State.Finished() {
		p, err := c.store.q.StatsPriorityOf(ctx, id)
		if err == nil {
			e.Priority = &Priority{
				ID: p.ID, Kind: p.Kind, Queue: p.Queue, State: State(p.State), Attempt: int(p.Attempt),
				CreatedAt: p.CreatedAt, ScheduledAt: p.ScheduledAt, AgeSeconds: toInt64(p.AgeSeconds),
				SLASeconds: int64(p.SlaSeconds), Class: Class(p.PriorityClass), DueAt: p.DueAt,
			}
		} else if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("read priority of job %d: %w", id, err)
		}
	}
	if e.Priority != nil && job.State == StateAvailable {
		rows, err := c.store.q.StatsAhead(ctx, dbsqlc.StatsAheadParams{Queue: job.Queue, ID: id, Class: string(e.Priority.Class), ScheduledAt: job.ScheduledAt})
		if err != nil {
			return nil, fmt.Errorf("count jobs ahead of %d: %w", id, err)
		}
		for _, r := range rows {
			e.Ahead[Class(r.PriorityClass)] = r.N
		}
	}
	queues, err := c.ListQueues(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range queues {
		if q.Name == job.Queue {
			e.PausedAt = q.PausedAt
			e.Running = q.Counts[StateRunning]
		}
	}
	workers, err := c.Workers(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range workers {
		if w.Stale(c.now(), c.cfg.RescueAfter) {
			continue
		}
		if n := WorkerConcurrency(w.Queues)[job.Queue]; n > 0 {
			e.Workers++
			e.Concurrency += n
		}
	}
	if job.State != StateRunning && !job.State.Finished() {
		fleet, err := c.Fleet(ctx)
		if err != nil {
			return nil, err
		}
		if !fleet.RunsKind(job.Kind) {
			e.NoWorkerRunsKind = true
			since := later(job.ScheduledAt, job.AttemptedAt)
			if job.State != StateAvailable && !job.AvailableAt.IsZero() {
				since = later(since, job.AvailableAt)
			}
			e.DiscardAt = since.Add(max(c.cfg.UnknownKindGrace, 0))
		}
	}
	return e, nil
}

// WorkerConcurrency parses a worker's queues ("default=10,reports=4").
func WorkerConcurrency(queues string) map[string]int {
	out := map[string]int{}
	for _, part := range strings.Split(queues, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		if v, err := strconv.Atoi(n); err == nil {
			out[name] = v
		}
	}
	return out
}

// anyTime converts a time the driver returned as an untyped column.
func anyTime(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t
	case []byte:
		p, _ := time.Parse("2006-01-02 15:04:05.999999", string(t))
		return p
	case string:
		p, _ := time.Parse("2006-01-02 15:04:05.999999", t)
		return p
	}
	return time.Time{}
}

// anyString converts a string the driver returned as an untyped column.
func anyString(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
