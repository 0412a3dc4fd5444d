package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/iact/iactq/internal/dberr"
	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// The doorbell: how the leader wakes every idle worker process through MySQL itself
// (MySQL has no LISTEN/NOTIFY). docs/wakeups.md tells the design.
//
// The leader holds the bell row (iactq_doorbell id 1) locked in an open transaction.
// An idle worker waits on it with a locking read (LOCK IN SHARE MODE) on a session of
// its own, for at most Config.IdlePollInterval (the session's
// innodb_lock_wait_timeout, the safety net). To ring, the leader adds one to the
// generation and commits: every waiter is granted at once, reads the new generation,
// and looks for work; the leader locks the bell again at once (a waiter that comes
// back meanwhile queues behind it). A waiter granted the generation it already knew
// was not rung: either it came back between the commit and the lock again (it waits
// again), or no leader holds the bell (its session ended). Then the presence row
// says which (see leader.go): the waiter stands for election, and polls every
// fallbackPollFactor x PollInterval (at most 1 s) until a leader holds the bell again.

// fallbackPollFactor: without a leader, workers poll every this many PollIntervals
// (at most every second).
const fallbackPollFactor = 5

// notRungRetries is how many times a waiter granted without a ring waits again before
// it takes the leader for gone: after 1, 2, 4 ... 32 ms, 63 ms in all. Most likely it
// came back between a ring's commit and the leader's lock again, and a leader that
// the waiters it just rang keep from the CPU (50 idle processes woken at once by a
// sweep, on two cores) can take several milliseconds to lock the bell again. A waiter
// that took it for gone stood for election and polled, about ten statements, each
// waiter of the fleet at each sweep (docs/wakeups.md, "What idle costs"); a leader
// really gone is taken for gone 57 ms later than after 1, 2, 3 ms.
const notRungRetries = 6

// slowReturn: a waiter that comes back to the bell later than this after its last
// wait returned reads the generation first (the leader rings at most every few ms).
const slowReturn = 2 * time.Millisecond

// activeWait is the wait on the bell for activeFor after a ring: a ring missed while
// work comes costs at most that long.
const (
	activeWait = time.Second
	activeFor  = 10 * time.Second
)

// groupSize is about how many idle processes one ring sets looking for work: the
// leader splits the seated waiters into groups of this many by seat (by worker id
// where there are no seats), and a ring names one (docs/wakeups.md, "Rings wake a
// group"). A ring's other waiters wait again at once.
const groupSize = 4

// bellSeats is how many idle processes at most wait on the bell: each holds a seat (a
// named lock of its session) while it does; the others wait for their seat, worker id
// MOD bellSeats (docs/wakeups.md, "Seats bound the herd"). sql/leader.sql's SeatTake
// tries as many. A ring grants every
// waiter on the bell at once, and with 50 of them that herd, on a small machine, set
// the latency (p50 11.8 ms and p99 60 ms against 7.7 and 21 ms with about 5 waiting,
// measured with iactq bench).
const bellSeats = 8

// seatBusyFor is how long a seated waiter keeps its seat while every slot is busy: a
// draining worker's slots free up and fill again many times a second, and giving the
// seat up and taking it again each time cost two statements.
const seatBusyFor = time.Second

// rotateGroups marks a rotating ring (wake_groups -1): the work rung for is still
// there after a ring to every seated waiter, so every one looks and then gives its
// seat to the next waiter in line, until the work is taken or every process had a
// seat.
const rotateGroups = -1

// fleetSizeEvery is how often the leader counts the fleet to size the groups.
const fleetSizeEvery = 5 * time.Second

// headsEvery is how often the leader's watcher reads the claim heads when polling
// though the jobs' highest id did not move: jobs made available without an insert
// (a retry, a release, a resumed queue) wait at most about this long for a ring,
// while the heads are cheap to read (headsEveryAfter).
const headsEvery = 100 * time.Millisecond

// headsCostShare bounds the server time the watcher's periodic read of the heads
// takes: the next one comes at least headsCostShare times the last one's duration
// after it. During a drain the read steps over the index entries of every job
// claimed lately, which the server purges only later, and took 10-30 ms (measured
// with the slow query log, `iactq bench` drain at the defaults): every 100 ms, a
// tenth to a third of one server thread spent on heads that only say the backlog is
// still there.
const headsCostShare = 20

// headsEveryAfter is how long after a periodic read of the heads that took took the
// next one is due.
func headsEveryAfter(took time.Duration) time.Duration {
	return max(headsEvery, headsCostShare*took)
}

// sweepGroups marks the leader's sweep (wake_groups 0): a ring to every waiter that
// is their periodic look for work, not a sign that work is coming.
const sweepGroups = 0

// designated tells whether the waiter of worker id looks for work at a ring of
// generation gen that split the waiters into groups groups.
func designated(id, gen int64, groups int32) bool {
	if groups <= 1 {
		return true
	}
	g := int64(groups)
	return ((id%g)+g)%g == ((gen%g)+g)%g
}

// widerGroups is the split of the next ring for work a ring's group left waiting: a
// quarter as many groups (four times as many waiters), down to the whole fleet.
func widerGroups(groups int) int {
	return max(1, (groups+3)/4)
}

// maxBellWait bounds one wait on the bell below the driver's read timeout.
const maxBellWait = 50 * time.Second

// watch is the leader's watcher: it holds the bell and rings it when new work
// appears, by the binary log when it can be followed (with Config.BinlogDSN when set,
// else with the worker's own Config.DSN; not with BinlogOff), else by reading the
// claim heads every PollInterval. It returns nil when ctx ends, and an error when it
// lost the bell.
func (w *worker) watch(ctx context.Context) error {
	bell, err := w.c.store.holdSession(ctx, heldIdleTimeout, bellRelockWait)
	if err != nil {
		return err
	}
	defer bell.close()
	var tx *sql.Tx
	lock := func() error {
		var err error
		if tx, err = bell.conn.BeginTx(ctx, nil); err != nil {
			return fmt.Errorf("hold the doorbell: begin: %w", err)
		}
		if _, err = bell.q.WithTx(tx).BellLock(ctx); err != nil {
			_ = tx.Rollback()
			tx = nil
			return fmt.Errorf("hold the doorbell: %w", err)
		}
		return nil
	}
	// The bell may still be held by a leader that is gone (paused: its session ends
	// after heldIdleTimeout): wait for it a while.
	for try := 0; ; try++ {
		err := lock()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if try >= 3 || !dberr.IsLockBusy(err) {
			return err
		}
	}
	defer func() {
		if tx != nil {
			_ = tx.Rollback()
		}
	}()
	// This process's waiter may be polling without a leader: it may wait now.
	select {
	case w.belled <- struct{}{}:
	default:
	}
	// The fleet is split into groups of about groupSize: a ring for new work sets one
	// group looking. pending are the heads it rang for; while a poll later one is still
	// there, unchanged (that group is busy, or does not serve its queue), the next ring
	// wakes a wider split, up to the whole fleet.
	groups, fleet, sizedAt := 1, 1, time.Time{}
	// seen are the heads of the last look, later those of them that had moved later
	// (newWork).
	var seen, later, pending map[headKey]time.Time
	pendingGroups, rotations := 0, 0
	// taken: this process took pending itself, and rang no one (takeItself); pendingAt:
	// when pending was rung for, or taken.
	taken := false
	var pendingAt time.Time
	// No sweep at once: the waiters looked for work when they started, or when the
	// last leader's bell was let go (granted without a ring).
	rungAt := time.Now()
	lastStatement := time.Now() // on the bell's session, which the server ends when idle
	// ring rings for waiters split into groups groups, carrying heads (nil: none, and
	// the group rung reads them).
	ring := func(groups int, heads map[headKey]time.Time) error {
		if _, err := bell.q.WithTx(tx).BellRing(ctx, dbsqlc.BellRingParams{WakeGroups: int32(groups), Heads: encodeHeads(heads, groups == sweepGroups)}); err != nil {
			return fmt.Errorf("ring the doorbell: %w", err)
		}
		err := tx.Commit()
		tx = nil
		if err != nil {
			return fmt.Errorf("ring the doorbell: commit: %w", err)
		}
		w.c.rings.Add(1)
		rungAt = time.Now()
		lastStatement, pendingAt = rungAt, rungAt
		return lock()
	}
	// ringFor rings for the new work in fresh: one group, or a wider split when the
	// last ring's work is still there. With takeFirst, this process takes fresh itself
	// when it can (takeItself), and rings a group only when it is still there at the
	// next check.
	ringFor := func(fresh map[headKey]time.Time, takeFirst bool) error {
		if time.Since(sizedAt) >= fleetSizeEvery {
			if n, err := w.c.store.q.WorkerCount(ctx); err == nil {
				// The seated waiters, at most bellSeats, are the ones a ring reaches.
				fleet = int(n)
				groups = max(1, (min(fleet, bellSeats)+groupSize-1)/groupSize)
			}
			sizedAt = time.Now()
		}
		switch {
		case len(fresh) > 0 && takeFirst && w.takeItself(fresh):
			pending, pendingGroups, rotations, taken, pendingAt = fresh, groups, 0, true, time.Now()
			w.c.taken.Add(1)
			return nil
		case len(fresh) > 0:
			pending, pendingGroups, rotations, taken = fresh, groups, 0, false
		case pending == nil:
			return nil
		case time.Since(pendingAt) < w.c.cfg.PollInterval/2:
			return nil // too soon to tell whether the group took it
		case taken && stillWaiting(pending, seen):
			taken = false // this process did not take it: ring a group
		case pendingGroups > 1 && stillWaiting(pending, seen):
			pendingGroups = widerGroups(pendingGroups)
		case rotations <= fleet/bellSeats && stillWaiting(pending, seen):
			// Every seated waiter looked and the work is still there (none of them
			// serves its queue, or all are busy): they give their seats to the next
			// in line, once per bellSeats processes of the fleet.
			rotations++
			pendingGroups = rotateGroups
		default:
			pending = nil
			return nil
		}
		return ring(pendingGroups, seen)
	}

	events := newBinlogEvents()
	var followers sync.WaitGroup
	defer followers.Wait()
	if dsn, _ := w.c.binlogSource(); dsn != "" {
		if f, err := w.binlogFollower(ctx, events); err != nil {
			w.log.Warn().Err(err).Msg("binlog wake-ups off; polling")
		} else {
			followers.Add(1)
			go func() { defer followers.Done(); f.run(ctx) }()
		}
	}

	// look reads the claim heads and rings for what is new, and sweeps. Polling, it
	// reads the heads when the jobs' highest id moved (an insert), when a chore made
	// jobs available (force), while a ring's work may be left waiting, and at least
	// every headsEvery, or 20 times as long as the last read took (headsEveryAfter),
	// for jobs made available otherwise: a retry, a release, a resumed queue. The
	// highest id is one page; the heads step over the claim index's entries of every
	// job claimed lately, which in a drain cost the server about as much as the claims
	// themselves when read every poll_interval.
	var failures int
	lastTop := int64(-1)
	var headsAt time.Time
	var headsTook time.Duration // how long the last read of the heads took
	look := func(force bool) error {
		// The sweep: with no ring for most of the safety net, a ring to every waiter,
		// carrying the heads, is every idle worker's look for work, in place of each
		// one's timeout and claim-heads read.
		sweep := time.Since(rungAt) >= w.c.cfg.IdlePollInterval*9/10
		if following := w.c.followsBinlog.Load(); following && !force {
			// Following the binary log, the heads are read only to widen a ring
			// whose work is still there, and for the sweep.
			if (pending == nil && !sweep) || time.Since(pendingAt) < w.c.cfg.PollInterval {
				return nil
			}
		} else if !following && !force && !sweep && pending == nil && time.Since(headsAt) < headsEveryAfter(headsTook) {
			if top, err := w.c.store.q.JobMaxID(ctx); err == nil {
				if top == lastTop {
					return nil
				}
				lastTop = top
			}
		}
		began := time.Now()
		heads, err := w.c.store.q.JobHeadsEveryQueue(ctx)
		if err != nil {
			if ctx.Err() == nil && failures%100 == 0 {
				w.log.Warn().Err(err).Msg("watch for new work: read the claim heads")
			}
			failures++
			return nil
		}
		failures = 0
		headsAt = time.Now()
		headsTook = headsAt.Sub(began)
		var fresh map[headKey]time.Time
		seen, later, fresh = newWork(seen, later, heads, *w.paused.Load())
		if len(fresh) > 0 || pending != nil {
			if err := ringFor(fresh, false); err != nil {
				return err
			}
		}
		if time.Since(rungAt) >= w.c.cfg.IdlePollInterval*9/10 {
			return ring(sweepGroups, seen)
		}
		return nil
	}

	// Work already there when this process was elected is rung for at once.
	if err := look(true); err != nil {
		return err
	}
	poll := time.NewTicker(w.c.cfg.PollInterval)
	defer poll.Stop()
	ping := time.NewTicker(heldPingEvery)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-events.signal:
			inserted, unknown := events.take()
			if fresh := insertedWhereNone(seen, inserted, *w.paused.Load(), w.c.now()); !unknown && len(fresh) > 0 && len(fresh) == len(inserted) {
				// Inserts of due jobs where the last look saw none: take them here,
				// or ring for them, at once, with the heads their row images give,
				// rather than read the heads first (a read, and a moment for the row
				// to be visible, on the way to every job started). Any other event
				// reads the heads.
				if seen == nil {
					seen = make(map[headKey]time.Time, len(fresh))
				}
				maps.Copy(seen, fresh)
				if err := ringFor(fresh, true); err != nil {
					return err
				}
				w.c.insertRings.Add(1)
				continue
			}
			var fresh map[headKey]time.Time
			// The event can come a moment before its row is visible (MariaDB writes
			// the binary log before the engine commits): ring once the heads show
			// new work, or after 10 looks whatever they show.
			for try := 0; try < 10 && ctx.Err() == nil; try++ {
				heads, err := w.c.store.q.JobHeadsEveryQueue(ctx)
				if err == nil {
					if seen, later, fresh = newWork(seen, later, heads, *w.paused.Load()); len(fresh) > 0 {
						break
					}
				}
				time.Sleep(time.Millisecond)
			}
			if len(fresh) == 0 {
				// Not visible yet after 10 looks: ring the whole fleet rather than
				// lose the event.
				pending, pendingGroups = nil, 1
				if err := ring(1, nil); err != nil {
					return err
				}
			} else if err := ringFor(fresh, false); err != nil {
				return err
			}
		case <-poll.C:
			if err := look(false); err != nil {
				return err
			}
		case <-w.watchNow:
			if err := look(true); err != nil {
				return err
			}
		case <-ping.C:
			if time.Since(lastStatement) < heldPingEvery/2 {
				continue
			}
			// Locking again the row this transaction holds answers at once.
			if _, err := bell.q.WithTx(tx).BellLock(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("hold the doorbell: %w", err)
			}
			lastStatement = time.Now()
		}
	}
}

type headKey struct{ queue, kind string }

// newWork compares the claim heads just read (the oldest available job per queue and
// kind, of queues not paused) with those seen before, and returns them (now) and those
// that show new work an idle worker should look for (fresh): a head that is new, or
// moved earlier (a job older than the oldest came: a retry, a release). A head that is
// gone, or moved later, is work taken: its oldest job was claimed. During a drain the
// heads move later all the time, and ringing for each move cost the draining server
// about 15 ring transactions a second (BenchmarkDrain). A head that moved later is
// returned in nowLater, and it is fresh at the next look if it is still there,
// unchanged (later: the last look's nowLater): the claimer that took the jobs before
// it had no room for it, and another worker should look.
func newWork(seen, later map[headKey]time.Time, heads []dbsqlc.JobHeadsEveryQueueRow, paused map[string]bool) (now, nowLater, fresh map[headKey]time.Time) {
	now = make(map[headKey]time.Time, len(heads))
	for _, h := range heads {
		if paused[h.Queue] {
			continue
		}
		k := headKey{h.Queue, h.Kind}
		now[k] = h.Oldest
		old, ok := seen[k]
		switch {
		case !ok || h.Oldest.Before(old), old.Equal(h.Oldest) && later[k].Equal(h.Oldest):
			if fresh == nil {
				fresh = map[headKey]time.Time{}
			}
			fresh[k] = h.Oldest
		case h.Oldest.After(old):
			if nowLater == nil {
				nowLater = map[headKey]time.Time{}
			}
			nowLater[k] = h.Oldest
		}
	}
	return now, nowLater, fresh
}

// insertedWhereNone returns, of the heads an insert's row images gave (inserted), those
// of queues not paused and kinds the last look (seen) found no job of, due at now:
// new work for certain, without reading the heads. A head seen already is left to a
// read: its work may still be there (a backlog, whose inserts ring for nothing), or
// be gone since.
func insertedWhereNone(seen, inserted map[headKey]time.Time, paused map[string]bool, now time.Time) map[headKey]time.Time {
	var fresh map[headKey]time.Time
	for k, at := range inserted {
		if _, ok := seen[k]; ok || paused[k.queue] || at.After(now) {
			continue
		}
		if fresh == nil {
			fresh = make(map[headKey]time.Time, len(inserted))
		}
		fresh[k] = at
	}
	return fresh
}

// maxBellHeads bounds the heads a ring carries; with more, waiters read them.
const maxBellHeads = 100

// bellHead is one claim head as a ring carries it.
type bellHead struct {
	Queue  string    `json:"q"`
	Kind   string    `json:"k"`
	Oldest time.Time `json:"t"`
}

// encodeHeads writes the heads a ring carries: NULL when there are too many, or none
// for a ring for new work (the group rung reads them). The sweep's heads, read just
// before it, are every idle worker's look: when there are none it carries an empty
// list, and no waiter reads them again (docs/wakeups.md, "What idle costs").
func encodeHeads(heads map[headKey]time.Time, sweep bool) sql.NullString {
	if len(heads) > maxBellHeads || (len(heads) == 0 && !sweep) {
		return sql.NullString{}
	}
	out := make([]bellHead, 0, len(heads))
	for k, at := range heads {
		out = append(out, bellHead{Queue: k.queue, Kind: k.kind, Oldest: at})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}

// decodeHeads reads the heads a ring carried; false when it carried none (NULL: the
// waiter reads them). An empty list is carried: the leader found no work.
func decodeHeads(s sql.NullString) ([]dbsqlc.JobHeadsEveryQueueRow, bool) {
	if !s.Valid {
		return nil, false
	}
	var in []bellHead
	if err := json.Unmarshal([]byte(s.String), &in); err != nil || in == nil {
		return nil, false
	}
	rows := make([]dbsqlc.JobHeadsEveryQueueRow, len(in))
	for i, h := range in {
		rows[i] = dbsqlc.JobHeadsEveryQueueRow{Queue: h.Queue, Kind: h.Kind, Oldest: h.Oldest}
	}
	return rows, true
}

// stillWaiting tells whether a head rung for is still there, unchanged: no one took
// that job since.
func stillWaiting(rungFor, heads map[headKey]time.Time) bool {
	for k, at := range rungFor {
		if now, ok := heads[k]; ok && now.Equal(at) {
			return true
		}
	}
	return false
}

// runWaiter waits on the doorbell while this worker has a free slot, and has the
// poller look for work at each ring, at each safety-net timeout, and every
// fallbackPollFactor x PollInterval while no leader rings. A worker with no free
// slot does not wait: its producers claim as their slots free up.
func (w *worker) runWaiter(ctx context.Context) {
	var s *heldSession
	defer func() {
		if s != nil {
			s.close()
		}
	}()
	lockWait := min(w.c.cfg.IdlePollInterval, maxBellWait)
	fallback := min(fallbackPollFactor*w.c.cfg.PollInterval, time.Second)
	seen := int64(-1) // the generation last heard; -1: not read yet
	notRung, failures := 0, 0
	var stoodAt time.Time  // when this waiter last stood for election, finding no leader
	checkFirst := false    // read the generation before waiting: a ring may have passed
	var lastWait time.Time // when the last wait returned
	shortWait := false     // the session waits activeWait (a ring came lately)
	wasBusy := false
	var busySince time.Time // when every slot became busy
	var seat int64          // the seat this waiter holds, when seated
	seated := false         // this waiter's session holds a seat
	seatsOff := false       // the server refused named locks: wait on the bell unseated
	justSeated := false     // a seat was just taken: the generation is read next
	// groupKey is what a ring's group is named by: the seat, held by one waiter each
	// (a split of the seats into groups has them of equal size), or the worker id
	// without one.
	groupKey := func() int64 {
		if seated {
			return seat
		}
		return w.id.Load()
	}
	leaveSeat := func() {
		if seated && s != nil {
			if _, err := s.q.SeatRelease(ctx, seat); err != nil {
				// The seat goes with the session.
				s.close()
				s = nil
			}
		}
		seated = false
	}
	w.lookForWork(false)
	for ctx.Err() == nil {
		if !w.anyFree() {
			if !wasBusy {
				busySince = time.Now()
			}
			wasBusy = true
			if seated && time.Since(busySince) >= seatBusyFor {
				leaveSeat() // to a waiter with free slots
			}
			sleepCtx(ctx, w.c.cfg.PollInterval)
			continue
		}
		if wasBusy {
			// Work that came while every slot was busy rang no bell this waiter heard.
			wasBusy, checkFirst = false, true
			w.lookForWork(false)
		}
		if s == nil {
			var err error
			if s, err = w.c.store.holdSession(ctx, 0, lockWait); err != nil {
				failures++
				w.waitFailed(ctx, err, failures, fallback)
				continue
			}
			checkFirst, shortWait, seated = true, false, false
		}
		if w.idleBeatOnWait() {
			if _, err := w.touchAs(ctx, s.q, true); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.close()
				s = nil
				failures++
				w.waitFailed(ctx, err, failures, fallback)
				continue
			}
		}
		if !seated && !seatsOff {
			// Take a free seat, or wait for this worker's, for at most the safety net.
			w.c.seatWaits.Add(1)
			taken, err := s.q.SeatTake(ctx, dbsqlc.SeatTakeParams{Start: w.id.Load() % bellSeats, WaitSeconds: int64(max(lockWait/time.Second, 1))})
			switch {
			case err == nil && taken >= 0:
				// Rings passed meanwhile: read the generation before waiting.
				seat, seated, checkFirst, lastWait = taken, true, true, time.Time{}
				justSeated = true
			case err == nil: // the safety net: no seat for lockWait
				failures = 0
				w.lookWithoutSeat(ctx, s, lockWait)
				continue
			case ctx.Err() != nil:
				return
			case dberr.IsTransient(err) || dberr.IsTryTimeout(err):
				s.close()
				s = nil
				failures++
				w.waitFailed(ctx, err, failures, fallback)
				continue
			default:
				// Named locks refused (a server or proxy without them): every
				// waiter waits on the bell, as before seats.
				w.log.Warn().Err(err).Msg("wake-ups: no seats on the doorbell (named locks refused); every idle worker waits on it")
				seatsOff = true
			}
		}
		if seen < 0 || checkFirst {
			// Without waiting: a ring that came while this waiter was not waiting
			// (polling without a leader, or reconnecting) would not be heard.
			checkFirst = false
			bell, err := s.q.BellGeneration(ctx)
			if err != nil {
				s.close()
				s = nil
				failures++
				w.waitFailed(ctx, err, failures, fallback)
				continue
			}
			gen := bell.Generation
			seatedNow := justSeated
			justSeated = false
			if seen >= 0 && gen != seen {
				// Rung while away: look if the last ring named this worker's group, or
				// if more than one ring passed (an earlier one may have).
				missed := gen - seen
				seen, notRung = gen, 0
				w.c.heard.Add(1)
				if missed > 1 || designated(groupKey(), gen, bell.WakeGroups) {
					w.c.looked.Add(1)
					w.lookForWork(true)
				}
				if bell.WakeGroups == rotateGroups && !seatedNow {
					leaveSeat() // heard late, a rotating ring still asks for the seat
				}
				continue
			}
			if seen < 0 && seatedNow && bell.WakeGroups == rotateGroups {
				// Seated for the first time by a rotating ring (its seat was given
				// up for it): the work rung for is this waiter's to look for.
				w.c.heard.Add(1)
				w.c.looked.Add(1)
				w.lookForWork(true)
			}
			seen = gen
		}
		// While work comes, a ring this waiter missed (it came back to the bell late
		// and the bell was locked again) costs at most activeWait, not the whole
		// safety net: the session waits less for activeFor after a ring.
		if active := time.Since(time.Unix(0, w.rungAt.Load())) < activeFor; active != shortWait && lockWait > activeWait {
			d := lockWait
			if active {
				d = activeWait
			}
			if err := s.setLockWait(ctx, d); err != nil {
				s.close()
				s = nil
				failures++
				w.waitFailed(ctx, err, failures, fallback)
				continue
			}
			shortWait = active
		}
		if !lastWait.IsZero() && time.Since(lastWait) > slowReturn {
			// This waiter came back late (a slow process, a busy machine): a ring
			// may have come and the bell been locked again meanwhile. Read first.
			checkFirst = true
			lastWait = time.Time{}
			continue
		}
		w.c.bellWaits.Add(1)
		bell, err := s.q.BellWait(ctx)
		gen := bell.Generation
		lastWait = time.Now()
		switch {
		case err == nil && gen != seen: // rung
			w.c.heard.Add(1)
			seen, notRung, failures, stoodAt = gen, 0, 0, time.Time{}
			if designated(groupKey(), gen, bell.WakeGroups) {
				w.c.looked.Add(1)
				heads, carried := decodeHeads(bell.Heads)
				switch {
				case bell.WakeGroups == sweepGroups && carried:
					// The periodic look, read by the leader: none may mean no work.
					w.offerHeads(heads, false)
				case bell.WakeGroups == sweepGroups:
					w.lookForWork(false)
				case carried:
					// The heads the leader rang for: the producers claim at once.
					w.rungAt.Store(time.Now().UnixNano())
					w.offerHeads(heads, false)
				default:
					w.lookForWork(true)
				}
				if bell.WakeGroups == rotateGroups {
					leaveSeat() // to the next in line, which looks when it takes it
				}
			}
			// Else another group was rung: wait again at once.
		case err == nil: // granted without a ring
			notRung++
			if notRung <= notRungRetries {
				// Most likely back between a ring's commit and the leader's lock again.
				sleepCtx(ctx, time.Millisecond<<(notRung-1))
				continue
			}
			// No leader holds the bell: stand (at most once a second), and poll
			// every fallback meanwhile, one wait per round.
			if time.Since(stoodAt) >= time.Second {
				if stoodAt.IsZero() {
					w.log.Debug().Msg("no leader rings the doorbell; standing for election, polling meanwhile")
				}
				stoodAt = time.Now()
				w.standForElection()
			}
			w.lookForWork(false)
			select {
			case <-ctx.Done():
			case <-w.belled: // elected here: the bell is held
			case <-time.After(fallback):
			}
			checkFirst = true
		case dberr.IsLockBusy(err): // the safety net: no ring for lockWait
			notRung, failures, stoodAt = 0, 0, time.Time{}
			w.lookForWork(false)
		default:
			if ctx.Err() != nil {
				return
			}
			s.close()
			s = nil
			failures++
			w.waitFailed(ctx, err, failures, fallback)
		}
	}
}

// lookWithoutSeat is the safety-net look of a waiter that waited for a seat in vain:
// the heads the last sweep carried, when it came within lockWait (the seated waiters'
// look too, read by the leader), else a read of the claim heads by the poller.
func (w *worker) lookWithoutSeat(ctx context.Context, s *heldSession, lockWait time.Duration) {
	bell, err := s.q.BellGeneration(ctx)
	if err == nil && bell.WakeGroups == sweepGroups && bell.RungAgoUs < lockWait.Microseconds() {
		if heads, carried := decodeHeads(bell.Heads); carried {
			w.offerHeads(heads, false)
			return
		}
	}
	w.lookForWork(false)
}

// waitFailed handles a failed wait on the doorbell: log now and then, poll, back off.
func (w *worker) waitFailed(ctx context.Context, err error, failures int, fallback time.Duration) {
	if failures == 1 || failures%20 == 0 {
		w.log.Warn().Err(err).Msg("wait on the doorbell failed; polling meanwhile")
	}
	w.lookForWork(false)
	sleepCtx(ctx, min(time.Duration(failures)*fallback, 5*time.Second))
}

// lookForWork has the poller read the claim heads now; rung: after a ring, when the
// work may take a moment to be visible.
func (w *worker) lookForWork(rung bool) {
	if rung {
		w.rungAt.Store(time.Now().UnixNano())
	}
	select {
	case w.pollNow <- struct{}{}:
	default:
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
