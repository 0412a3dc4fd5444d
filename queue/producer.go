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
	// ready are claimed jobs waiting for a slot (the prefetch), taken by a slot as its
	// job ends, so that a claim overlaps the jobs of the one before. They are kept by
	// SLA class, in claim order within each: a slot takes the most urgent first, so an
	// OVERDUE job claimed after a batch of NORMAL ones does not wait behind them.
	ready   [numClasses][]*JobRow
	nReady  int
	stopped bool          // draining: ready jobs are not started any more
	meanRun time.Duration // moving mean of recent run times; 0 until one ended

	// polled holds the heads the poller just read for this queue, so that the
	// producer it wakes need not read them again.
	polled atomic.Pointer[polledHeads]
}

// polledHeads are a queue's oldest available job per kind, and when they were read;
// handed: the leader's watcher handed them over from an insert's row images, before
// the row may be visible (claimGate.unseenTries).
type polledHeads struct {
	rows   []dbsqlc.JobClaimHeadsRow
	at     time.Time
	handed bool
}

// aheadWork bounds the work a producer holds claimed ahead of its slots: the jobs
// waiting for a slot are expected, by the queue's recent mean run time in a slot, to
// have all started within aheadWork. Short jobs are then claimed by the hundred or the
// thousand, which keeps the claims few and big whatever the concurrency; jobs that run
// longer than aheadWork are claimed one per free slot, never ahead of one, so that
// they are left to workers with a free slot. It is also about how long an OVERDUE job
// can wait behind jobs claimed before it appeared (see
// TestOverdueWaitsAtMostTheClaimedAhead, which counts them).
const aheadWork = 100 * time.Millisecond

// aheadMax caps the jobs a producer holds claimed ahead of its slots, however short
// they are: a claim of that many rows is about the size at which the simplest claim
// loop stops gaining (FIELD-NOTES: 37-56k jobs/s at 1 000 per claim).
const aheadMax = 1000

// aheadFor is how many jobs a producer with slots slots may hold claimed ahead of them
// when its jobs run meanRun on average in a slot: as many as the slots start within
// aheadWork, at most aheadMax; none for jobs longer than aheadWork, and none before a
// job has ended.
//
// meanRun is a slot's wall time per job: with more jobs running than cores, it
// includes the waits for a core, and so counts the slots' real pace.
func aheadFor(meanRun time.Duration, slots int) int {
	if meanRun <= 0 || meanRun > aheadWork {
		return 0
	}
	return int(min(aheadMax, aheadWork*time.Duration(slots)/meanRun))
}

// room tells how many jobs a claim may take now: the most the producer may hold (its
// slots and the jobs it may hold ahead of them) less the jobs running and waiting;
// that most; and whether some slot is running a job.
func (p *producer) room() (n, most int, busy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	most = p.concurrency + aheadFor(p.meanRun, p.concurrency)
	return most - p.busy - p.nReady, most, p.busy > 0
}

// hasFree tells whether a slot is free.
func (p *producer) hasFree() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.busy < p.concurrency
}

// dispatch queues claimed jobs, by the SLA class each is in at now under slas, and
// starts as many as there are free slots.
func (p *producer) dispatch(w *worker, jobs []*JobRow, slas map[string]SLA, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, job := range jobs {
		r := slaFor(slas, job.Kind).ClassAt(job.ScheduledAt, now).rank()
		p.ready[r] = append(p.ready[r], job)
	}
	p.nReady += len(jobs)
	for p.busy < p.concurrency && p.nReady > 0 && !p.stopped {
		p.busy++
		w.jobsWG.Add(1)
		go w.runSlot(p, p.popReady())
	}
}

// popReady takes the first waiting job of the most urgent class. The caller holds mu
// and knows one is waiting.
func (p *producer) popReady() *JobRow {
	for r, jobs := range p.ready {
		if len(jobs) > 0 {
			job := jobs[0]
			jobs[0] = nil // not kept alive by the backing array
			p.ready[r] = jobs[1:]
			p.nReady--
			return job
		}
	}
	panic("popReady: no job waiting")
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
	if p.nReady > 0 && !p.stopped {
		return p.popReady()
	}
	p.busy--
	return nil
}

// takeReady stops starting waiting jobs and returns them (to be released). With stop
// false, jobs claimed later are started again.
func (p *producer) takeReady(stop bool) []*JobRow {
	p.mu.Lock()
	defer p.mu.Unlock()
	jobs := make([]*JobRow, 0, p.nReady)
	for r := range p.ready {
		jobs = append(jobs, p.ready[r]...)
		p.ready[r] = nil
	}
	p.nReady = 0
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
	// ahead is the heads read started after the last claim (nil if none is).
	var ahead *headsAhead
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
	look:
		for ctx.Err() == nil {
			if ahead != nil && ahead.ready() {
				ahead = gate.takeAhead(ahead, w.c.runnable)
			}
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
				if ahead != nil {
					// Read since the last claim: wait for it rather than read again.
					select {
					case <-ctx.Done():
						return
					case <-ahead.done:
					}
					ahead = gate.takeAhead(ahead, w.c.runnable)
					continue
				}
				var heads []dbsqlc.JobClaimHeadsRow
				if heads, err = w.c.store.claimHeadsUncommitted(ctx, p.queue); err == nil {
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
				if err != nil {
					// Its commit may have landed, the answer lost: the idle lease is
					// ended, and the check of this worker's claims is due again.
					w.endIdleLease()
				}
				if err == nil {
					b.Reset()
					if len(jobs) > 0 {
						w.c.cfg.Observer.Claimed(p.queue, len(jobs), time.Since(began))
					}
					if len(jobs) == d.n && gate.headsSpent(most) {
						// The next claim will need the heads read again: read them
						// now, while the slots run these jobs, not when it is due.
						ahead = w.readHeadsAhead(ctx, p.queue)
					}
					w.hold(jobs)
					p.dispatch(w, jobs, w.c.cfg.SLAs, w.c.now())
					if len(jobs) < d.n {
						if at, ok := gate.lookAgain(); ok {
							time.AfterFunc(time.Until(at), p.signal)
						}
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

// headsAhead is a read of a queue's heads started right after a claim, so that the
// next claim, which needs them read again, does not wait for the read.
type headsAhead struct {
	done  chan struct{} // closed when the read ended
	at    time.Time     // when the read started
	heads []dbsqlc.JobClaimHeadsRow
	err   error
}

func (a *headsAhead) ready() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// readHeadsAhead starts reading queue's heads.
func (w *worker) readHeadsAhead(ctx context.Context, queue string) *headsAhead {
	a := &headsAhead{done: make(chan struct{}), at: time.Now()}
	go func() {
		defer close(a.done)
		a.heads, a.err = w.c.store.claimHeadsUncommitted(ctx, queue)
	}()
	return a
}
