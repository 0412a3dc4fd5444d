package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// AuditEntry is one action taken from the dashboard, allowed or refused.
type AuditEntry struct {
	ID         int64
	At         time.Time
	Actor      string
	Action     string
	Target     string
	OK         bool
	Detail     string
	RemoteAddr string
}

// Audit records an operator's action in iactq_audit.
func (c *Client) Audit(ctx context.Context, e AuditEntry) error {
	err := c.store.q.AuditInsert(ctx, dbsqlc.AuditInsertParams{
		Actor: abbreviate(e.Actor, 255), Action: abbreviate(e.Action, 32), Target: abbreviate(e.Target, 255),
		Ok: e.OK, Detail: abbreviate(e.Detail, 1000), RemoteAddr: abbreviate(e.RemoteAddr, 255),
	})
	if err != nil {
		return fmt.Errorf("record audit entry: %w", err)
	}
	return nil
}

// AuditLog lists the latest recorded actions, newest first.
func (c *Client) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := c.store.q.AuditList(ctx, int32(limit))
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	out := make([]AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = AuditEntry{ID: r.ID, At: r.At, Actor: r.Actor, Action: r.Action, Target: r.Target, OK: r.Ok, Detail: r.Detail, RemoteAddr: r.RemoteAddr}
	}
	return out, nil
}
