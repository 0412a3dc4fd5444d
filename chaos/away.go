package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

const awayConfig = `queues: {default: 10}
poll_interval: 20ms
heartbeat_interval: 1s
rescue_after: 20s
shutdown_grace: 5s
retry: {initial: 200ms, max: 2s, jitter: 0.3}
schedules: []
`

// DatabaseGoesAway is scenario 2: worker processes reach a private MariaDB through
// a TCP proxy that cuts every connection or stalls them for seconds at random, and
// the server itself is stopped and started twice, while a producer keeps enqueuing.
// Workers must reconnect with back-off and finish every job; none may exit. Then, the
// fleet idle, every connection is cut (the leader's that watch and ring, and the
// waiters' on the doorbell) three times: a job inserted after each must start within
// the safety net.
func DatabaseGoesAway(ctx context.Context, o Options, serverName string) (*Result, error) {
	workers, total, phase := 4, 20_000, 90*time.Second
	restartsAt := []time.Duration{25 * time.Second, 60 * time.Second}
	if o.Short {
		workers, total, phase = 3, 3000, 30*time.Second
		restartsAt = []time.Duration{8 * time.Second, 19 * time.Second}
	}
	r := &Result{Scenario: "2 database goes away"}
	began := time.Now()
	defer func() { r.Elapsed = time.Since(began) }()

	srv, err := StartPrivateServer(ctx, o.Root, serverName)
	if err != nil {
		return nil, err
	}
	defer srv.Remove()
	db, err := NewDatabase(ctx, srv.Server())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	addr, err := srv.Addr()
	if err != nil {
		return nil, err
	}
	proxy, err := NewProxy(addr)
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	workerDSN, err := viaTCP(db.WorkerDSN, proxy.Addr())
	if err != nil {
		return nil, err
	}
	env := []string{"IACTQ_DSN=" + workerDSN}
	if b := srv.Env["IACTQ_BINLOG_DSN"]; b != "" {
		if b, err = viaTCP(b, proxy.Addr()); err != nil {
			return nil, err
		}
		b, err = withDB(b, db.Name)
		if err != nil {
			return nil, err
		}
		env = append(env, "IACTQ_BINLOG_DSN="+b)
	}
	f, err := newFleet(o.Bin, filepath.Join(o.Dir, "away"), awayConfig, env...)
	if err != nil {
		return nil, err
	}
	defer f.killAll()
	if err := f.startN(workers); err != nil {
		return nil, err
	}
	o.logf("away: %d workers via proxy %s -> %s", workers, proxy.Addr(), addr)

	// The producer: jobs arrive throughout (directly over the socket), retried
	// while the server is down. Only acknowledged inserts are in want; any other
	// row (a commit whose answer was lost) must complete too.
	client, err := db.client()
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	want := map[int64]string{}
	insertFailures := 0
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		rng := rand.New(rand.NewPCG(3, 4))
		interval := phase / time.Duration(total/10)
		for i := 0; i < total && ctx.Err() == nil; i += 10 {
			var ps []queue.InsertParams
			for k := 0; k < 10; k++ {
				a := jobs.NoopArgs{SleepMS: rng.IntN(21)}
				if rng.IntN(10) == 0 {
					a.FailAttempts = 1
				}
				p := queue.InsertParams{Kind: "noop", Args: a}
				if rng.IntN(20) == 0 {
					p.RequestedBy = "chaos"
				}
				ps = append(ps, p)
			}
			for ctx.Err() == nil {
				res, err := client.InsertMany(ctx, ps)
				if err == nil {
					mu.Lock()
					for _, x := range res {
						want[x.ID] = "completed"
					}
					mu.Unlock()
					break
				}
				mu.Lock()
				insertFailures++
				mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(interval)
		}
	}()

	// The faults.
	rng := rand.New(rand.NewPCG(5, 6))
	var cuts, stalls, restarts int
	var downFor []time.Duration
	for time.Since(began) < phase && ctx.Err() == nil {
		time.Sleep(time.Duration(1000+rng.IntN(1500)) * time.Millisecond)
		if len(restartsAt) > 0 && time.Since(began) >= restartsAt[0] {
			restartsAt = restartsAt[1:]
			down := time.Now()
			if err := srv.Down(ctx); err != nil {
				return nil, err
			}
			time.Sleep(2 * time.Second)
			if err := srv.Up(ctx); err != nil {
				return nil, err
			}
			downFor = append(downFor, time.Since(down).Round(100*time.Millisecond))
			if addr, err := srv.Addr(); err == nil {
				proxy.SetTarget(addr)
			}
			restarts++
			o.logf("away: server restarted (%s down)", downFor[len(downFor)-1])
			continue
		}
		if rng.IntN(2) == 0 {
			n := proxy.Cut()
			cuts++
			o.logf("away: cut %d connections", n)
		} else {
			d := time.Duration(1000+rng.IntN(3000)) * time.Millisecond
			proxy.Stall(d)
			stalls++
			o.logf("away: stalled every connection for %s", d)
			time.Sleep(d)
		}
	}
	<-prodDone
	mu.Lock()
	defer mu.Unlock()
	r.Faults = cuts + stalls + restarts
	r.FaultDetail = fmt.Sprintf("%d restarts, %d cuts, %d stalls", restarts, cuts, stalls)
	o.logf("away: faults over after %s (%d jobs enqueued); waiting for the drain", since(began), len(want))

	notDone := `SELECT COUNT(*) FROM iactq_jobs WHERE state <> 'completed'`
	drainStart := time.Now()
	if !waitFor(ctx, 3*time.Minute, func() bool { return count(ctx, db.DB, notDone) == 0 }) {
		r.fail("jobs not all completed within 3 minutes of the last fault")
	}
	r.note("drained %s after the last fault; server down %v; %d enqueue attempts failed while it was away", since(drainStart), downFor, insertFailures)
	// The idle fleet: every connection cut, the leader's (presence, bell, watcher) and
	// the waiters' on the bell, then a job inserted must start within the safety net.
	awaitLeader(ctx, db.DB, 30*time.Second)
	for i := 1; i <= 3; i++ {
		probeAfter(ctx, &o, r, db.DB, fmt.Sprintf("idle cut %d of the watcher's and the waiters' connections", i), func() {
			n := proxy.Cut()
			cuts++
			o.logf("away: idle fleet, cut %d connections", n)
		})
		time.Sleep(time.Second)
	}
	r.Faults = cuts + stalls + restarts
	r.FaultDetail = fmt.Sprintf("%d restarts, %d cuts (3 of an idle fleet), %d stalls", restarts, cuts, stalls)
	f.stopInto(r)

	all, err := loadJobs(ctx, db.DB)
	if err != nil {
		return nil, err
	}
	for id := range all {
		if _, ok := want[id]; !ok {
			want[id] = "completed" // inserted by a commit whose answer was lost
		}
	}
	r.Jobs = len(want)
	execs, err := readJournal(f.journal)
	if err != nil {
		return nil, err
	}
	checkFinal(r, all, want)
	// No worker is killed or paused here: a rescued attempt means a live worker was
	// declared dead (rescue_after 20 s exceeds every outage).
	checkOverlaps(r, execs, all, nil)
	checkFencing(r, execs, all, func(execution) bool { return false })
	checkMessages(r, all)
	accepted, _, _ := proxy.Stats()
	r.note("%d executions journaled; the proxy accepted %d connections", len(execs), accepted)
	if warn := countLogLines(f, `"level":"warn"`); warn > 0 {
		r.note("%d warnings logged by the workers (failed claims, heartbeats, polls while away)", warn)
	}
	return r, nil
}

// countLogLines counts lines containing s across the fleet's logs.
func countLogLines(f *fleet, s string) int {
	n := 0
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.procs {
		b, err := os.ReadFile(p.log)
		if err != nil {
			continue
		}
		n += strings.Count(string(b), s)
	}
	return n
}
