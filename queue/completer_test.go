package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iact/iactq/queue"
)

// deepArgs are args Go's JSON accepts and MariaDB's JSON_VALID refuses: nested deeper
// than its limit of 32.
var deepArgs = json.RawMessage(`{"n":1,"extra":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`)

// TestCompleterRefusedFollowUpFailsOnlyThatJob: a completion whose follow-up the
// server refuses for good fails that one job, with the reason recorded and the
// requester told; the outcomes written with it in one batch are written, and the
// worker keeps working and stops promptly.
func TestCompleterRefusedFollowUpFailsOnlyThatJob(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{Queues: map[string]int{"default": 8}})
	const n = 6
	var started atomic.Int32
	all := make(chan struct{})
	b.work = func(ctx context.Context, j *queue.Job[testArgs]) error {
		// All jobs end together, so that their outcomes share a batch.
		if started.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-ctx.Done():
			return ctx.Err()
		}
		if j.Args.N == 99 {
			return j.Then(queue.InsertParams{Kind: "test", Args: deepArgs})
		}
		j.Notify("ops", "done", "done")
		return j.Then(queue.InsertParams{Args: testArgs{N: 1000 + j.Args.N}, Queue: "next"})
	}
	ctx := context.Background()
	poison, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{N: 99}, RequestedBy: "analyst"})
	if err != nil {
		t.Fatal(err)
	}
	var others []int64
	for i := 1; i < n; i++ {
		res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{N: i}, RequestedBy: "analyst"})
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, res.ID)
	}
	stop := b.startWorker(t)

	j := b.waitState(t, poison.ID, queue.StateDiscarded)
	errs := j.AttemptErrors()
	if len(errs) != 1 || !strings.Contains(errs[0].Error, "refused") || !strings.Contains(errs[0].Error, "4025") {
		t.Fatalf("poisoned job's errors = %+v, want the server's refusal (4025)", errs)
	}
	for _, id := range others {
		b.waitState(t, id, queue.StateCompleted)
	}
	var followUps, opsMsgs int
	_ = b.db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE queue = 'next'`).Scan(&followUps)
	_ = b.db.DB.QueryRow(`SELECT COUNT(*) FROM internal_messages WHERE recipient = 'ops'`).Scan(&opsMsgs)
	if followUps != n-1 || opsMsgs != n-1 {
		t.Fatalf("%d follow-ups and %d messages of the other jobs, want %d each", followUps, opsMsgs, n-1)
	}
	msgs, err := b.client.Messages(ctx, "analyst", false, 100)
	if err != nil {
		t.Fatal(err)
	}
	told := false
	for _, m := range msgs {
		if m.JobID == poison.ID {
			told = strings.Contains(m.Subject, "discarded") && strings.Contains(m.Body, "refused")
		}
	}
	if len(msgs) != n || !told {
		t.Fatalf("analyst has %d messages (want %d), the poisoned job's saying it was refused: %v", len(msgs), n, told)
	}

	// Still working: a new job runs, and the worker then stops promptly.
	res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{N: 7}})
	if err != nil {
		t.Fatal(err)
	}
	b.waitState(t, res.ID, queue.StateCompleted)
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(15 * time.Second):
		t.Fatal("Work did not return within 15 s of its context ending")
	}
}

// healthObserver records what the engine says about its health.
type healthObserver struct {
	queue.NopObserver
	unhealthy chan error
	healthy   chan struct{}
}

func (o *healthObserver) Unhealthy(err error) { o.unhealthy <- err }
func (o *healthObserver) Healthy()            { o.healthy <- struct{}{} }

// TestCompleterThatCannotWriteMakesTheWorkerUnhealthy: while a job's row is locked by
// another transaction, its completion cannot be written (each try ends at the
// heartbeat interval and is retried); after the heartbeat interval the observer is
// told the worker is unhealthy, and healthy again once the completion is written.
func TestCompleterThatCannotWriteMakesTheWorkerUnhealthy(t *testing.T) {
	t.Parallel()
	obs := &healthObserver{unhealthy: make(chan error, 10), healthy: make(chan struct{}, 10)}
	b := setup(t, queue.Config{HeartbeatInterval: 300 * time.Millisecond, RescueAfter: time.Minute, Observer: obs})
	ctx := context.Background()
	res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{N: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	proceed := make(chan struct{})
	b.work = func(context.Context, *queue.Job[testArgs]) error { close(ran); <-proceed; return nil }
	b.startWorker(t)
	<-ran
	tx, err := b.db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.Exec(`SELECT id FROM iactq_jobs WHERE id = ? FOR UPDATE`, res.ID); err != nil {
		t.Fatal(err)
	}
	locked := time.Now()
	close(proceed)
	select {
	case err := <-obs.unhealthy:
		if waited := time.Since(locked); waited < 300*time.Millisecond {
			t.Fatalf("unhealthy after %s, before the heartbeat interval", waited)
		}
		if !strings.Contains(err.Error(), "completer") {
			t.Fatalf("unhealthy because %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the worker never said it was unhealthy while its completer could not write")
	}
	if j, _ := b.client.GetJob(ctx, res.ID); j.State != queue.StateRunning {
		t.Fatalf("job is %s while its row is locked", j.State)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-obs.healthy:
	case <-time.After(20 * time.Second):
		t.Fatal("the worker never said it was healthy again")
	}
	b.waitState(t, res.ID, queue.StateCompleted)
}

// TestOutcomeRecordedLateIsNotRunAgain: an outcome the completer gives up writing
// (the job's row locked by another transaction for longer than the policy waits) is
// written once the row is free, while the worker stays registered, and its job is not
// given back meanwhile. Before, the job was
// left running and released with its attempt unspent some ten seconds later, and the
// attempt that had run ran again (make chaos, crash: "attempt N ran 2 times"). The outcome is a failure, written
// in a transaction: a plain completion is one autocommit UPDATE, which the server may
// still carry out after the client gave up on it, once the lock is free.
func TestOutcomeRecordedLateIsNotRunAgain(t *testing.T) {
	t.Parallel()
	const rescueAfter = 2 * time.Second
	b := setup(t, queue.Config{HeartbeatInterval: 300 * time.Millisecond, RescueAfter: rescueAfter})
	ctx := context.Background()
	res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{N: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	ran := make(chan struct{}, 10)
	proceed := make(chan struct{})
	b.work = func(context.Context, *queue.Job[testArgs]) error {
		runs.Add(1)
		ran <- struct{}{}
		<-proceed
		return queue.Permanent(errors.New("bad input"))
	}
	b.startWorker(t)
	<-ran
	tx, err := b.db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.Exec(`SELECT id FROM iactq_jobs WHERE id = ? FOR UPDATE`, res.ID); err != nil {
		t.Fatal(err)
	}
	close(proceed)
	// Longer than the completer's policy waits (rescue_after since it began failing),
	// and than the ten seconds after which the worker gives back a job it does not
	// know it holds (releaseUnknownClaims, every ten seconds while busy): a release
	// would queue on the row lock ahead of the completer's next try.
	time.Sleep(13 * time.Second)
	if j, _ := b.client.GetJob(ctx, res.ID); j.State != queue.StateRunning {
		t.Fatalf("job is %s while its row is locked", j.State)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	// Released with the attempt unspent, the job would stay running until at least ten
	// seconds after it started, then run again.
	deadline := freed.Add(5 * time.Second)
	for {
		j, err := b.client.GetJob(ctx, res.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == queue.StateDiscarded {
			if j.Attempt != 1 {
				t.Fatalf("discarded at attempt %d, want 1", j.Attempt)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s %s after its row was freed: the late outcome was not recorded", j.State, time.Since(freed).Round(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("ran %d times, want once", n)
	}
}
