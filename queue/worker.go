package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// worker is one running Work call: a registered worker process.
type worker struct {
	c   *Client
	log zerolog.Logger
	id  atomic.Int64 // iactq_workers.id; changes when the registration is lost

	producers map[string]*producer

	resultsMu     sync.Mutex
	results       chan result
	resultsClosed bool // after the drain; a job that ignored cancellation reports nowhere

	jobsCtx    context.Context         // parent of every job's context; cancelled at hard stop
	cancelJobs context.CancelCauseFunc // with ErrShuttingDown
	jobsWG     sync.WaitGroup

	mu      sync.Mutex
	running map[int64]context.CancelCauseFunc // job id -> cancel of its context, with the cause
	held    map[int64]bool                    // claimed and not yet recorded: running or in the completer

	paused atomic.Pointer[map[string]bool]

	healthMu  sync.Mutex
	failing   time.Time // since when the completer fails to write; zero while it writes
	unhealthy bool      // the observer was told so

	pollNow chan struct{} // the waiter asks the poller to look for work
	rungAt  atomic.Int64  // unix nanoseconds of the last ring the waiter heard

	stand     chan struct{} // a waiter found no leader: stand for election
	belled    chan struct{} // this process was elected and holds the doorbell
	watchNow  chan struct{} // a chore made jobs available: the watcher reads the heads
	renewedAt atomic.Int64  // unix nanoseconds of the leader's last lease renewal

	// regMu serialises touching and re-registering this worker's row; touchedAt is
	// when a touch last found the row (a process paused past RescueAfter must not
	// start jobs it no longer owns).
	regMu     sync.Mutex
	touchedAt atomic.Int64 // unix nanoseconds
	// idleLeased: the row holds an idle lease (idleLease) from this worker's last
	// touch; a claim, which ends it, clears this.
	idleLeased atomic.Bool
	claims     atomic.Int64 // claims made (hold calls)
}

// Work registers this process as a worker and runs jobs of the configured queues until
// ctx is cancelled. It then drains: it stops claiming, gives running jobs
// Config.ShutdownGrace to finish, stops the rest (their context's cause is
// ErrShuttingDown) and puts them back in the queue, and returns. A job that ignores
// its cancellation is waited for, the registration kept alive, so that no job runs in
// the process after Work has deregistered. Database outages are waited out with back-off, never returned.
func (c *Client) Work(ctx context.Context) error {
	w := &worker{
		c:         c,
		log:       c.log.With().Str("component", "worker").Logger(),
		producers: map[string]*producer{},
		results:   make(chan result, 4096),
		running:   map[int64]context.CancelCauseFunc{},
		held:      map[int64]bool{},
		pollNow:   make(chan struct{}, 1),
		stand:     make(chan struct{}, 1),
		belled:    make(chan struct{}, 1),
		watchNow:  make(chan struct{}, 1),
	}
	w.jobsCtx, w.cancelJobs = context.WithCancelCause(context.WithoutCancel(ctx))
	defer w.cancelJobs(ErrShuttingDown)
	for q, n := range c.cfg.Queues {
		w.producers[q] = &producer{queue: q, concurrency: n, wake: make(chan struct{}, 1)}
	}
	w.paused.Store(&map[string]bool{})

	if err := w.register(ctx); err != nil {
		return nil // cancelled before the database answered: nothing to drain
	}
	// Before the first claim: the SLAs the view shows, and which queues are paused.
	err := retryForever(ctx, w.log, "save SLAs", func() error {
		if err := c.SyncSLAs(ctx); err != nil {
			return err
		}
		return w.refreshPaused(ctx)
	})
	if err != nil {
		w.deregister()
		return nil
	}
	w.log.Info().Int64("worker_id", w.id.Load()).Str("queues", w.queueList()).Msg("worker started")
	c.cfg.Observer.Started(w.id.Load())

	completerDone := make(chan struct{})
	go func() { defer close(completerDone); w.runCompleter() }()

	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Add(3)
	go func() { defer bg.Done(); w.runHeartbeat(bgCtx) }()
	go func() { defer bg.Done(); w.runMaintenance(ctx) }()
	go func() { defer bg.Done(); w.runLeadership(ctx) }()

	var producersWG sync.WaitGroup
	for _, p := range w.producers {
		producersWG.Add(1)
		go func() { defer producersWG.Done(); w.runProducer(ctx, p) }()
	}
	producersWG.Add(2)
	go func() { defer producersWG.Done(); w.runPoller(ctx) }()
	go func() { defer producersWG.Done(); w.runWaiter(ctx) }()

	<-ctx.Done()
	c.cfg.Observer.Stopping()
	producersWG.Wait()
	for _, p := range w.producers {
		w.releaseUnstarted(p.takeReady(true))
	}
	w.drain()
	w.resultsMu.Lock()
	w.resultsClosed = true
	close(w.results)
	w.resultsMu.Unlock()
	<-completerDone
	stopBackground()
	bg.Wait()
	w.deregister()
	w.log.Info().Msg("worker stopped")
	return nil
}

func (w *worker) queueList() string {
	var qs []string
	for q, p := range w.producers {
		qs = append(qs, fmt.Sprintf("%s=%d", q, p.concurrency))
	}
	sort.Strings(qs)
	return strings.Join(qs, ",")
}

// register inserts this process's worker row, waiting out database outages.
func (w *worker) register(ctx context.Context) error {
	host, _ := os.Hostname()
	return retryForever(ctx, w.log, "register worker", func() error {
		id, err := w.c.store.q.WorkerInsert(ctx, dbsqlc.WorkerInsertParams{Host: host, Pid: int32(os.Getpid()), Queues: w.queueList(), Kinds: w.c.kindList()})
		if err != nil {
			return err
		}
		w.id.Store(id)
		w.touchedAt.Store(time.Now().UnixNano())
		w.idleLeased.Store(false) // a new row: no idle lease yet
		return nil
	})
}

func (w *worker) deregister() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := w.c.store.q.WorkerDelete(ctx, w.id.Load()); err != nil {
		w.log.Warn().Err(err).Msg("could not remove worker registration; it will expire")
	}
}

// retryForever runs fn until it succeeds or ctx ends, backing off exponentially (up to
// 5 s) with jitter between tries.
func retryForever(ctx context.Context, log zerolog.Logger, what string, fn func() error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0
	return backoff.RetryNotify(fn, backoff.WithContext(b, ctx), func(err error, d time.Duration) {
		log.Warn().Err(err).Dur("retry_in", d).Msgf("%s failed", what)
	})
}

// runHeartbeat says this worker is alive. If its row was deleted (it was declared dead
// while cut off), its running jobs have been given to others: it stops them and
// registers again under a new id.
func (w *worker) runHeartbeat(ctx context.Context) {
	t := time.NewTicker(w.c.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		idle := w.idle()
		if idle && w.idleLeased.Load() && time.Since(time.Unix(0, w.touchedAt.Load())) < w.idleLease()*2/3 {
			continue
		}
		if _, err := w.touchAs(ctx, w.c.store.q, idle); err != nil && ctx.Err() == nil {
			w.log.Warn().Err(err).Msg("heartbeat failed")
		}
	}
}

// idleLease is how long an idle worker's heartbeat keeps it live (iactq_workers
// idle_until): five times RescueAfter (150 s at the defaults). An idle worker (no job
// running, none claimed ahead) holds no claim a rescue would have to give back, and
// must only stay registered (its kinds count as run, `iactq workers` lists it): it
// says it is alive on its waiter's session once its last touch is half the lease old
// (idleBeatOnWait: every second wait of 45 s), and this loop says it for it once the
// touch is two thirds old (100 s: a waiter between sessions, or one whose waits are
// longer). Any claim ends the lease (WorkerTouch), and the worker beats as often as
// before.
func (w *worker) idleLease() time.Duration {
	return 5 * w.c.cfg.RescueAfter
}

// idle tells whether no slot of this worker runs a job and none waits for one.
func (w *worker) idle() bool {
	for _, p := range w.producers {
		p.mu.Lock()
		busy := p.busy > 0 || p.nReady > 0
		p.mu.Unlock()
		if busy {
			return false
		}
	}
	return true
}

// touch says this worker is alive. It returns false if the worker had been declared
// dead: its jobs were then stopped and it registered again.
func (w *worker) touch(ctx context.Context) (bool, error) {
	return w.touchAs(ctx, w.c.store.q, false)
}

// idleBeatOnWait tells whether the waiter, about to wait, should beat first on its
// own session: this worker is idle and its last touch is half the idle lease old (75 s
// at the defaults). A wait lasts at most the safety net (45 s), so an idle waiter beats
// before every second one, 90 s apart, 60 s before its lease would end, on a session it
// holds anyway instead of on a pool session that the pool closes and opens again
// between beats (a SET and a close besides the touch). The heartbeat loop still beats
// when the waiter does not (busy with a claim, or between sessions).
func (w *worker) idleBeatOnWait() bool {
	return w.idle() && time.Since(time.Unix(0, w.touchedAt.Load())) >= w.idleLease()/2
}

// touchAs is touch with the queries of q (the pool, or a held session); idle, it also
// takes an idle lease (idleLease).
func (w *worker) touchAs(ctx context.Context, q *dbsqlc.Queries, idle bool) (bool, error) {
	w.regMu.Lock()
	defer w.regMu.Unlock()
	var n int64
	var err error
	leased := false
	if idle {
		claims := w.claims.Load()
		n, err = q.WorkerTouchIdle(ctx, dbsqlc.WorkerTouchIdleParams{ID: w.id.Load(), LeaseMs: w.idleLease().Milliseconds()})
		// A claim that committed meanwhile ended the lease, or kept it from being
		// taken; its hold clears idleLeased too, should it come after this.
		leased = err == nil && n > 0 && w.claims.Load() == claims
	}
	if !idle || (err == nil && n == 0) {
		// Busy; or the database knows of a running job of this worker (the
		// outcomes of its last jobs not written yet), or lost the row: beat as busy.
		n, err = q.WorkerTouch(ctx, w.id.Load())
	}
	if err != nil {
		return false, err
	}
	w.idleLeased.Store(leased)
	if n == 0 {
		w.recoverLostRegistration(ctx)
		return false, nil
	}
	w.touchedAt.Store(time.Now().UnixNano())
	return true, nil
}

// mayStart tells whether a claimed job may start. A worker that has not touched its
// row for half of RescueAfter (the process was paused, or the database was away) may
// have been declared dead, and its claims given to others: it asks the database before
// starting. A job claimed under a registration the worker has since lost (another
// slot found it lost and registered again) is another's too. The answer is
// errWorkerLost (the job is another's now: drop it), errUnconfirmed (the database did
// not answer: give the job back) or nil.
func (w *worker) mayStart(ctx context.Context, job *JobRow) error {
	// touchedAt is read before the id: register stores the new id, then touchedAt.
	// Read the other way round, a registration completing in between would pair the
	// old id (the job's) with the new registration's fresh touch, and a job claimed
	// under the lost registration would start.
	touched := time.Unix(0, w.touchedAt.Load())
	if job.ClaimedBy != w.id.Load() {
		return ErrWorkerLost
	}
	if time.Since(touched) < w.c.cfg.RescueAfter/2 {
		return nil
	}
	ok, err := w.touch(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", errUnconfirmed, err)
	case !ok || job.ClaimedBy != w.id.Load():
		return ErrWorkerLost
	}
	return nil
}

// errUnconfirmed: the worker could not confirm that it still owns its claims.
var errUnconfirmed = errors.New("could not confirm this worker is still registered")

// recoverLostRegistration stops the jobs of a worker declared dead, gives back the
// ones not started, and registers again. The caller holds regMu.
func (w *worker) recoverLostRegistration(ctx context.Context) {
	old := w.id.Load()
	w.log.Warn().Int64("worker_id", old).Msg("worker was declared dead; stopping its jobs (they run elsewhere) and registering again")
	w.mu.Lock()
	for _, cancel := range w.running {
		cancel(ErrWorkerLost)
	}
	w.mu.Unlock()
	for _, p := range w.producers {
		w.releaseUnstarted(p.takeReady(false))
	}
	if err := w.register(ctx); err == nil {
		w.log.Info().Int64("worker_id", w.id.Load()).Msg("registered again")
	}
}

// releaseUnstarted gives claimed jobs that never started back to the queue, their
// attempt not spent (the completer writes it, fenced by the claim like any outcome).
func (w *worker) releaseUnstarted(jobs []*JobRow) {
	for _, job := range jobs {
		w.deliver(result{job: job, release: true, out: &outcome{prepare: w.c.prepare}})
	}
}

// endIdleLease records a claim, which ends any idle lease of the worker's row.
func (w *worker) endIdleLease() {
	w.claims.Add(1)
	w.idleLeased.Store(false)
}

// hold records jobs this worker claimed, until their outcome is written.
func (w *worker) hold(jobs []*JobRow) {
	// The claim touched the worker's row, which ended any idle lease.
	w.endIdleLease()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, job := range jobs {
		w.held[job.ID] = true
	}
}

// stuckLogEvery is how often the drain logs jobs that ignore their cancellation.
const stuckLogEvery = 10 * time.Second

// drain waits for running jobs to finish within the grace period, then cancels the
// rest (cause ErrShuttingDown); they are put back in the queue by the completer.
//
// A job that ignores its cancellation is waited for, however long it takes, with the
// registration kept alive (the heartbeat runs until Work returns): were the worker to
// deregister, or stop heart-beating, while the job still ran, the job would be
// rescued and run a second time elsewhere, at the same time. So no job runs in this
// process after Work has deregistered. A supervisor that will not wait (systemd's
// TimeoutStopSec) kills the process; its registration then lapses and the job is
// rescued, which is right since it no longer runs.
func (w *worker) drain() {
	done := make(chan struct{})
	go func() { w.jobsWG.Wait(); close(done) }()
	n := w.runningCount()
	if n > 0 {
		w.log.Info().Int("running", n).Dur("grace", w.c.cfg.ShutdownGrace).Msg("draining: waiting for running jobs")
	}
	select {
	case <-done:
		return
	case <-time.After(w.c.cfg.ShutdownGrace):
	}
	w.log.Warn().Int("running", w.runningCount()).Msg("grace period over: stopping running jobs and returning them to the queue")
	w.cancelJobs(ErrShuttingDown)
	t := time.NewTicker(stuckLogEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			w.log.Error().Int("running", w.runningCount()).Msg("jobs ignore their cancellation; waiting for them to return before deregistering, so that they do not run elsewhere at the same time")
		}
	}
}

func (w *worker) runningCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}
