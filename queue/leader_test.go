package queue_test

// Leadership and the doorbell (leader.go, doorbell.go, docs/wakeups.md), against the
// real server: several clients, each with its own pool as separate processes have,
// working one database.

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/internal/waitfor"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// fleet is several clients working one database.
type fleet struct {
	db      *queuetest.DB
	clients []*queue.Client
	stops   []func()
	ran     atomic.Int64
	ranBy   []*atomic.Int64 // jobs run by each client
}

func newFleet(t *testing.T, n int, cfg queue.Config) *fleet {
	t.Helper()
	cfgs := make([]queue.Config, n)
	for i := range cfgs {
		cfgs[i] = cfg
	}
	return newFleetOf(t, cfgs)
}

// newFleetOf is newFleet with a configuration per client.
func newFleetOf(t *testing.T, cfgs []queue.Config) *fleet {
	t.Helper()
	f := &fleet{db: queuetest.New(t)}
	for _, cfg := range cfgs {
		if cfg.PollInterval == 0 {
			cfg.PollInterval = 10 * time.Millisecond
		}
		pool, err := queue.OpenDB(f.db.WorkerDSN)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pool.Close() })
		reg := queue.NewRegistry()
		ran := new(atomic.Int64)
		f.ranBy = append(f.ranBy, ran)
		queue.Register(reg, queue.WorkFunc[testArgs](func(context.Context, *queue.Job[testArgs]) error {
			f.ran.Add(1)
			ran.Add(1)
			return nil
		}))
		c, err := queue.NewClient(pool, reg, cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
		if err != nil {
			t.Fatal(err)
		}
		f.clients = append(f.clients, c)
	}
	return f
}

// start runs Work in every client until the test ends (or its stop is called).
func (f *fleet) start(t *testing.T) { f.startUpTo(t, len(f.clients)) }

// startNext runs Work in the next client not started yet.
func (f *fleet) startNext(t *testing.T) { f.startUpTo(t, len(f.stops)+1) }

// startUpTo runs Work in the clients not started yet among the first n.
func (f *fleet) startUpTo(t *testing.T, n int) {
	for _, c := range f.clients[len(f.stops):n] {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = c.Work(ctx) }()
		var once sync.Once
		stop := func() { once.Do(func() { cancel(); <-done }) }
		t.Cleanup(stop)
		f.stops = append(f.stops, stop)
	}
}

// leaders returns the indexes of the clients that lead now.
func (f *fleet) leaders() []int {
	var out []int
	for i, c := range f.clients {
		if c.Leading() {
			out = append(out, i)
		}
	}
	return out
}

// waitLeader waits until exactly one client leads, not one of except, and returns it.
func (f *fleet) waitLeader(t *testing.T, except ...int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ls := f.leaders(); len(ls) == 1 {
			ok := true
			for _, e := range except {
				ok = ok && ls[0] != e
			}
			if ok {
				return ls[0]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no single new leader within 30 s: leading now %v", f.leaders())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startIdle starts every client and waits until one leads and all wait on the
// doorbell; it returns the leader's index.
func (f *fleet) startIdle(t *testing.T) int {
	t.Helper()
	admin, err := queue.OpenDB(f.db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	f.start(t)
	leader := f.waitLeader(t)
	waitUntil(t, "every client waiting on the doorbell", func() bool { return f.waiting(t, admin) == len(f.clients) })
	return leader
}

// ringsHeard is how many rings each client's waiter has heard so far.
func (f *fleet) ringsHeard() []int64 {
	heard := make([]int64, len(f.clients))
	for i, c := range f.clients {
		heard[i] = c.RingsHeard()
	}
	return heard
}

// waitEveryoneHeard waits until every client heard a ring since heard (ringsHeard).
func (f *fleet) waitEveryoneHeard(t *testing.T, heard []int64, what string) {
	t.Helper()
	waitUntil(t, what, func() bool {
		for i, c := range f.clients {
			if c.RingsHeard() <= heard[i] {
				return false
			}
		}
		return true
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.True(t, 30*time.Second, cond, func() string { return what })
}

func (f *fleet) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.DB.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waiting counts the sessions of this database waiting on the doorbell now, or for a
// seat on it (the admin user sees every session).
func (f *fleet) waiting(t *testing.T, admin *sql.DB) int {
	t.Helper()
	onBell, forSeat := f.waitingEach(t, admin)
	return onBell + forSeat
}

// waitingEach counts the sessions of this database waiting on the doorbell now, and
// those waiting for a seat on it.
func (f *fleet) waitingEach(t *testing.T, admin *sql.DB) (onBell, forSeat int) {
	t.Helper()
	err := admin.QueryRow(`SELECT
		COALESCE(SUM(INFO LIKE '%FROM iactq_doorbell WHERE id = 1 LOCK IN SHARE MODE%'), 0),
		COALESCE(SUM(INFO LIKE '%GET_LOCK(CONCAT(''iactq_seat_''%'), 0)
		FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()`, f.db.Name).Scan(&onBell, &forSeat)
	if err != nil {
		t.Fatal(err)
	}
	return onBell, forSeat
}

// TestOneLeaderAtATimeRunsTheChores: of three clients exactly one leads at any
// moment; only it runs the periodic chores; when it stops another takes over, and
// `Workers` names the leader.
func TestOneLeaderAtATimeRunsTheChores(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 3, queue.Config{})
	var most atomic.Int64
	sampling, stopSampling := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampling.Err() == nil {
			// Two leaders seen in one look may be a handover that happened while the
			// look read the clients one by one: count only two seen in three looks
			// running, a millisecond apart (a real second leader stays for seconds).
			n := int64(len(f.leaders()))
			for try := 0; n > 1 && try < 2; try++ {
				time.Sleep(time.Millisecond)
				n = min(n, int64(len(f.leaders())))
			}
			if n > most.Load() {
				most.Store(n)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	f.start(t)

	first := f.waitLeader(t)
	waitUntil(t, "three rounds of chores in the leader", func() bool { return f.clients[first].ChoreRounds() >= 3 })
	for i, c := range f.clients {
		if i != first && c.ChoreRounds() != 0 {
			t.Fatalf("client %d ran %d rounds of chores without leading", i, c.ChoreRounds())
		}
	}
	ws, err := f.clients[0].Workers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	leaders := 0
	for _, w := range ws {
		if w.Leader {
			leaders++
		}
	}
	if len(ws) != 3 || leaders != 1 {
		t.Fatalf("Workers: %d workers, %d leaders; want 3 and 1: %+v", len(ws), leaders, ws)
	}

	// The leader stops: one of the others takes over, and its chores go on there.
	f.stops[first]()
	second := f.waitLeader(t, first)
	before := f.clients[second].ChoreRounds()
	waitUntil(t, "chores in the new leader", func() bool { return f.clients[second].ChoreRounds() > before })
	f.stops[second]()
	third := f.waitLeader(t, first, second)
	waitUntil(t, "chores in the last leader", func() bool { return f.clients[third].ChoreRounds() > 0 })

	stopSampling()
	<-sampled
	if most.Load() != 1 {
		t.Fatalf("%d clients led at the same moment", most.Load())
	}
}

// TestRingWakesEveryIdleWaiter: with four idle clients waiting on the doorbell (and a
// safety net too long to matter), one job inserted with plain SQL rings the bell: every
// waiter hears it, and the job runs once.
func TestRingWakesEveryIdleWaiter(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 4, queue.Config{IdlePollInterval: time.Hour})
	f.startIdle(t)
	heard := f.ringsHeard()
	f.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('test', '{}')`)
	f.waitEveryoneHeard(t, heard, "every waiter to hear the ring")
	waitUntil(t, "the job completed", func() bool {
		return f.count(t, `SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) == 1
	})
	if n := f.ran.Load(); n != 1 {
		t.Fatalf("the job ran %d times", n)
	}
}

// TestRingSetsOneGroupLooking: a ring for one new job wakes every idle waiter, but
// only one group of four of eight looks for work (the others wait again at once),
// and the job runs once. Jobs the leader rang for more than once (the group was slow,
// and the ring widened) or not at all (a waiter's safety-net look took the job before
// the leader's poll saw it) say nothing about one ring, and are skipped; at least one
// of the six must be rung exactly once.
func TestRingSetsOneGroupLooking(t *testing.T) {
	t.Parallel()
	// As many clients as there are seats: every one waits on the bell. Polling: the
	// binary-log watcher rings the whole fleet for an event whose row it cannot see yet.
	f := newFleet(t, queue.BellSeats, queue.Config{IdlePollInterval: time.Hour, PollInterval: 100 * time.Millisecond, BinlogDSN: queue.BinlogOff})
	f.startIdle(t)
	f.checkOneGroupLooks(t)
}

// TestRingNamesSeatsNotWorkerIDs: a ring's group is named by seat, so that the seated
// waiters split into groups of the same size whatever their worker ids. Here every
// client's id is even (another worker's row is inserted before each registers): named
// by worker id, a ring to the odd group would set none of them looking, and a ring to
// the even one all eight.
func TestRingNamesSeatsNotWorkerIDs(t *testing.T) {
	t.Parallel()
	f := newFleet(t, queue.BellSeats, queue.Config{IdlePollInterval: time.Hour, PollInterval: 100 * time.Millisecond, BinlogDSN: queue.BinlogOff, RescueAfter: time.Hour})
	admin, err := queue.OpenDB(f.db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for i := range f.clients {
		f.db.Exec(t, `INSERT INTO iactq_workers (host, pid, queues) VALUES ('elsewhere', 1, 'none=1')`)
		f.startNext(t)
		waitUntil(t, "the client registered", func() bool {
			return f.count(t, `SELECT COUNT(*) FROM iactq_workers`) == 2*(i+1)
		})
	}
	if n := f.count(t, `SELECT COUNT(*) FROM iactq_workers WHERE host <> 'elsewhere' AND MOD(id, 2) = 0`); n != len(f.clients) {
		t.Fatalf("%d of %d clients have an even worker id", n, len(f.clients))
	}
	f.waitLeader(t)
	waitUntil(t, "every client waiting on the doorbell", func() bool { return f.waiting(t, admin) == len(f.clients) })
	f.checkOneGroupLooks(t)
}

// checkOneGroupLooks inserts jobs one at a time into a fleet of eight idle clients,
// every one seated, and checks that each ring sets one group of four looking.
func (f *fleet) checkOneGroupLooks(t *testing.T) {
	t.Helper()
	const jobs = 6
	checked := 0
	for job := 1; job <= jobs; job++ {
		heard := f.ringsHeard()
		looked := make([]int64, len(f.clients))
		for i, c := range f.clients {
			looked[i] = c.RingsLooked()
		}
		leader := f.clients[f.waitLeader(t)]
		rings := leader.Rings()
		f.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('test', '{}')`)
		waitUntil(t, "the job completed", func() bool {
			return f.count(t, `SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) == job
		})
		if n := leader.Rings() - rings; n != 1 {
			t.Logf("job %d: the leader rang %d times; skipped", job, n)
			continue
		}
		f.waitEveryoneHeard(t, heard, "every waiter to hear the ring")
		var lookers []int
		for i, c := range f.clients {
			if c.RingsLooked() > looked[i] {
				lookers = append(lookers, i)
			}
		}
		// Eight seats in 2 groups: 4 per group, whether they heard the ring waiting
		// or, back late, by reading the generation: at least one (the group rung),
		// never more than the group.
		if len(lookers) < 1 || len(lookers) > 4 {
			t.Fatalf("job %d: clients %v looked for work at one ring; want those of one group of 4", job, lookers)
		}
		checked++
	}
	if checked == 0 {
		t.Fatalf("none of %d jobs was rung for exactly once", jobs)
	}
	if n := f.ran.Load(); n != jobs {
		t.Fatalf("%d jobs ran %d times", jobs, n)
	}
}

// TestSeatsBoundTheWaiters: of fourteen idle clients, eight wait on the bell, one per
// seat, and six for their seat (worker id MOD 8); a ring is heard by the seated alone.
// When the seated clients stop, those waiting take their seats and wait on the bell:
// one per seat number among them.
func TestSeatsBoundTheWaiters(t *testing.T) {
	t.Parallel()
	const clients = 14
	f := newFleet(t, clients, queue.Config{IdlePollInterval: time.Hour, PollInterval: 100 * time.Millisecond})
	admin, err := queue.OpenDB(f.db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	f.startIdle(t)
	onBell, forSeat := f.waitingEach(t, admin)
	if onBell != queue.BellSeats || forSeat != clients-queue.BellSeats {
		t.Fatalf("%d clients wait on the bell and %d for a seat; want %d and %d", onBell, forSeat, queue.BellSeats, clients-queue.BellSeats)
	}
	heard := f.ringsHeard()
	f.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('test', '{}')`)
	waitUntil(t, "the job completed", func() bool {
		return f.count(t, `SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) == 1
	})
	time.Sleep(200 * time.Millisecond) // the ring's last waiters
	var seated, unseated []int
	for i, c := range f.clients {
		if c.RingsHeard() > heard[i] {
			seated = append(seated, i)
		} else {
			unseated = append(unseated, i)
		}
	}
	// Every seated client hears it (waiting, or back late reading the generation),
	// and no other.
	if len(seated) != queue.BellSeats {
		t.Fatalf("clients %v heard the ring; want the %d seated", seated, queue.BellSeats)
	}
	for _, i := range seated {
		f.stops[i]()
	}
	// The stopped clients' rows are gone: those left are the unseated.
	seats := f.count(t, `SELECT COUNT(DISTINCT id MOD 8) FROM iactq_workers`)
	waitUntil(t, "the clients waiting for a seat took the seats freed", func() bool {
		onBell, forSeat := f.waitingEach(t, admin)
		return onBell == seats && forSeat == len(unseated)-seats
	})
	if n := f.ran.Load(); n != 1 {
		t.Fatalf("the job ran %d times", n)
	}
}

// TestRotatingRingSeatsTheOneThatServes: nine clients, of which only the last to
// start serves queue "rare", so that it waits for a seat: the eight others, seated,
// are rung for a job in "rare", then every seated one, then they give up their seats
// (a rotating ring) and the ninth, seated, takes the job, long before the safety net
// (an hour here).
func TestRotatingRingSeatsTheOneThatServes(t *testing.T) {
	t.Parallel()
	cfgs := make([]queue.Config, queue.BellSeats+1)
	for i := range cfgs {
		cfgs[i] = queue.Config{IdlePollInterval: time.Hour, Queues: map[string]int{"default": 2}}
	}
	cfgs[queue.BellSeats].Queues = map[string]int{"rare": 1}
	f := newFleetOf(t, cfgs)
	admin, err := queue.OpenDB(f.db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	last := f.clients[queue.BellSeats]
	f.clients = f.clients[:queue.BellSeats]
	f.startIdle(t)
	f.clients = append(f.clients, last)
	f.start(t)
	waitUntil(t, "the ninth client waiting for a seat", func() bool {
		onBell, forSeat := f.waitingEach(t, admin)
		return onBell == queue.BellSeats && forSeat == 1
	})
	for job := 1; job <= 3; job++ {
		f.db.Exec(t, `INSERT INTO iactq_jobs (queue, kind, args) VALUES ('rare', 'test', '{}')`)
		waitUntil(t, "the job in queue rare completed", func() bool {
			return f.count(t, `SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) == job
		})
	}
}

// TestRingWidensUntilTheWorkIsTaken: of twelve idle clients only one serves queue
// "rare". A ring names one group of four of the eight seated; when that group does not
// take the job (it does not serve the queue), the leader rings a wider group a poll
// later, up to every seated waiter, then rotates the seats (the four waiting for one
// take them), so each job runs long before the safety net (an hour here). Five jobs:
// were the ring never widened, the one client would be in the group named first for
// all five only by a chance of 1 in 243 (and it waits for a seat, half the time).
func TestRingWidensUntilTheWorkIsTaken(t *testing.T) {
	t.Parallel()
	cfgs := make([]queue.Config, 12)
	for i := range cfgs {
		cfgs[i] = queue.Config{IdlePollInterval: time.Hour, Queues: map[string]int{"default": 2}}
	}
	cfgs[7].Queues = map[string]int{"rare": 1}
	f := newFleetOf(t, cfgs)
	f.startIdle(t)
	for job := 1; job <= 5; job++ {
		f.db.Exec(t, `INSERT INTO iactq_jobs (queue, kind, args) VALUES ('rare', 'test', '{}')`)
		waitUntil(t, "the job in queue rare completed", func() bool {
			return f.count(t, `SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) == job
		})
	}
}

// TestWaitersFallBackWhileNoLeaderRings: while no client can be elected (the test
// holds the presence row), nothing rings: waiters find the bell free, poll at the
// fallback pace without spinning, and still run new jobs. Once the row is free, one
// is elected and rings again.
func TestWaitersFallBackWhileNoLeaderRings(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 3, queue.Config{IdlePollInterval: time.Hour})
	ctx := context.Background()
	tx, err := f.db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	var gen int64
	if err := tx.QueryRow(`SELECT generation FROM iactq_doorbell WHERE id = 2 FOR UPDATE`).Scan(&gen); err != nil {
		t.Fatal(err)
	}
	f.start(t)
	for i := 0; i < 5; i++ {
		f.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('test', '{}')`)
	}
	waitUntil(t, "the jobs run by polling", func() bool {
		return f.count(t, `SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) == 5
	})
	if ls := f.leaders(); len(ls) != 0 {
		t.Fatalf("clients %v lead while the test holds the presence row", ls)
	}
	// Not spinning: one wait per fallback round (5 x PollInterval = 50 ms), so about
	// 20 a second; a spin would be thousands.
	before := make([]int64, len(f.clients))
	for i, c := range f.clients {
		before[i] = c.BellWaits()
	}
	began := time.Now()
	time.Sleep(time.Second)
	for i, c := range f.clients {
		perSecond := float64(c.BellWaits()-before[i]) / time.Since(began).Seconds()
		if perSecond > 100 {
			t.Fatalf("client %d waited on the doorbell %.0f times a second without a leader: spinning", i, perSecond)
		}
	}

	// The leader elected once the row is free rings when its watcher starts (and for
	// the sixth job, unless a waiter's own look takes it first): every client hears a
	// ring it had not heard before the row was freed.
	heard := f.ringsHeard()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	f.waitLeader(t)
	admin, err := queue.OpenDB(f.db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	waitUntil(t, "three waiters on the doorbell", func() bool { return f.waiting(t, admin) == 3 })
	f.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('test', '{}')`)
	f.waitEveryoneHeard(t, heard, "a ring heard by every client once a leader is elected")
	waitUntil(t, "the sixth job completed", func() bool {
		return f.count(t, `SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) == 6
	})
	if n := f.ran.Load(); n != 6 {
		t.Fatalf("%d executions for 6 jobs", n)
	}
}

// leaderPID is the pid of the live leader as `iactq workers --json` shows it (the
// field the benchmark relies on), 0 when none.
func (e *procEnv) leaderPID() int {
	e.t.Helper()
	cmd := exec.Command(iactqBinary(e.t), "workers", "--json")
	cmd.Env = append(os.Environ(), "IACTQ_DSN="+e.db.WorkerDSN, "IACTQ_CONFIG="+e.config)
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("iactq workers --json: %v\n%s", err, out)
	}
	var ws []struct {
		PID    int  `json:"pid"`
		Leader bool `json:"leader"`
	}
	if err := json.Unmarshal(out, &ws); err != nil {
		e.t.Fatalf("iactq workers --json: %v\n%s", err, out)
	}
	pid := 0
	for _, w := range ws {
		if w.Leader {
			if pid != 0 {
				e.t.Fatalf("two leaders in iactq workers --json: %s", out)
			}
			pid = w.PID
		}
	}
	return pid
}

// TestLeaderFailoverAfterSIGKILLAndSIGSTOP: three `iactq work` processes; the leader
// (found with `iactq workers --json`) is killed, then the next one is paused: each
// time another is elected and new jobs run; the paused one, resumed, steps down.
// Nothing is lost and no job runs twice at once.
func TestLeaderFailoverAfterSIGKILLAndSIGSTOP(t *testing.T) {
	t.Parallel()
	e := newProcEnv(t, "queues: {default: 4}\n")
	byPID := map[int]*proc{}
	for i := 0; i < 3; i++ {
		p := e.start()
		byPID[p.cmd.Process.Pid] = p
	}
	completed := func() int { return e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) }
	insert := func(n int) {
		for i := 0; i < n; i++ {
			e.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('noop', '{}')`)
		}
	}
	var first int
	e.waitFor("a leader", 30*time.Second, func() bool { first = e.leaderPID(); return first != 0 })
	insert(5)
	e.waitFor("5 jobs completed", 30*time.Second, func() bool { return completed() == 5 })

	if err := byPID[first].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-byPID[first].done
	killed := time.Now()
	var second int
	e.waitFor("a new leader after SIGKILL", 30*time.Second, func() bool {
		second = e.leaderPID()
		return second != 0 && second != first
	})
	t.Logf("leader %d SIGKILLed: process %d leads %s later", first, second, time.Since(killed).Round(time.Millisecond))
	insert(5)
	e.waitFor("10 jobs completed", 30*time.Second, func() bool { return completed() == 10 })

	if err := byPID[second].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	var third int
	e.waitFor("a new leader after SIGSTOP", 30*time.Second, func() bool {
		third = e.leaderPID()
		return third != 0 && third != second && third != first
	})
	t.Logf("leader %d SIGSTOPped: process %d leads %s later", second, third, time.Since(stopped).Round(time.Millisecond))
	insert(5)
	e.waitFor("15 jobs completed", 30*time.Second, func() bool { return completed() == 15 })
	if err := byPID[second].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the resumed process to step down", 30*time.Second, func() bool {
		out, _ := os.ReadFile(byPID[second].log)
		return strings.Contains(string(out), "leadership ended")
	})
	if got := e.leaderPID(); got != third {
		t.Fatalf("leader is %d after the paused one resumed, want %d", got, third)
	}
	insert(5)
	e.waitFor("20 jobs completed", 30*time.Second, func() bool { return completed() == 20 })
	for pid, p := range byPID {
		if pid != first {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.done
		}
	}
	execs := e.executions()
	checkNoOverlap(t, execs)
	if len(execs) != 20 {
		t.Fatalf("%d executions for 20 jobs", len(execs))
	}
}

// TestRingForJobsMadeAvailableWithoutAnInsert: the leader's watcher reads the claim
// heads when the jobs' highest id moves, and at least every 100 ms besides: a job
// made available by plain SQL with no insert (an operator's retry) is rung for, and
// runs.
func TestRingForJobsMadeAvailableWithoutAnInsert(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 2, queue.Config{IdlePollInterval: time.Hour})
	admin, err := queue.OpenDB(f.db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	res := f.db.Exec(t, `INSERT INTO iactq_jobs (kind, args, state, finished_at) VALUES ('test', '{}', 'discarded', NOW(6))`)
	id, _ := res.LastInsertId()
	f.start(t)
	leader := f.clients[f.waitLeader(t)]
	waitUntil(t, "two waiters on the doorbell", func() bool { return f.waiting(t, admin) == 2 })
	// The watcher's first look (when it starts) is over, and the highest id has been
	// read since (every 10 ms): from now on only the periodic read of the heads can
	// see the job.
	time.Sleep(200 * time.Millisecond)
	rings := leader.Rings()
	f.db.Exec(t, `UPDATE iactq_jobs SET state = 'available', finished_at = NULL, scheduled_at = NOW(6) WHERE id = ?`, id)
	// A waiter would find the job by itself within a second (it waits on the bell a
	// second at a time for 10 s after a ring): the ring is what is asked.
	waitfor.True(t, 2*time.Second, func() bool { return leader.Rings() > rings }, func() string {
		return "the leader rang no bell within 2 s for a job made available by an UPDATE"
	})
	waitfor.True(t, 10*time.Second, func() bool {
		return f.count(t, `SELECT COUNT(*) FROM iactq_jobs WHERE id = ? AND state = 'completed'`, id) == 1
	}, func() string { return "the job made available by an UPDATE did not run within 10 s" })
}

// TestWaitersWaitForASlowLeaderToLockTheBellAgain: a leader slow to lock the bell
// again after a ring (the 50 waiters its sweep just woke keep it from two cores for a
// few milliseconds) is not taken for gone: a waiter granted without a ring waits again
// after 1, 2, 4 ... 32 ms before it stands for election and looks for work. The test
// plays the leader: it holds the presence row (no client can lead) and the bell, rings
// three sweeps that found no work (heads []), and locks the bell again 20 ms after
// each. Every client hears each ring and waits on the bell again, looking for work
// (reading the claim heads) no more than now and then; a waiter that took the leader
// for gone after 1, 2, 3 ms would have looked after every ring.
func TestWaitersWaitForASlowLeaderToLockTheBellAgain(t *testing.T) {
	t.Parallel()
	const n = 3
	cfgs := make([]queue.Config, n)
	looks := make([]*lookCounter, n)
	for i := range cfgs {
		looks[i] = &lookCounter{}
		cfgs[i] = queue.Config{IdlePollInterval: time.Hour, Observer: looks[i]}
	}
	f := newFleetOf(t, cfgs)
	ctx := context.Background()
	admin, err := queue.OpenDB(f.db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	presence, err := f.db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = presence.Rollback() }()
	var gen int64
	if err := presence.QueryRow(`SELECT generation FROM iactq_doorbell WHERE id = 2 FOR UPDATE`).Scan(&gen); err != nil {
		t.Fatal(err)
	}
	var bell *sql.Tx
	lockBell := func() {
		t.Helper()
		if bell, err = f.db.DB.BeginTx(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := bell.QueryRow(`SELECT generation FROM iactq_doorbell WHERE id = 1 FOR UPDATE`).Scan(&gen); err != nil {
			t.Fatal(err)
		}
	}
	lockBell()
	defer func() { _ = bell.Rollback() }()
	f.start(t)
	waitUntil(t, "three waiters on the doorbell", func() bool { return f.waiting(t, admin) == n })
	time.Sleep(200 * time.Millisecond) // the look every waiter makes when it starts is over
	before := make([]int64, n)
	for i, l := range looks {
		before[i] = l.n.Load()
	}
	const rings = 3
	for range rings {
		heard := f.ringsHeard()
		if _, err := bell.Exec(`UPDATE iactq_doorbell SET generation = generation + 1, wake_groups = 0, heads = '[]' WHERE id = 1`); err != nil {
			t.Fatal(err)
		}
		if err := bell.Commit(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		lockBell()
		f.waitEveryoneHeard(t, heard, "every waiter to hear the ring")
		waitUntil(t, "three waiters on the doorbell again", func() bool { return f.waiting(t, admin) == n })
	}
	time.Sleep(200 * time.Millisecond) // a look the waiters asked for is made meanwhile
	var read int64
	for i, l := range looks {
		read += l.n.Load() - before[i]
	}
	if read*2 >= n*rings {
		t.Fatalf("the clients looked for work %d times after %d rings heard whose leader locked the bell again 20 ms later: they took it for gone", read, n*rings)
	}
}
