package queue

import (
	"encoding/json"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// State is a job's state.
type State string

// The states of a job. A job ends completed, discarded or cancelled.
const (
	StateAvailable State = "available"
	StateScheduled State = "scheduled"
	StateRunning   State = "running"
	StateRetryable State = "retryable"
	StateCompleted State = "completed"
	StateDiscarded State = "discarded"
	StateCancelled State = "cancelled"
)

// Finished tells whether s is a final state.
func (s State) Finished() bool {
	return s == StateCompleted || s == StateDiscarded || s == StateCancelled
}

// JobRow is one row of iactq_jobs. Zero times stand for NULL.
type JobRow struct {
	ID           int64
	Kind         string
	Queue        string
	Args         json.RawMessage
	State        State
	Attempt      int
	MaxAttempts  int
	CreatedAt    time.Time
	ScheduledAt  time.Time
	AvailableAt  time.Time
	AttemptedAt  time.Time
	FinishedAt   time.Time
	Errors       json.RawMessage
	UniqueKey    string
	RequestedBy  string
	ScheduleName string
	ClaimedBy    int64
}

// AttemptError is one entry of a job's errors column.
type AttemptError struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

// AttemptErrors decodes the errors column.
func (r *JobRow) AttemptErrors() []AttemptError {
	var errs []AttemptError
	_ = json.Unmarshal(r.Errors, &errs)
	return errs
}

func jobRowFromDB(j dbsqlc.IactqJob) *JobRow {
	return &JobRow{
		ID:           j.ID,
		Kind:         j.Kind,
		Queue:        j.Queue,
		Args:         j.Args,
		State:        State(j.State),
		Attempt:      int(j.Attempt),
		MaxAttempts:  int(j.MaxAttempts),
		CreatedAt:    j.CreatedAt,
		ScheduledAt:  j.ScheduledAt,
		AvailableAt:  j.AvailableAt.Time,
		AttemptedAt:  j.AttemptedAt.Time,
		FinishedAt:   j.FinishedAt.Time,
		Errors:       j.Errors,
		UniqueKey:    j.UniqueKey.String,
		RequestedBy:  j.RequestedBy.String,
		ScheduleName: j.ScheduleName.String,
		ClaimedBy:    j.ClaimedBy.Int64,
	}
}

// Message is one row of internal_messages.
type Message struct {
	ID        int64
	Recipient string
	Subject   string
	Body      string
	JobID     int64
	CreatedAt time.Time
	ReadAt    time.Time
}

func messageFromDB(m dbsqlc.InternalMessage) Message {
	return Message{
		ID:        m.ID,
		Recipient: m.Recipient,
		Subject:   m.Subject,
		Body:      m.Body,
		JobID:     m.JobID.Int64,
		CreatedAt: m.CreatedAt,
		ReadAt:    m.ReadAt.Time,
	}
}
