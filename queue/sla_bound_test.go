package queue_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// probeArgs is a kind with a one-second SLA, so that a job of it can be OVERDUE while
// being younger than every job of a backlog that is still NORMAL.
type probeArgs struct{}

func (probeArgs) Kind() string { return "sla_probe" }

// TestOverdueWaitsAtMostTheClaimedAhead: a worker draining a backlog of short NORMAL
// jobs at the default concurrency holds up to AheadMax jobs claimed ahead of its
// slots. An OVERDUE job inserted meanwhile (younger than the whole backlog: only its
// class puts it first) starts after at most the jobs the producer held when it
// appeared plus one producer's worth claimed before the heads show it — counted, not
// timed: 2 × (slots + AheadMax) — and well before the backlog is done.
func TestOverdueWaitsAtMostTheClaimedAhead(t *testing.T) {
	t.Parallel()
	const backlog, slots = 20000, 10
	db := queuetest.New(t)
	var normalStarted atomic.Int64
	var atOverdue atomic.Int64
	overdueStarted := make(chan struct{})
	reg := queue.NewRegistry()
	queue.Register(reg, queue.WorkFunc[testArgs](func(context.Context, *queue.Job[testArgs]) error {
		normalStarted.Add(1)
		return nil
	}))
	queue.Register(reg, queue.WorkFunc[probeArgs](func(context.Context, *queue.Job[probeArgs]) error {
		atOverdue.Store(normalStarted.Load())
		close(overdueStarted)
		return nil
	}))
	slas := queue.DefaultSLAs()
	slas["sla_probe"] = queue.SLA{Deadline: time.Second, Urgent: 500 * time.Millisecond}
	c, err := queue.NewClient(db.DB, reg, queue.Config{
		// Polling once a second: the bound must not rest on the poller's fresher heads.
		Queues: map[string]int{"default": slots}, SLAs: slas, PollInterval: time.Second,
	}, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for done := 0; done < backlog; done += 1000 {
		ps := make([]queue.InsertParams, 1000)
		for i := range ps {
			ps[i] = queue.InsertParams{Kind: "test", Args: json.RawMessage(`{}`)}
		}
		if _, err := c.InsertMany(ctx, ps); err != nil {
			t.Fatal(err)
		}
	}
	// A minute old: NORMAL under the default SLA, and older than the OVERDUE job.
	db.Exec(t, `UPDATE iactq_jobs SET scheduled_at = NOW(6) - INTERVAL 1 MINUTE, created_at = NOW(6) - INTERVAL 1 MINUTE`)

	workCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = c.Work(workCtx) }()
	t.Cleanup(func() { cancel(); <-stopped })

	// Wait until the drain is well under way: claims are then at their full size.
	deadline := time.Now().Add(60 * time.Second)
	for normalStarted.Load() < 3000 {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s only %d jobs started", normalStarted.Load())
		}
		time.Sleep(time.Millisecond)
	}
	before := normalStarted.Load()
	db.Exec(t, `INSERT INTO iactq_jobs (kind, args, scheduled_at) VALUES ('sla_probe', '{}', NOW(6) - INTERVAL 2 SECOND)`)
	select {
	case <-overdueStarted:
	case <-time.After(60 * time.Second):
		t.Fatalf("the OVERDUE job did not start within 60 s (%d of %d backlog jobs started)", normalStarted.Load(), backlog)
	}
	ahead := atOverdue.Load() - before
	bound := int64(2 * (slots + queue.AheadMax))
	t.Logf("%d backlog jobs had started when the OVERDUE job was inserted; %d more started before it (bound %d)", before, ahead, bound)
	if ahead > bound {
		t.Fatalf("%d NORMAL jobs started after the OVERDUE job was inserted and before it; want at most %d", ahead, bound)
	}
	if atOverdue.Load() >= backlog {
		t.Fatalf("the OVERDUE job started only after the whole backlog (%d jobs)", backlog)
	}
}
