package queue_test

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// TestIdleWorkersBeatRarelyAndStayLive: idle workers (no job running or claimed)
// say they are alive only every half of their idle lease (5 x RescueAfter), so their
// heartbeat grows older than RescueAfter; the lease keeps them registered and live
// meanwhile: the leader's rescue, which runs every second here, removes neither, and
// Workers calls neither stale. A job then still runs.
func TestIdleWorkersBeatRarelyAndStayLive(t *testing.T) {
	t.Parallel()
	const rescueAfter = 3 * time.Second
	f := newFleet(t, 2, queue.Config{IdlePollInterval: time.Hour, RescueAfter: rescueAfter, HeartbeatInterval: 200 * time.Millisecond})
	f.start(t)
	f.waitLeader(t)
	ctx := context.Background()
	ids := func() map[int64]bool {
		ws, err := f.clients[0].Workers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int64]bool{}
		for _, w := range ws {
			if w.Stale(time.Now(), rescueAfter) {
				t.Fatalf("worker %d is called stale: heartbeat %s ago, idle until %s", w.ID, time.Since(w.HeartbeatAt), w.IdleUntil)
			}
			out[w.ID] = true
		}
		return out
	}
	first := ids()
	if len(first) != 2 {
		t.Fatalf("%d workers registered; want 2", len(first))
	}
	oldest := time.Duration(0)
	for end := time.Now().Add(2*rescueAfter + time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		var ageUs int64
		if err := f.db.DB.QueryRow(`SELECT COALESCE(MAX(TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(6))), 0) FROM iactq_workers`).Scan(&ageUs); err != nil {
			t.Fatal(err)
		}
		oldest = max(oldest, time.Duration(ageUs)*time.Microsecond)
		now := ids()
		for id := range first {
			if !now[id] {
				t.Fatalf("idle worker %d was removed (rescued) while its idle lease held", id)
			}
		}
	}
	if oldest <= rescueAfter {
		t.Fatalf("the oldest heartbeat seen was %s old: idle workers beat as often as busy ones (want older than rescue_after %s)", oldest, rescueAfter)
	}
	f.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('test', '{}')`)
	waitUntil(t, "the job completed", func() bool {
		return f.count(t, `SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) == 1
	})
}

// TestNoIdleLeaseWhileAJobRuns: the database has the last word on idle. An idle
// heartbeat of a worker that holds a running job changes nothing (the worker then
// beats as a busy one), even when the claim of that job is still in flight: the
// heartbeat waits for the claim's lock on the worker's row and then sees its job.
// Without that, a worker paused right after a claim would keep a lease of 3 x
// rescue_after over jobs it holds, and be rescued that much later.
func TestNoIdleLeaseWhileAJobRuns(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	pool, err := queue.OpenDB(db.WorkerDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c, err := queue.NewClient(pool, queue.NewRegistry(), queue.Config{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res := db.Exec(t, `INSERT INTO iactq_workers (host, pid, queues, kinds) VALUES ('h', 1, 'default=1', 'test')`)
	worker, _ := res.LastInsertId()
	lease := func() bool {
		var until sql.NullTime
		if err := db.DB.QueryRow(`SELECT idle_until FROM iactq_workers WHERE id = ?`, worker).Scan(&until); err != nil {
			t.Fatal(err)
		}
		return until.Valid
	}
	touch := func() int64 {
		n, err := c.TouchIdleForTest(ctx, worker, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	res = db.Exec(t, `INSERT INTO iactq_jobs (kind, args, state, claimed_by, attempt) VALUES ('test', '{}', 'running', ?, 1)`, worker)
	job, _ := res.LastInsertId()
	if n := touch(); n != 0 || lease() {
		t.Fatalf("idle heartbeat with a running job: %d rows, lease %v; want 0 rows and no lease", n, lease())
	}
	db.Exec(t, `UPDATE iactq_jobs SET state = 'completed', claimed_by = NULL WHERE id = ?`, job)
	if n := touch(); n != 1 || !lease() {
		t.Fatalf("idle heartbeat with no job: %d rows, lease %v; want 1 row and a lease", n, lease())
	}
	// A claim in flight: it has locked the worker's row (as WorkerTouch does, ending
	// the lease) and marked a job running, and commits 300 ms later.
	tx, err := db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE iactq_workers SET heartbeat_at = NOW(6), idle_until = NULL WHERE id = ?`, worker); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE iactq_jobs SET state = 'running', claimed_by = ? WHERE id = ?`, worker, job); err != nil {
		t.Fatal(err)
	}
	done := make(chan int64)
	go func() { n, _ := c.TouchIdleForTest(ctx, worker, time.Minute); done <- n }()
	time.Sleep(300 * time.Millisecond)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := <-done; n != 0 || lease() {
		t.Fatalf("idle heartbeat during a claim: %d rows, lease %v after the claim committed; want 0 rows and no lease", n, lease())
	}
}

// lookCounter counts a worker's reads of the claim heads (its looks for work).
type lookCounter struct {
	queue.NopObserver
	n atomic.Int64
}

func (o *lookCounter) Polled(error) { o.n.Add(1) }

// TestSweepWithNoWorkIsTheLook: with nothing to do, the leader's sweep (every 9/10 of
// IdlePollInterval without a ring) carries an empty list of claim heads: it is every
// idle worker's look for work, and no waiter reads the heads again (a claim-heads read
// and, its pool's session long closed, a new session: two statements per process per
// sweep). Every client hears two sweeps; reads of the heads by the clients' pollers
// must stay below half the sweeps heard (none but a safety-net timeout, should the
// leader be a second late). A job inserted then still runs.
func TestSweepWithNoWorkIsTheLook(t *testing.T) {
	t.Parallel()
	const n = 3
	cfgs := make([]queue.Config, n)
	looks := make([]*lookCounter, n)
	for i := range cfgs {
		looks[i] = &lookCounter{}
		cfgs[i] = queue.Config{IdlePollInterval: 10 * time.Second, Observer: looks[i]}
	}
	f := newFleetOf(t, cfgs)
	f.startIdle(t)
	// The leader rings once when its watcher starts, and for 10 s after a ring a
	// waiter waits a second at a time, looking at each timeout: let that pass.
	time.Sleep(11 * time.Second)
	heard := f.ringsHeard()
	before := make([]int64, n)
	for i, l := range looks {
		before[i] = l.n.Load()
	}
	waitUntil(t, "every client to hear two sweeps", func() bool {
		for i, c := range f.clients {
			if c.RingsHeard() < heard[i]+2 {
				return false
			}
		}
		return true
	})
	time.Sleep(500 * time.Millisecond) // a look a sweep asked for is made meanwhile
	var sweeps, read int64
	for i, c := range f.clients {
		sweeps += c.RingsHeard() - heard[i]
		read += looks[i].n.Load() - before[i]
	}
	if read*2 >= sweeps {
		t.Fatalf("the clients read the claim heads %d times for %d sweeps heard that found no work: the sweep is their look", read, sweeps)
	}
	f.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('test', '{}')`)
	waitUntil(t, "the job completed", func() bool {
		return f.count(t, `SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) == 1
	})
}
