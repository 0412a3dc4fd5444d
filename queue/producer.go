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

// runProducer claims jobs for one queue while it has free slots and work is there.
func (w *worker) runProducer(ctx context.Context, p *producer) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0
	var gate claimGate
	var cursors claimCursors
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
	look:
		for ctx.Err() == nil {
			free, most, busy := p.room()
			d := gate.decide(time.Now(), (*w.paused.Load())[p.queue], free, most, busy, p.polled.Swap(nil))
			var err error
			switch d.action {
			case claimNothing:
				break look
			case claimLater:
				if !d.wakeAt.IsZero() {
					time.AfterFunc(time.Until(d.wakeAt), p.signal)
				}
				break look
			case claimReadHeads:
				var heads []dbsqlc.JobClaimHeadsRow
				if heads, err = w.c.store.q.JobClaimHeads(ctx, p.queue); err == nil {
					if !gate.gotHeads(time.Now(), w.c.runnable(heads)) {
						break look
					}
					continue
				}
			case claimNow:
				began := time.Now()
				var jobs []*JobRow
				jobs, err = w.c.claim(ctx, w.id.Load(), p.queue, d.n, gate.heads, &cursors)
				gate.claimed(time.Now(), len(jobs), err)
				if err == nil {
					b.Reset()
					if len(jobs) > 0 {
						w.c.cfg.Observer.Claimed(p.queue, len(jobs), time.Since(began))
					}
					w.hold(jobs)
					p.dispatch(w, jobs)
					if len(jobs) < d.n {
						break look
					}
					continue
				}
			}
			if ctx.Err() != nil {
				return
			}
			delay := b.NextBackOff()
			if !errors.Is(err, ErrWorkerLost) {
				w.log.Warn().Err(err).Str("queue", p.queue).Dur("retry_in", delay).Msg("claim failed")
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
	}
}
