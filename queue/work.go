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

	jobsCtx    context.Context // parent of every job's context; cancelled at hard stop
	cancelJobs context.CancelFunc
	jobsWG     sync.WaitGroup

	mu      sync.Mutex
	running map[int64]context.CancelFunc // job id -> cancel of its context
	held    map[int64]bool               // claimed and not yet recorded: running or in the completer

	paused atomic.Pointer[map[string]bool]

	pollNow  chan struct{} // a wake-up from the binary log
	binlogOK atomic.Bool   // following the binary log: poll slowly
}

// producer claims jobs of one queue whenever it has free slots.
type producer struct {
	queue       string
	concurrency int
	wake        chan struct{}

	mu   sync.Mutex
	busy int // slots running a job
	// ready are claimed jobs waiting for a slot: the prefetch, taken by a slot as
	// its job ends, so that a claim overlaps the jobs of the one before.
	ready   []*JobRow
	stopped bool          // draining: ready jobs are not started any more
	meanRun time.Duration // moving mean of recent run times; 0 until one ended

	// polled holds the heads the poller just read for this queue, so that the
	// producer it wakes need not read them again.
	polled atomic.Pointer[polledHeads]
}

// polledHeads are a queue's oldest available job per kind, and when they were read.
type polledHeads struct {
	rows []dbsqlc.JobClaimHeadsRow
	at   time.Time
}

// prefetchMaxRun is the mean run time under which a producer prefetches: a job
// claimed ahead waits for a slot about that long, hidden from other workers.
const prefetchMaxRun = batchWait

// room tells how many jobs a claim may take now: the free slots, plus a quarter of
// the slots as prefetch while jobs are short, less the jobs already waiting; the most
// it can be (concurrency and prefetch); and whether some slot is running a job.
func (p *producer) room() (n, most int, busy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	most = p.concurrency
	if p.meanRun > 0 && p.meanRun < prefetchMaxRun {
		most += p.concurrency / 4
	}
	return most - p.busy - len(p.ready), most, p.busy > 0
}

// hasFree tells whether a slot is free.
func (p *producer) hasFree() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.busy < p.concurrency
}

// dispatch queues claimed jobs and starts as many as there are free slots.
func (p *producer) dispatch(w *worker, jobs []*JobRow) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready = append(p.ready, jobs...)
	for p.busy < p.concurrency && len(p.ready) > 0 && !p.stopped {
		job := p.ready[0]
		p.ready = p.ready[1:]
		p.busy++
		w.jobsWG.Add(1)
		go w.runSlot(p, job)
	}
}

// next is called by a slot whose job ended after running for ran: it returns the
// next waiting job, or nil after freeing the slot.
func (p *producer) next(ran time.Duration) *JobRow {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.meanRun == 0 {
		p.meanRun = max(ran, time.Nanosecond)
	} else {
		p.meanRun += (ran - p.meanRun) / 16
	}
	if len(p.ready) > 0 && !p.stopped {
		job := p.ready[0]
		p.ready = p.ready[1:]
		return job
	}
	p.busy--
	return nil
}

// takeReady stops starting waiting jobs and returns them (to be released). With stop
// false, jobs claimed later are started again.
func (p *producer) takeReady(stop bool) []*JobRow {
	p.mu.Lock()
	defer p.mu.Unlock()
	jobs := p.ready
	p.ready = nil
	p.stopped = stop
	return jobs
}

func (p *producer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Work registers this process as a worker and runs jobs of the configured queues until
// ctx is cancelled. It then drains: it stops claiming, gives running jobs
// Config.ShutdownGrace to finish, stops the rest and puts them back in the queue, and
// returns. Database outages are waited out with back-off, never returned.
func (c *Client) Work(ctx context.Context) error {
	w := &worker{
		c:         c,
		log:       c.log.With().Str("component", "worker").Logger(),
		producers: map[string]*producer{},
		results:   make(chan result, 4096),
		running:   map[int64]context.CancelFunc{},
		held:      map[int64]bool{},
		pollNow:   make(chan struct{}, 1),
	}
	w.jobsCtx, w.cancelJobs = context.WithCancel(context.WithoutCancel(ctx))
	defer w.cancelJobs()
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
	bg.Add(2)
	go func() { defer bg.Done(); w.runHeartbeat(bgCtx) }()
	go func() { defer bg.Done(); w.runMaintenance(ctx) }()
	if c.cfg.BinlogDSN != "" {
		if f, err := w.binlogFollower(ctx); err != nil {
			w.log.Warn().Err(err).Msg("binlog wake-ups off; polling")
		} else {
			bg.Add(1)
			go func() { defer bg.Done(); f.run(ctx) }()
		}
	}

	var producersWG sync.WaitGroup
	for _, p := range w.producers {
		producersWG.Add(1)
		go func() { defer producersWG.Done(); w.runProducer(ctx, p) }()
	}
	producersWG.Add(1)
	go func() { defer producersWG.Done(); w.runPoller(ctx) }()

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
		id, err := w.c.store.q.WorkerInsert(ctx, dbsqlc.WorkerInsertParams{Host: host, Pid: int32(os.Getpid()), Queues: w.queueList()})
		if err != nil {
			return err
		}
		w.id.Store(id)
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
		n, err := w.c.store.q.WorkerTouch(ctx, w.id.Load())
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn().Err(err).Msg("heartbeat failed")
			}
			continue
		}
		if n == 0 {
			w.recoverLostRegistration(ctx)
		}
	}
}

func (w *worker) recoverLostRegistration(ctx context.Context) {
	old := w.id.Load()
	w.log.Warn().Int64("worker_id", old).Msg("worker was declared dead; stopping its jobs (they run elsewhere) and registering again")
	w.mu.Lock()
	for _, cancel := range w.running {
		cancel()
	}
	w.mu.Unlock()
	for _, p := range w.producers {
		w.releaseUnstarted(p.takeReady(false))
	}
	if err := w.register(ctx); err == nil {
		w.log.Info().Int64("worker_id", w.id.Load()).Msg("registered again")
	}
}

// runPoller looks for available jobs of all this worker's queues in one cheap query
// (a loose scan of the claim index) and wakes the producers of queues that have some.
// It runs every PollInterval, or every IdlePollInterval while the binary log wakes it.
func (w *worker) runPoller(ctx context.Context) {
	queues := make([]string, 0, len(w.producers))
	for q := range w.producers {
		queues = append(queues, q)
	}
	timer := time.NewTimer(w.c.cfg.PollInterval)
	defer timer.Stop()
	failures := 0
	for {
		woken := false
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-w.pollNow:
			woken = true
		}
		interval := w.c.cfg.PollInterval
		if w.binlogOK.Load() {
			interval = w.c.cfg.IdlePollInterval
		}
		if !w.anyFree() {
			timer.Reset(interval)
			continue
		}
		// A binlog event can arrive a moment before its row is visible to others:
		// after a wake-up, look again briefly before giving up.
		tries := 1
		if woken {
			tries = 5
		}
		for try := 0; try < tries; try++ {
			found, err := w.pollOnce(ctx, queues)
			w.c.cfg.Observer.Polled(err)
			if err != nil {
				if ctx.Err() == nil && failures%20 == 0 {
					w.log.Warn().Err(err).Msg("poll for jobs failed")
				}
				failures++
				break
			}
			failures = 0
			if found {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(interval)
	}
}

// pollOnce signals the producers of queues with available jobs.
func (w *worker) pollOnce(ctx context.Context, queues []string) (bool, error) {
	rows, err := w.c.store.q.JobClaimHeadsAll(ctx, queues)
	if err != nil {
		return false, err
	}
	byQueue := map[string][]dbsqlc.JobClaimHeadsRow{}
	for _, r := range rows {
		byQueue[r.Queue] = append(byQueue[r.Queue], dbsqlc.JobClaimHeadsRow{Kind: r.Kind, Oldest: r.Oldest})
	}
	now := time.Now()
	for q, p := range w.producers {
		if heads := byQueue[q]; len(heads) > 0 {
			p.polled.Store(&polledHeads{rows: heads, at: now})
			p.signal()
		}
	}
	return len(rows) > 0, nil
}

// binlogFollower prepares the binary-log wake-ups of this worker.
func (w *worker) binlogFollower(ctx context.Context) (*binlogFollower, error) {
	name, err := w.c.store.q.SessionDatabase(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the queue's database name: %w", err)
	}
	schema := fmt.Sprint(name)
	if b, ok := name.([]byte); ok {
		schema = string(b)
	}
	return &binlogFollower{
		dsn:    w.c.cfg.BinlogDSN,
		schema: schema,
		log:    w.log,
		wake: func() {
			select {
			case w.pollNow <- struct{}{}:
			default:
			}
		},
		healthy: w.binlogOK.Store,
	}, nil
}

func (w *worker) anyFree() bool {
	for _, p := range w.producers {
		if p.hasFree() {
			return true
		}
	}
	return false
}

// releaseUnstarted gives claimed jobs that never started back to the queue, their
// attempt not spent (the completer writes it, fenced by the claim like any outcome).
func (w *worker) releaseUnstarted(jobs []*JobRow) {
	for _, job := range jobs {
		w.deliver(result{job: job, release: true, out: &outcome{prepare: w.c.prepare}})
	}
}

// hold records jobs this worker claimed, until their outcome is written.
func (w *worker) hold(jobs []*JobRow) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, job := range jobs {
		w.held[job.ID] = true
	}
}

// batchWait bounds how long a producer with a few free slots waits for more to free
// up before it claims anyway.
const batchWait = 5 * time.Millisecond

// runProducer claims jobs for one queue while it has free slots and work is there.
func (w *worker) runProducer(ctx context.Context, p *producer) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0
	var lastClaim, headsAt, wakeAt time.Time
	var heads []dbsqlc.JobClaimHeadsRow
	var cursors claimCursors
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		for ctx.Err() == nil {
			if (*w.paused.Load())[p.queue] {
				break
			}
			free, most, busy := p.room()
			if free <= 0 {
				break
			}
			// Claim in batches: while jobs are running, wait up to batchWait after
			// the last claim for room for three quarters of the most it may hold
			// (each finishing job wakes this loop) rather than claim a few jobs per
			// transaction. With short jobs the prefetch keeps the slots busy
			// meanwhile; a lower mark makes a claim start while the previous one's
			// jobs are still ending, and claims then alternate big and small.
			if busy && free < max(1, most*3/4) && time.Since(lastClaim) < batchWait {
				if at := lastClaim.Add(batchWait); at.After(wakeAt) { // one timer per wait
					wakeAt = at
					time.AfterFunc(time.Until(at), p.signal)
				}
				break
			}
			// The heads (oldest job per kind) say which ranges to read: those the
			// poller just read, or, after a claim that found work, the same heads
			// again for up to a second (a kind that appears meanwhile is seen by the
			// poller, whose heads replace these).
			var err error
			if polled := p.polled.Swap(nil); polled != nil && polled.at.After(headsAt) {
				heads, headsAt = polled.rows, polled.at
			}
			if heads == nil || time.Since(headsAt) > time.Second {
				heads, err = w.c.store.q.JobClaimHeads(ctx, p.queue)
				headsAt = time.Now()
				if err == nil && len(heads) == 0 {
					heads = nil
					break
				}
			}
			var jobs []*JobRow
			if err == nil {
				began := time.Now()
				jobs, err = w.c.claim(ctx, w.id.Load(), p.queue, free, heads, &cursors)
				lastClaim = time.Now()
				if err == nil && len(jobs) > 0 {
					w.c.cfg.Observer.Claimed(p.queue, len(jobs), time.Since(began))
				}
				if err != nil || len(jobs) == 0 {
					heads = nil // look again next time
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				d := b.NextBackOff()
				if !errors.Is(err, errWorkerLost) {
					w.log.Warn().Err(err).Str("queue", p.queue).Dur("retry_in", d).Msg("claim failed")
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
				continue
			}
			b.Reset()
			w.hold(jobs)
			p.dispatch(w, jobs)
			if len(jobs) < free {
				break
			}
		}
	}
}

// drain waits for running jobs to finish within the grace period, then cancels the
// rest; they are put back in the queue by the completer.
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
	w.cancelJobs()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		w.log.Error().Int("running", w.runningCount()).Msg("jobs ignored cancellation; once this worker is gone, others put them back in the queue")
	}
}

func (w *worker) runningCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}
