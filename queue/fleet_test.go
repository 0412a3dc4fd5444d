package queue_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/internal/waitfor"
	"github.com/iact/iactq/queue"
)

// extraArgs is a kind only the "newer build" of these tests registers.
type extraArgs struct{}

func (extraArgs) Kind() string { return "extra" }

// newerWorker is a second worker process over b's database built with one kind more
// (extra) than b's client, serving queues. It runs until the test ends; ran receives
// the extra jobs it runs.
func newerWorker(t *testing.T, b *bundle, cfg queue.Config) (c *queue.Client, ran chan int64) {
	t.Helper()
	ran = make(chan int64, 1000)
	reg := queue.NewRegistry()
	queue.Register(reg, queue.WorkFunc[testArgs](func(context.Context, *queue.Job[testArgs]) error { return nil }))
	queue.Register(reg, queue.WorkFunc[extraArgs](func(_ context.Context, j *queue.Job[extraArgs]) error {
		ran <- j.ID
		return nil
	}))
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	c, err := queue.NewClient(b.db.DB, reg, cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Work(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, ran
}

// insertExtra inserts a job of kind extra with plain SQL (no build of b's client
// knows it), due age ago.
func insertExtra(t *testing.T, b *bundle, queueName string, age time.Duration) int64 {
	t.Helper()
	res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind, queue, requested_by, scheduled_at) VALUES ('extra', ?, 'analyst', NOW(6) - INTERVAL ? MICROSECOND)`,
		queueName, age.Microseconds())
	id, _ := res.LastInsertId()
	return id
}

// A rolling deploy: an older worker, without kind extra, works the queue first; it
// claims only its own kinds and never discards extra's jobs (within the grace), which
// the newer worker, started later, runs. Then both work together: every extra job
// runs on the newer one.
func TestOlderWorkerLeavesNewerKindsToNewerWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	ctx := context.Background()
	b.startWorker(t)
	early := []int64{insertExtra(t, b, "default", 0), insertExtra(t, b, "default", 30*time.Minute)}
	// A job of the older worker's own kind, inserted after them, completes: the older
	// worker has polled and claimed past the extra jobs.
	for i := range 3 {
		res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{N: i}})
		if err != nil {
			t.Fatal(err)
		}
		b.waitState(t, res.ID, queue.StateCompleted)
	}
	for _, id := range early {
		if j, _ := b.client.GetJob(ctx, id); j.State != queue.StateAvailable || j.Attempt != 0 {
			t.Fatalf("extra job %d is %s after %d attempts with only the older worker up; want available, never claimed", id, j.State, j.Attempt)
		}
	}
	// Flagged meanwhile: no live worker runs extra.
	ps, err := b.client.Priorities(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if want := p.Kind == "extra"; p.NoWorkerRunsKind != want || p.NoWorkerServesQueue {
			t.Errorf("job %d (%s): no_worker_runs_kind %v no_worker_serves_queue %v; want %v, false", p.ID, p.Kind, p.NoWorkerRunsKind, p.NoWorkerServesQueue, want)
		}
	}
	e, err := b.client.Explain(ctx, early[1])
	if err != nil {
		t.Fatal(err)
	}
	if !e.NoWorkerRunsKind || e.DiscardAt.Before(time.Now().Add(29*time.Minute)) {
		t.Errorf("explain: no worker runs kind %v, discard at %v; want true, in ~30 minutes", e.NoWorkerRunsKind, e.DiscardAt)
	}

	_, ran := newerWorker(t, b, queue.Config{})
	var later []int64
	for range 20 {
		later = append(later, insertExtra(t, b, "default", 0))
		if _, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{}}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[int64]bool{}
	for _, id := range append(early, later...) {
		want[id] = true
	}
	for len(want) > 0 {
		select {
		case id := <-ran:
			delete(want, id)
		case <-time.After(20 * time.Second):
			t.Fatalf("extra jobs %v did not run on the newer worker", want)
		}
	}
	for _, id := range append(early, later...) {
		b.waitState(t, id, queue.StateCompleted)
	}
}

// Past unknown_kind_grace, a job whose kind no live worker runs is discarded with the
// reason and its requester told; a younger one keeps waiting; and while some live
// worker runs the kind (even one serving another queue), none is discarded.
func TestUnknownKindDiscardedAfterGrace(t *testing.T) {
	t.Parallel()
	obs := &unknownDiscards{}
	b := setup(t, queue.Config{UnknownKindGrace: time.Hour, Observer: obs})
	ctx := context.Background()
	// A newer worker that runs extra but serves another queue: extra jobs of queue
	// default wait, unclaimed, and are not discarded however old.
	newer, cancelNewer := context.WithCancel(context.Background())
	reg := queue.NewRegistry()
	queue.Register(reg, queue.WorkFunc[extraArgs](func(context.Context, *queue.Job[extraArgs]) error { return nil }))
	nc, err := queue.NewClient(b.db.DB, reg, queue.Config{Queues: map[string]int{"elsewhere": 1}, PollInterval: 10 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	newerDone := make(chan struct{})
	go func() { defer close(newerDone); _ = nc.Work(newer) }()
	t.Cleanup(func() { cancelNewer(); <-newerDone })
	waitFor(t, "the newer worker to register", func() bool {
		f, err := b.client.Fleet(ctx)
		return err == nil && f.RunsKind("extra")
	})

	old := insertExtra(t, b, "default", 2*time.Hour)
	young := insertExtra(t, b, "default", 10*time.Minute)
	// The older build's check, as its workers run it: nothing to discard.
	if n, err := b.client.DiscardUnknownKinds(ctx); err != nil || n != 0 {
		t.Fatalf("discarded %d (%v) while a live worker runs the kind; want 0", n, err)
	}
	if j, _ := b.client.GetJob(ctx, old); j.State != queue.StateAvailable {
		t.Fatalf("job %d is %s while a live worker runs its kind; want available", old, j.State)
	}

	// The newer worker goes away: now no live worker runs extra.
	cancelNewer()
	<-newerDone
	b.startWorker(t)
	j := b.waitState(t, old, queue.StateDiscarded)
	errs := j.AttemptErrors()
	if len(errs) != 1 || !strings.Contains(errs[0].Error, `unknown kind "extra": no live worker runs it`) || j.Attempt != 0 {
		t.Fatalf("discarded job: attempt %d errors %+v", j.Attempt, errs)
	}
	msgs, err := b.client.Messages(ctx, "analyst", false, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].JobID != old || !strings.Contains(msgs[0].Body, "unknown_kind_grace") {
		t.Fatalf("messages = %+v; want one about job %d with the reason", msgs, old)
	}
	if j, _ := b.client.GetJob(ctx, young); j.State != queue.StateAvailable {
		t.Fatalf("the job within the grace is %s; want available", j.State)
	}
	// The observer (metrics, the activity summary) is told: it never saw the job run.
	waitFor(t, "the observer to be told of the discard", func() bool { return obs.said() == "default/extra: 1" })
}

// unknownDiscards records what Observer.DiscardedUnknown is told.
type unknownDiscards struct {
	queue.NopObserver
	mu   sync.Mutex
	told []string
}

func (o *unknownDiscards) DiscardedUnknown(q, kind string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.told = append(o.told, fmt.Sprintf("%s/%s: %d", q, kind, n))
}

func (o *unknownDiscards) said() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.told, "; ")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.True(t, 20*time.Second, cond, func() string { return what })
}

// pollCounter counts a worker's looks for work.
type pollCounter struct {
	queue.NopObserver
	polls chan struct{}
}

func (o *pollCounter) Polled(error) {
	select {
	case o.polls <- struct{}{}:
	default:
	}
}

// A pause holds for every claim that starts after PauseQueue returns, although the
// worker's own list of paused queues is refreshed only once a second: jobs enqueued
// right after the pause are not claimed while the worker keeps polling, by the worker
// or by any other claim, and all run once the queue is resumed.
func TestPauseHoldsForClaimsAfterItReturns(t *testing.T) {
	t.Parallel()
	obs := &pollCounter{polls: make(chan struct{})}
	b := setup(t, queue.Config{Observer: obs})
	ctx := context.Background()
	b.startWorker(t)
	// The worker is up and runs jobs: its list says the queue is not paused.
	first, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{}})
	if err != nil {
		t.Fatal(err)
	}
	b.waitState(t, first.ID, queue.StateCompleted)
	<-b.ran

	if err := b.client.PauseQueue(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for range 10 {
		res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	// The poller sees the jobs and wakes the producer on each of these looks: after a
	// ring (the first job's), the waiter looks once a second for 10 s. Three looks,
	// not ten: ten took the whole 10 s, and under load the tenth never came (the
	// leader's sweep, which carries the heads, is no poll): the test hung for 30 min.
	for i := range 3 {
		select {
		case <-obs.polls:
		case <-time.After(20 * time.Second):
			t.Fatalf("the worker looked for work %d times in 20 s after the pause; want 3", i)
		}
	}
	if jobs, err := b.client.ClaimOnce(ctx, "default", 10); err != nil || len(jobs) != 0 {
		t.Fatalf("a claim of the paused queue took %d jobs (%v)", len(jobs), err)
	}
	for _, id := range ids {
		if j, _ := b.client.GetJob(ctx, id); j.State != queue.StateAvailable || j.Attempt != 0 {
			t.Fatalf("job %d of the paused queue is %s, attempt %d: claimed", id, j.State, j.Attempt)
		}
	}
	select {
	case j := <-b.ran:
		t.Fatalf("job %d ran in the paused queue", j.ID)
	default:
	}
	if err := b.client.ResumeQueue(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		b.waitState(t, id, queue.StateCompleted)
	}
}

// Only live workers count: a registration whose heartbeat stopped long ago (a worker
// killed with no other left to remove its row) serves nothing and runs nothing.
func TestFleetIgnoresDeadWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	b.db.Exec(t, `INSERT INTO iactq_workers (host, pid, queues, kinds, heartbeat_at) VALUES ('gone', 1, 'reports=2', 'extra', NOW(6) - INTERVAL 2 HOUR)`)
	b.db.Exec(t, `INSERT INTO iactq_workers (host, pid, queues, kinds) VALUES ('here', 2, 'default=2', 'test')`)
	f, err := b.client.Fleet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Workers != 1 || f.RunsKind("extra") || f.ServesQueue("reports") || !f.RunsKind("test") || !f.ServesQueue("default") {
		t.Fatalf("fleet = %+v; want only the live worker", f)
	}
}
