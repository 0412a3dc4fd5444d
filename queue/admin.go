package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/iact/iactq/internal/dberr"
	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// The operator's view of the queue: what the CLI and the dashboard show and change.

// GetJob returns one job.
func (c *Client) GetJob(ctx context.Context, id int64) (*JobRow, error) {
	j, err := c.store.q.JobGet(ctx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get job %d: %w", id, err)
	}
	return jobRowFromDB(j), nil
}

// JobFilter selects jobs to list; empty fields match everything.
type JobFilter struct {
	State State
	Kind  string
	Queue string
	Limit int // default 50
}

// ListJobs lists jobs, newest first.
func (c *Client) ListJobs(ctx context.Context, f JobFilter) ([]*JobRow, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	p := dbsqlc.JobListParams{Kind: nullString(f.Kind), Queue: nullString(f.Queue), Limit: int32(f.Limit)}
	if f.State != "" {
		p.State = dbsqlc.NullIactqJobsState{IactqJobsState: dbsqlc.IactqJobsState(f.State), Valid: true}
	}
	rows, err := c.store.q.JobList(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	jobs := make([]*JobRow, len(rows))
	for i, r := range rows {
		jobs[i] = jobRowFromDB(r)
	}
	return jobs, nil
}

// CancelJob cancels a job that has not finished. A running job's worker stops it
// within a second or so; its outcome is then ignored.
func (c *Client) CancelJob(ctx context.Context, id int64) (*JobRow, error) {
	var job *JobRow
	err := c.store.inTx(ctx, nil, func(tx dbTx) error {
		var err error
		if job, err = lockJob(ctx, tx, id); err != nil {
			return err
		}
		if job.State.Finished() {
			return fmt.Errorf("job %d is already %s: %w", id, job.State, ErrConflict)
		}
		if _, err := tx.JobCancel(ctx, dbsqlc.JobCancelParams{Now: nullTime(c.now()), ID: id}); err != nil {
			return err
		}
		job.State = StateCancelled
		if job.RequestedBy != "" {
			subject, body := outcomeMessage(job, StateCancelled, nil, "cancelled by an operator")
			return insertMessage(ctx, tx, job.RequestedBy, subject, body, id)
		}
		return nil
	})
	return job, err
}

// lockJob reads a job and locks its row until the transaction ends.
func lockJob(ctx context.Context, tx dbTx, id int64) (*JobRow, error) {
	j, err := tx.JobGetForUpdate(ctx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("lock job %d: %w", id, err)
	}
	return jobRowFromDB(j), nil
}

// ErrConflict is returned for an action the job's state does not allow.
var ErrConflict = errors.New("not possible in this state")

// RetryJob makes a finished (or waiting) job available again now, as a new request:
// its SLA clock restarts, and it gets at least one more attempt.
func (c *Client) RetryJob(ctx context.Context, id int64) (*JobRow, error) {
	var job *JobRow
	err := c.store.inTx(ctx, nil, func(tx dbTx) error {
		var err error
		if job, err = lockJob(ctx, tx, id); err != nil {
			return err
		}
		if job.State == StateRunning || job.State == StateAvailable {
			return fmt.Errorf("job %d is %s: %w", id, job.State, ErrConflict)
		}
		// Cancelled while running: its worker stops it within a second or two (and
		// its late writes are fenced off by the attempt), but a retry right away
		// could briefly run it twice.
		if job.ClaimedBy != 0 && c.now().Sub(job.FinishedAt) < 10*time.Second {
			return fmt.Errorf("job %d is still being stopped by worker %d; try again in a few seconds: %w", id, job.ClaimedBy, ErrConflict)
		}
		n, err := tx.JobRetry(ctx, dbsqlc.JobRetryParams{Now: c.now(), ID: id})
		if err != nil {
			if dberr.IsDuplicate(err) {
				return fmt.Errorf("job %d: another live job holds its unique key %q: %w", id, job.UniqueKey, ErrConflict)
			}
			return err
		}
		if n == 0 {
			return fmt.Errorf("job %d: %w", id, ErrConflict)
		}
		j, err := tx.JobGet(ctx, id)
		job = jobRowFromDB(j)
		return err
	})
	return job, err
}

// QueueInfo is a queue with its job counts by state.
type QueueInfo struct {
	Name     string
	PausedAt time.Time
	Counts   map[State]int64
}

// ListQueues lists every queue that has jobs or was paused.
func (c *Client) ListQueues(ctx context.Context) ([]QueueInfo, error) {
	counts, err := c.store.q.JobCountByQueueState(ctx)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	known, err := c.store.q.QueueList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	byName := map[string]*QueueInfo{}
	get := func(name string) *QueueInfo {
		if q, ok := byName[name]; ok {
			return q
		}
		q := &QueueInfo{Name: name, Counts: map[State]int64{}}
		byName[name] = q
		return q
	}
	for _, k := range known {
		get(k.Name).PausedAt = k.PausedAt.Time
	}
	for _, r := range counts {
		get(r.Queue).Counts[State(r.State)] = r.N
	}
	out := make([]QueueInfo, 0, len(byName))
	for _, q := range byName {
		out = append(out, *q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PauseQueue stops workers from claiming jobs of queue (running jobs finish).
func (c *Client) PauseQueue(ctx context.Context, queue string) error {
	if err := validName("queue", queue); err != nil {
		return err
	}
	return c.store.q.QueuePause(ctx, queue)
}

// ResumeQueue lets workers claim jobs of queue again.
func (c *Client) ResumeQueue(ctx context.Context, queue string) error {
	if err := validName("queue", queue); err != nil {
		return err
	}
	return c.store.q.QueueResume(ctx, queue)
}

// ScheduleInfo is a configured schedule with its pending and last occurrences.
type ScheduleInfo struct {
	Schedule
	Next *JobRow // the pending occurrence, if any
	Last *JobRow // the last finished occurrence, if any
}

// Schedules lists the configured schedules.
func (c *Client) Schedules(ctx context.Context) ([]ScheduleInfo, error) {
	names := make([]string, 0, len(c.schedules))
	for n := range c.schedules {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]ScheduleInfo, 0, len(names))
	for _, n := range names {
		info := ScheduleInfo{Schedule: c.schedules[n]}
		if j, err := c.store.q.JobLiveOfSchedule(ctx, nullString(n)); err == nil {
			info.Next = jobRowFromDB(j)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("schedule %s: %w", n, err)
		}
		if j, err := c.store.q.JobLastOfSchedule(ctx, nullString(n)); err == nil {
			info.Last = jobRowFromDB(j)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("schedule %s: %w", n, err)
		}
		out = append(out, info)
	}
	return out, nil
}

// Messages lists internal messages, newest first; recipient "" means everyone's.
func (c *Client) Messages(ctx context.Context, recipient string, unreadOnly bool, limit int) ([]Message, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := c.store.q.MessageList(ctx, dbsqlc.MessageListParams{Recipient: nullString(recipient), UnreadOnly: unreadOnly, Limit: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	out := make([]Message, len(rows))
	for i, r := range rows {
		out[i] = messageFromDB(r)
	}
	return out, nil
}

// MarkRead marks messages as read and returns how many were unread.
func (c *Client) MarkRead(ctx context.Context, ids []int64) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n, err := c.store.q.MessageMarkRead(ctx, ids)
	if err != nil {
		return 0, fmt.Errorf("mark messages read: %w", err)
	}
	return n, nil
}

// Priority is one waiting job as the iactq_priorities view shows it.
type Priority struct {
	ID          int64     `json:"id"`
	Kind        string    `json:"kind"`
	Queue       string    `json:"queue"`
	State       State     `json:"state"`
	Attempt     int       `json:"attempt"`
	CreatedAt   time.Time `json:"created_at"`
	ScheduledAt time.Time `json:"scheduled_at"`
	AgeSeconds  int64     `json:"age_seconds"`
	SLASeconds  int64     `json:"sla_seconds"`
	Class       Class     `json:"priority_class"`
	DueAt       time.Time `json:"due_at"`
	// DueInSeconds is how long until a job enqueued for later becomes due (its age
	// stays 0 until then); 0 once it is due.
	DueInSeconds int64 `json:"due_in_seconds"`
	// SLALeftSeconds is the time left before the job is OVERDUE; negative once it
	// is, by how long.
	SLALeftSeconds int64 `json:"sla_left_seconds"`
	// NoWorkerRunsKind and NoWorkerServesQueue flag a waiting job that no live worker
	// can take: its kind is run by none (it is discarded after unknown_kind_grace),
	// or its queue is served by none.
	NoWorkerRunsKind    bool `json:"no_worker_runs_kind"`
	NoWorkerServesQueue bool `json:"no_worker_serves_queue"`
}

// Priorities lists waiting jobs in claim order, from the iactq_priorities view.
func (c *Client) Priorities(ctx context.Context, limit int) ([]Priority, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := c.store.q.PriorityList(ctx, int32(limit))
	if err != nil {
		return nil, fmt.Errorf("list priorities: %w", err)
	}
	now := c.now()
	fleet, err := c.Fleet(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Priority, len(rows))
	for i, r := range rows {
		p := Priority{
			ID: r.ID, Kind: r.Kind, Queue: r.Queue, State: State(r.State), Attempt: int(r.Attempt),
			CreatedAt: r.CreatedAt, ScheduledAt: r.ScheduledAt, AgeSeconds: toInt64(r.AgeSeconds),
			SLASeconds: int64(r.SlaSeconds), Class: Class(r.PriorityClass), DueAt: r.DueAt,
		}
		if d := r.ScheduledAt.Sub(now); d > 0 {
			p.DueInSeconds = int64((d + time.Second - 1) / time.Second) // rounded up: "due in 0s" never shows
		}
		p.SLALeftSeconds = p.SLASeconds - p.AgeSeconds + p.DueInSeconds
		p.flag(fleet)
		out[i] = p
	}
	return out, nil
}

// flag marks a waiting job that no live worker can take.
func (p *Priority) flag(f *Fleet) {
	if p.State == StateRunning {
		return
	}
	p.NoWorkerRunsKind = !f.RunsKind(p.Kind)
	p.NoWorkerServesQueue = !f.ServesQueue(p.Queue)
}

// Workers lists registered worker processes.
func (c *Client) Workers(ctx context.Context) ([]WorkerInfo, error) {
	rows, err := c.store.q.WorkerList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	lead, err := c.Leader(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]WorkerInfo, len(rows))
	for i, r := range rows {
		out[i] = WorkerInfo{ID: r.ID, Host: r.Host, PID: int(r.Pid), Queues: r.Queues, Kinds: r.Kinds.String, StartedAt: r.StartedAt, HeartbeatAt: r.HeartbeatAt,
			IdleUntil: r.IdleUntil.Time, Leader: lead.Live && lead.WorkerID == r.ID}
	}
	return out, nil
}

// WorkerInfo is a registered worker process.
type WorkerInfo struct {
	ID          int64
	Host        string
	PID         int
	Queues      string
	Kinds       string // comma-separated; "" for a build that did not record them
	StartedAt   time.Time
	HeartbeatAt time.Time
	// IdleUntil: the worker was idle at its last heartbeat, which keeps it live until
	// then whatever the heartbeat's age (zero: no idle lease).
	IdleUntil time.Time
	// Leader: this process is the fleet's leader (its lease holds): it runs the
	// periodic chores and rings the doorbell idle workers wait on.
	Leader bool
}

// Stale tells whether the worker is presumed dead at now: its heartbeat is older than
// rescueAfter and no idle lease holds.
func (w WorkerInfo) Stale(now time.Time, rescueAfter time.Duration) bool {
	return now.Sub(w.HeartbeatAt) > rescueAfter && !now.Before(w.IdleUntil)
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case []byte:
		var x int64
		fmt.Sscan(string(n), &x)
		return x
	case string:
		var x int64
		fmt.Sscan(n, &x)
		return x
	}
	return 0
}
