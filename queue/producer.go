package queue

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

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
				heads = w.c.runnable(heads)
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
				if !errors.Is(err, ErrWorkerLost) {
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
