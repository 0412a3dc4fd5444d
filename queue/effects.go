package queue

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// maxBodyBytes bounds an internal message's body.
const maxBodyBytes = 16 << 10

// finishEffects is what happens in the transaction that finishes a job: its own
// messages (on completion), the requester's message, and the schedule's next
// occurrence. Being in that transaction, each happens exactly once.
func (c *Client) finishEffects(ctx context.Context, tx dbTx, job *JobRow, state State, out *outcome, errMsg string, now time.Time) error {
	if state == StateCompleted && out != nil {
		for _, m := range out.messages {
			if err := insertMessage(ctx, tx, m.recipient, m.subject, m.body, job.ID); err != nil {
				return err
			}
		}
		if len(out.then) > 0 {
			if _, err := insertRows(ctx, tx, out.then); err != nil {
				return fmt.Errorf("enqueue follow-ups of job %d: %w", job.ID, err)
			}
		}
	}
	if job.RequestedBy != "" && (out == nil || !out.skipRequester || state != StateCompleted) {
		subject, body := outcomeMessage(job, state, out, errMsg)
		if err := insertMessage(ctx, tx, job.RequestedBy, subject, body, job.ID); err != nil {
			return err
		}
	}
	if job.ScheduleName != "" {
		if err := c.scheduleNext(ctx, tx, job.ScheduleName, later(now, job.ScheduledAt)); err != nil {
			return err
		}
	}
	return nil
}

func outcomeMessage(job *JobRow, state State, out *outcome, errMsg string) (subject, body string) {
	subject = fmt.Sprintf("%s job %d %s", job.Kind, job.ID, state)
	switch {
	case state == StateCompleted && out != nil && out.summary != "":
		body = out.summary
	case state == StateCompleted:
		body = fmt.Sprintf("Job %d (%s) completed on attempt %d.", job.ID, job.Kind, job.Attempt)
	default:
		// One line: a panic's stack stays in the job's errors, for the operator.
		reason, _, _ := strings.Cut(errMsg, "\n")
		body = fmt.Sprintf("Job %d (%s) was %s after %d attempt(s): %s", job.ID, job.Kind, state, job.Attempt, reason)
	}
	body += fmt.Sprintf("\nDetails: iactq jobs show %d", job.ID)
	return subject, body
}

func insertMessage(ctx context.Context, tx dbTx, recipient, subject, body string, jobID int64) error {
	_, err := tx.MessageInsert(ctx, dbsqlc.MessageInsertParams{
		Recipient: truncate(recipient, 255),
		Subject:   truncate(subject, 255),
		Body:      truncate(body, maxBodyBytes),
		JobID:     sql.NullInt64{Int64: jobID, Valid: jobID != 0},
	})
	if err != nil {
		return fmt.Errorf("write message to %s: %w", recipient, err)
	}
	return nil
}

// scheduleNext inserts the occurrence of schedule name that follows after. A live
// occurrence already there (put back by a worker's check) is left alone.
func (c *Client) scheduleNext(ctx context.Context, tx dbTx, name string, after time.Time) error {
	s, ok := c.schedules[name]
	if !ok {
		return nil // removed from the config: the chain ends here
	}
	next, err := s.Next(after)
	if err != nil {
		return err
	}
	row, err := c.prepare(s.insertParams(next))
	if err != nil {
		return fmt.Errorf("schedule %s: %w", name, err)
	}
	if _, err := insertUnique(ctx, tx, row); err != nil {
		return fmt.Errorf("schedule %s: %w", name, err)
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// truncate cuts s to at most n bytes on a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
