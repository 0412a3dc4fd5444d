package queue

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// Which kinds and queues the live workers serve. Each worker records the kinds of its
// build in its registration (iactq_workers.kinds) and claims only those, so that
// during a rolling deploy an older build leaves a newer kind's jobs to newer workers.
// A job whose kind no live worker runs waits; it is discarded with the reason only
// after Config.UnknownKindGrace.

// kindList is the registration's record of the kinds this client runs.
func (c *Client) kindList() sql.NullString {
	return sql.NullString{String: strings.Join(c.registry.Kinds(), ","), Valid: true}
}

// runsKind tells whether this client's build runs kind.
func (c *Client) runsKind(kind string) bool {
	_, ok := c.registry.kinds[kind]
	return ok
}

// runnable returns the heads of the kinds this client runs: the claim reads only
// their ranges. heads itself when all are (the usual case, without allocating).
func (c *Client) runnable(heads []dbsqlc.JobClaimHeadsRow) []dbsqlc.JobClaimHeadsRow {
	for i, h := range heads {
		if !c.runsKind(h.Kind) {
			out := slices.Clone(heads[:i])
			for _, h := range heads[i+1:] {
				if c.runsKind(h.Kind) {
					out = append(out, h)
				}
			}
			return out
		}
	}
	return heads
}

// Fleet is what the live worker processes (heartbeat younger than RescueAfter, or an
// idle lease that holds) serve.
type Fleet struct {
	Workers int
	// Queues and Kinds are the queues the live workers serve and the kinds they run.
	Queues map[string]bool
	Kinds  map[string]bool
	// AnyKind is set when a live worker did not record its kinds (a build from before
	// workers did): it may run any kind, so none is taken for unknown.
	AnyKind bool
}

// RunsKind tells whether some live worker runs kind.
func (f *Fleet) RunsKind(kind string) bool { return f.AnyKind || f.Kinds[kind] }

// ServesQueue tells whether some live worker serves queue.
func (f *Fleet) ServesQueue(queue string) bool { return f.Queues[queue] }

// QueueNames lists the queues the live workers serve, sorted.
func (f *Fleet) QueueNames() []string {
	out := make([]string, 0, len(f.Queues))
	for q := range f.Queues {
		out = append(out, q)
	}
	slices.Sort(out)
	return out
}

// Fleet reads what the live workers serve.
func (c *Client) Fleet(ctx context.Context) (*Fleet, error) {
	rows, err := c.store.q.WorkerList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	f := &Fleet{Queues: map[string]bool{}, Kinds: map[string]bool{}}
	for _, r := range rows {
		// The age as the server sees it: the client's clock may differ.
		if time.Duration(r.HeartbeatAgeUs)*time.Microsecond > c.cfg.RescueAfter && r.IdleLeftUs <= 0 {
			continue
		}
		f.Workers++
		for q := range WorkerConcurrency(r.Queues) {
			f.Queues[q] = true
		}
		if !r.Kinds.Valid {
			f.AnyKind = true
			continue
		}
		for _, k := range strings.Split(r.Kinds.String, ",") {
			if k != "" {
				f.Kinds[k] = true
			}
		}
	}
	return f, nil
}

// unknownKindBatch bounds the jobs one transaction of discardUnknownKinds discards.
const unknownKindBatch = 100

// discardUnknownKinds discards the available jobs, in any queue, whose kind no live
// worker runs and that have waited longer than UnknownKindGrace, each with the
// reason recorded and its requester told. It reads only the oldest job per queue and
// kind while every kind waiting is one this worker runs (the usual case). It returns
// how many it discarded.
func (c *Client) discardUnknownKinds(ctx context.Context, log zerolog.Logger) (int, error) {
	heads, err := c.store.q.JobHeadsEveryQueue(ctx)
	if err != nil {
		return 0, err
	}
	var foreign []dbsqlc.JobHeadsEveryQueueRow
	for _, h := range heads {
		if !c.runsKind(h.Kind) {
			foreign = append(foreign, h)
		}
	}
	if len(foreign) == 0 {
		return 0, nil
	}
	fleet, err := c.Fleet(ctx)
	if err != nil {
		return 0, err
	}
	grace := max(c.cfg.UnknownKindGrace, 0)
	now := c.now()
	before := now.Add(-grace)
	total := 0
	for _, h := range foreign {
		if fleet.RunsKind(h.Kind) || !h.Oldest.Before(before) {
			continue
		}
		n, err := c.discardWaiting(ctx, h.Queue, h.Kind, before, grace)
		total += n
		if err != nil {
			return total, fmt.Errorf("discard jobs of unknown kind %s: %w", h.Kind, err)
		}
		if n > 0 {
			c.cfg.Observer.DiscardedUnknown(h.Queue, h.Kind, n)
			log.Warn().Str("kind", h.Kind).Str("queue", h.Queue).Int("jobs", n).Dur("grace", grace).
				Msg("discarded jobs of a kind no live worker runs")
		}
	}
	return total, nil
}

// discardWaiting discards the available jobs of queue and kind that have waited
// since before, in batches, and returns how many it discarded.
func (c *Client) discardWaiting(ctx context.Context, queue, kind string, before time.Time, grace time.Duration) (int, error) {
	total := 0
	for {
		n := 0
		err := c.store.inTx(ctx, nil, func(tx dbTx) error {
			n = 0
			rows, err := tx.JobWaitingSince(ctx, dbsqlc.JobWaitingSinceParams{
				Queue: queue, Kind: kind, Before: before, AttemptedBefore: nullTime(before), Limit: unknownKindBatch,
			})
			if err != nil {
				return err
			}
			now := c.now()
			msg := fmt.Sprintf("unknown kind %q: no live worker runs it (it waited over unknown_kind_grace, %s)", abbreviate(kind, 120), grace)
			for _, r := range rows {
				job := jobRowFromDB(r)
				done, err := tx.JobDiscardWaiting(ctx, dbsqlc.JobDiscardWaitingParams{
					FinishedAt: nullTime(now), ErrorAt: now.Format(time.RFC3339Nano), Message: msg, ID: job.ID,
				})
				if err != nil {
					return err
				}
				if done == 0 {
					continue
				}
				n++
				if err := c.finishEffects(ctx, tx, job, StateDiscarded, nil, msg, now); err != nil {
					return err
				}
			}
			return nil
		})
		total += n
		if err != nil || n < unknownKindBatch {
			return total, err
		}
	}
}
