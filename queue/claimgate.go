package queue

import (
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// batchWait bounds how long a producer with a few free slots waits for more to free
// up before it claims anyway.
const batchWait = 5 * time.Millisecond

// headsFor is how long heads that led to a claim that found work are used again
// without reading them anew (a kind that appears meanwhile is seen by the poller,
// whose heads replace these), as long as the claims made with them took no more jobs
// than the producer may hold: heads read before an OVERDUE job appeared do not show
// its range, and the claims made with them must not take more than that.
const headsFor = time.Second

// claimGate is a producer's claim decision: each time the producer looks, whether it
// claims now, how many jobs, and with which heads (the oldest available job per
// kind, which say which ranges of the claim index to read). It holds what the
// decision depends on across claims and does no I/O, so that it is tested alone
// (TestClaimGate); runProducer acts on its decisions.
type claimGate struct {
	lastClaim time.Time // when the last claim ended
	timerAt   time.Time // the wake-up already set for the end of a batch wait
	heads     []dbsqlc.JobClaimHeadsRow
	headsAt   time.Time
	// headsTook is how many jobs the claims made with these heads took.
	headsTook int
	// unseenTries is how many more times claims that find nothing look again, a
	// millisecond apart, with heads the leader's watcher handed over from an insert's
	// row images: the binary log has the insert a moment before its row is visible
	// (MariaDB writes the log before the engine commits), and a claim that skips the
	// row still locked by the insert would leave the job to the watcher's check a
	// PollInterval later.
	unseenTries int
	// lookAgainAt is when a claim that found nothing looks again (zero: it does not).
	lookAgainAt time.Time
}

// handedTries is how many times claims look again for jobs handed over from an
// insert's row images (unseenTries): 1 + 2 + 3 ms in all.
const handedTries = 3

type claimAction int

const (
	// claimNothing: nothing to claim until the producer is woken again (the queue
	// is paused, no slot is free, or the queue has no job).
	claimNothing claimAction = iota
	// claimLater: wait for more room to claim a batch; wake the producer at wakeAt
	// unless it is zero (a wake-up for that wait is already set).
	claimLater
	// claimReadHeads: read the heads, give them to gotHeads, and decide again.
	claimReadHeads
	// claimNow: claim up to n jobs with the gate's heads, then tell claimed.
	claimNow
)

type claimDecision struct {
	action claimAction
	n      int
	wakeAt time.Time
}

// decide is the decision at now, given whether the queue is paused, the room the
// producer has (free slots, the most it may hold, whether a slot runs a job), and the
// heads the poller just read for this queue (nil if none).
func (g *claimGate) decide(now time.Time, paused bool, free, most int, busy bool, polled *polledHeads) claimDecision {
	if polled != nil && polled.at.After(g.headsAt) {
		// headsTook goes on counting: the poller's heads may have been read before
		// the gate's own last claims, and do not restart the budget.
		g.heads, g.headsAt = polled.rows, polled.at
		g.unseenTries = 0
		if polled.handed {
			g.unseenTries = handedTries
		}
	}
	if paused || free <= 0 {
		return claimDecision{action: claimNothing}
	}
	// Claim in batches: while jobs are running, wait up to batchWait after the last
	// claim for room for three quarters of the most it may hold (each finishing job
	// wakes the producer) rather than claim a few jobs per transaction. With short
	// jobs the prefetch keeps the slots busy meanwhile; a lower mark makes a claim
	// start while the previous one's jobs are still ending, and claims then
	// alternate big and small.
	if busy && free < max(1, most*3/4) && now.Sub(g.lastClaim) < batchWait {
		d := claimDecision{action: claimLater}
		if at := g.lastClaim.Add(batchWait); at.After(g.timerAt) { // one timer per wait
			g.timerAt, d.wakeAt = at, at
		}
		return d
	}
	// Heads are used again for a second at most, and for no more jobs, this claim's
	// included, than the producer may hold. So the claims that start after a job
	// appears and do not see it take at most that many: an OVERDUE job in a range the
	// heads did not show waits behind at most one producer's worth of jobs more.
	if g.heads == nil || now.Sub(g.headsAt) > headsFor || g.headsTook+free > most {
		return claimDecision{action: claimReadHeads}
	}
	return claimDecision{action: claimNow, n: free}
}

// gotHeads takes heads read at now. It returns false when there are none: nothing to
// claim.
func (g *claimGate) gotHeads(now time.Time, heads []dbsqlc.JobClaimHeadsRow) bool {
	if len(heads) == 0 {
		heads = nil
	}
	g.heads, g.headsAt, g.headsTook, g.unseenTries = heads, now, 0, 0
	return heads != nil
}

// claimed takes the result of a claim that ended at now: n jobs, or err. A claim
// that failed or found nothing makes the heads be read again next time, except one
// with heads handed over from an insert's row images: it keeps them, and looks again
// soon (lookAgain).
func (g *claimGate) claimed(now time.Time, n int, err error) {
	g.lastClaim = now
	g.headsTook += n
	switch {
	case err == nil && n == 0 && g.unseenTries > 0:
		g.lookAgainAt = now.Add(time.Duration(handedTries-g.unseenTries+1) * time.Millisecond)
		g.unseenTries--
	case err != nil || n == 0:
		g.heads, g.unseenTries = nil, 0
	default:
		g.unseenTries = 0
	}
}

// lookAgain tells, after a claim that took fewer jobs than it asked for, when the
// producer looks again by itself (false: it waits to be woken).
func (g *claimGate) lookAgain() (time.Time, bool) {
	at := g.lookAgainAt
	g.lookAgainAt = time.Time{}
	return at, !at.IsZero()
}

// headsSpent tells, after a claim, whether the heads have served claims of so many
// jobs that a claim of the batch the producer waits for (three quarters of most) will
// need them read again.
func (g *claimGate) headsSpent(most int) bool {
	return g.heads != nil && g.headsTook+max(1, most*3/4) > most
}

// takeAhead takes the result of a heads read started after the gate's last claim
// (headsAhead: its start is after that claim ended, so the heads show every job that
// claim left, and restart the count as heads the gate waited for would). A read that
// failed or found nothing is dropped: the heads are then read when they are due, as
// without it. It returns nil: the read is used up.
func (g *claimGate) takeAhead(a *headsAhead, runnable func([]dbsqlc.JobClaimHeadsRow) []dbsqlc.JobClaimHeadsRow) *headsAhead {
	if a.err == nil && a.at.After(g.lastClaim) {
		if heads := runnable(a.heads); len(heads) > 0 {
			g.gotHeads(a.at, heads)
		}
	}
	return nil
}
