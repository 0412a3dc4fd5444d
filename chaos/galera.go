package chaos

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// galeraConfig is the workers' config on the cluster: fast heartbeats, and a rescue
// time (10 s) above the cluster's failover (~3 s, during which COMMITs block), so that
// only the SIGKILLed workers are declared dead.
const galeraConfig = `queues: {default: 16}
poll_interval: 20ms
heartbeat_interval: 1s
rescue_after: 10s
shutdown_grace: 5s
retry: {initial: 200ms, max: 2s, jitter: 0.3}
schedules:
  - {name: chaos_tick, cron: "@every 1s", kind: noop, args: {sleep_ms: 30}, requested_by: chaos-schedule}
`

// GaleraCluster is the throwaway 3-node MariaDB Galera cluster behind HAProxy that
// scripts/galera.sh runs under .iactq/galera.
type GaleraCluster struct {
	root string
	// Env holds IACTQ_DSN (worker) and IACTQ_ADMIN_DSN through HAProxy, and
	// IACTQ_GALERA_N1_DSN .. N3 (admin, straight to each node).
	Env map[string]string
}

// StartGalera creates a fresh cluster and its proxy (scripts/galera.sh down, then up:
// a cluster left running is replaced), installing the packages first when they are
// missing and this runs as root.
func StartGalera(ctx context.Context, root string) (*GaleraCluster, error) {
	g := &GaleraCluster{root: root}
	if _, err := g.sh(ctx, "down"); err != nil {
		return nil, err
	}
	if _, err := g.sh(ctx, "up"); err != nil {
		return nil, err
	}
	env, err := readEnvFile(filepath.Join(g.Base(), "env"))
	if err != nil {
		return nil, err
	}
	g.Env = env
	return g, nil
}

// Base is the cluster's directory.
func (g *GaleraCluster) Base() string { return filepath.Join(g.root, ".iactq", "galera") }

func (g *GaleraCluster) sh(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(g.root, "scripts", "galera.sh"), args...)
	// The script gets none of the caller's IACTQ_ settings but the cluster's ports:
	// without IACTQ_GALERA_PORT every checkout's cluster took 5300 and they collided.
	cmd.Env = withoutIACTQ(os.Environ())
	if p := os.Getenv("IACTQ_GALERA_PORT"); p != "" {
		cmd.Env = append(cmd.Env, "IACTQ_GALERA_PORT="+p)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/galera.sh %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// Server is the cluster as a Server: both users reach the writer through HAProxy.
func (g *GaleraCluster) Server() Server {
	return Server{AdminDSN: g.Env["IACTQ_ADMIN_DSN"], WorkerDSN: g.Env["IACTQ_DSN"]}
}

// NodeDSN is the admin DSN straight to node i (1..3), bypassing HAProxy.
func (g *GaleraCluster) NodeDSN(i int) string { return g.Env[fmt.Sprintf("IACTQ_GALERA_N%d_DSN", i)] }

// KillWriter SIGKILLs the node HAProxy routes to and returns its name (n1..n3) and pid.
func (g *GaleraCluster) KillWriter(ctx context.Context) (string, int, error) {
	out, err := g.sh(ctx, "kill-writer")
	if err != nil {
		return "", 0, err
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return "", 0, fmt.Errorf("scripts/galera.sh kill-writer printed %q", out)
	}
	pid, err := strconv.Atoi(f[1])
	return f[0], pid, err
}

// Down stops the proxy and the nodes (by their pid files).
func (g *GaleraCluster) Down(ctx context.Context) error {
	_, err := g.sh(ctx, "down")
	return err
}

// Galera is scenario 6: the crash suite against a 3-node MariaDB Galera cluster behind
// HAProxy (one writer, two backups). Worker processes drain noop jobs (random sleeps,
// 10 % failing their first attempts, a few panicking until discarded) while a driver
// SIGKILLs a worker every few seconds, and two enqueuers write jobs with colliding
// unique keys straight to the two other nodes (Galera certification conflicts, which
// must be retried like deadlocks). Mid-run the writing node is SIGKILLed: HAProxy moves
// to a backup, the workers continue, nothing may be lost or stuck, no job may run in
// two places at once, and every repeated execution must be one that at-least-once
// allows (its earlier run's attempt was rescued from a killed worker).
func Galera(ctx context.Context, o Options) (*Result, error) {
	workers, n, panics, maxSleep, killEvery, certEvery := 6, 30_000, 30, 20, 4*time.Second, 50*time.Millisecond
	if o.Short {
		workers, n, panics, maxSleep, killEvery, certEvery = 3, 4000, 5, 10, 5*time.Second, 100*time.Millisecond
	}
	r := &Result{Scenario: "6 galera cluster"}
	began := time.Now()
	defer func() { r.Elapsed = time.Since(began) }()

	o.logf("galera: starting a 3-node cluster and HAProxy (scripts/galera.sh up)")
	g, err := StartGalera(ctx, o.Root)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := g.Down(context.Background()); err != nil {
			o.logf("galera: %v", err)
			return
		}
		// Keep the nodes' logs; their data (~450 MB) only when something failed.
		if r.Passed() {
			for i := 1; i <= 3; i++ {
				_ = os.RemoveAll(filepath.Join(g.Base(), fmt.Sprintf("n%d", i), "data"))
			}
		}
	}()
	o.logf("galera: cluster up in %s", since(began))

	db, err := NewDatabase(ctx, g.Server())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.Admin.ExecContext(ctx, `CREATE TABLE iactq_galera_probe (id TINYINT PRIMARY KEY, node VARCHAR(16) NOT NULL, at TIMESTAMP(6) NOT NULL)`); err != nil {
		return nil, fmt.Errorf("create probe table: %w", err)
	}
	client, err := db.client()
	if err != nil {
		return nil, err
	}

	// The jobs, and the state each must end in (ids step by the node count).
	want, err := insertMixedJobs(ctx, client, n, panics, maxSleep, rand.NewPCG(7, 8))
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(9, 10)) // which worker to kill, and when
	o.logf("galera: %d jobs inserted through HAProxy, starting %d workers", n, workers)

	f, err := newFleet(o.Bin, filepath.Join(o.Dir, "galera"), galeraConfig, "IACTQ_DSN="+db.WorkerDSN)
	if err != nil {
		return nil, err
	}
	defer f.killAll()
	if err := f.startN(workers); err != nil {
		return nil, err
	}

	// Two enqueuers straight to n2 and n3 (bypassing HAProxy) insert the same unique
	// keys at the same moment until the drain ends: one commit per key loses
	// certification (1213 on COMMIT), the engine retries it and finds the other's job.
	certCtx, stopCert := context.WithCancel(ctx)
	defer stopCert()
	cert, err := startCertEnqueuers(certCtx, g, db, certEvery, &o)
	if err != nil {
		return nil, err
	}

	// The driver: SIGKILL a random worker every killEvery and start another.
	driverCtx, stopDriver := context.WithCancel(ctx)
	defer stopDriver()
	driverDone := make(chan struct{})
	go func() {
		defer close(driverDone)
		tick := time.NewTicker(killEvery)
		defer tick.Stop()
		for {
			select {
			case <-driverCtx.Done():
				return
			case <-tick.C:
			}
			live := f.live()
			if len(live) == 0 {
				continue
			}
			victim := live[rng.IntN(len(live))]
			if err := f.replace(victim); err != nil {
				o.logf("galera: start a worker: %v", err)
			}
			o.logf("galera: killed worker pid %d (%d kills), %d jobs pending", victim.pid, f.kills(), count(driverCtx, db.DB, pendingJobs))
		}
	}()

	// Mid-run: once a third of the jobs are done, SIGKILL the writing node.
	timeout := 30 * time.Minute
	if o.Short {
		timeout = 5 * time.Minute
	}
	var fo failover
	third := waitFor(ctx, timeout, func() bool {
		c := count(ctx, db.DB, pendingJobs)
		return c >= 0 && c <= n*2/3
	})
	if !third {
		r.fail("a third of the jobs were not done within %s", timeout)
	} else {
		probe := startProbe(ctx, db.AdminDSN)
		before := count(ctx, db.DB, pendingJobs)
		node, pid, err := g.KillWriter(ctx)
		fo.killAt = time.Now() // the SIGKILL is the script's last act
		if err != nil {
			probe.stop()
			return nil, err
		}
		fo.node, fo.pid = node, pid
		cert.nodeKilled(node)
		o.logf("galera: SIGKILLed the writing node %s (pid %d), %d jobs pending", node, pid, before)
		fo.routedAt, fo.newWriter, fo.writeAt, fo.probeErrs = probe.wait(node, 60*time.Second)
		o.logf("galera: HAProxy routes to %s after %s; first write through it after %s", fo.newWriter, fo.routedAt.Sub(fo.killAt).Round(10*time.Millisecond), fo.writeAt.Sub(fo.killAt).Round(10*time.Millisecond))
	}

	drained := waitFor(ctx, timeout, func() bool { return count(ctx, db.DB, pendingJobs) == 0 })
	stopDriver()
	<-driverDone
	if !drained {
		r.fail("jobs not all finished within %s", timeout)
	}
	stopCert()
	certRes := cert.wait()
	// Drain the cross-node jobs too (they are noops of 0 ms).
	if !waitFor(ctx, 2*time.Minute, func() bool { return count(ctx, db.DB, pendingJobs) == 0 }) {
		r.fail("the cross-node jobs did not all finish within 2 minutes")
	}
	time.Sleep(2 * time.Second) // a couple more schedule ticks with everyone alive
	f.stopInto(r)
	o.logf("galera: finished in %s; checking", since(began))

	r.Faults = f.kills()
	r.FaultDetail = fmt.Sprintf("%d worker SIGKILL", r.Faults)
	if fo.node != "" {
		r.Faults++
		r.FaultDetail += fmt.Sprintf(", writer node %s SIGKILL", fo.node)
	}

	all, err := loadJobs(ctx, db.DB)
	if err != nil {
		return nil, err
	}
	for id, state := range certRes.created {
		want[id] = state
	}
	r.Jobs = len(want)
	execs, err := readJournal(f.journal)
	if err != nil {
		return nil, err
	}
	checkFinal(r, all, want)
	for id, j := range all {
		if _, ok := want[id]; !ok && j.ScheduleName == "" {
			r.fail("job %d (%s) exists but no enqueue returned it", id, j.State)
		}
	}
	checkOverlaps(r, execs, all, nil)
	dead := func(x execution) bool { return f.wasKilled(x.WorkerPID) }
	checkFencing(r, execs, all, dead)
	checkMessages(r, all)
	checkRepeats(r, execs, all, dead)
	certRes.check(r)

	// Database errors must never become job failures.
	if n, ex := jobErrorsMentioning(all, "Error 1", "invalid connection", "bad connection", "WSREP", "deadlock", "commit"); n > 0 {
		r.fail("%d jobs recorded a database error as a failure, e.g. %s", n, ex)
	}

	// The schedule: one occurrence per tick.
	var occ, ticks, done int
	_ = db.DB.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT scheduled_at), COALESCE(SUM(state = 'completed'), 0) FROM iactq_jobs WHERE schedule_name = 'chaos_tick'`).Scan(&occ, &ticks, &done)
	if occ != ticks {
		r.fail("schedule chaos_tick: %d occurrences for %d distinct ticks", occ, ticks)
	}
	if done < 3 {
		r.fail("schedule chaos_tick: only %d occurrences completed", done)
	}
	r.note("schedule @every 1s: %d occurrences, %d distinct ticks, %d completed", occ, ticks, done)

	if fo.node != "" {
		fo.fromJournal(execs)
		r.note("%s", fo.String())
		if fo.routedAt.IsZero() || fo.writeAt.IsZero() {
			r.fail("no write went through HAProxy within 60 s of killing %s", fo.node)
		}
		if fo.resumeAt.IsZero() {
			r.fail("no job started after %s was killed", fo.node)
		}
	}
	r.note("%s", galeraNodes(ctx, g, fo.node))
	r.note("worker logs: %s", workerDBErrors(f))
	r.note("%d executions journaled for %d jobs; %d workers SIGKILLed", len(execs), r.Jobs, f.kills())
	return r, nil
}

// failover is what the writer's SIGKILL cost.
type failover struct {
	node      string // the node killed
	pid       int
	newWriter string
	killAt    time.Time
	routedAt  time.Time // first fresh connection through HAProxy to another node
	writeAt   time.Time // first write committed through HAProxy after the kill
	// The longest pause in execution starts (the journal) that covers the kill or
	// begins within 10 s after it: from pauseAt, the last start before it, to
	// resumeAt, the first start after it (jobs start the moment they are claimed).
	pauseAt, resumeAt time.Time
	probeErrs         map[string]int
}

// fromJournal finds the workers' pause around the kill.
func (fo *failover) fromJournal(execs []execution) {
	starts := make([]time.Time, 0, len(execs))
	for _, x := range execs {
		starts = append(starts, x.Start)
	}
	sort.Slice(starts, func(i, k int) bool { return starts[i].Before(starts[k]) })
	var best time.Duration
	for i := 1; i < len(starts); i++ {
		a, b := starts[i-1], starts[i]
		if b.Before(fo.killAt) || a.After(fo.killAt.Add(10*time.Second)) {
			continue
		}
		if d := b.Sub(a); d > best {
			best, fo.pauseAt, fo.resumeAt = d, a, b
		}
	}
}

func (fo *failover) String() string {
	after := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Sub(fo.killAt).Round(10 * time.Millisecond).String()
	}
	var errs []string
	for k, v := range fo.probeErrs {
		errs = append(errs, fmt.Sprintf("%s ×%d", k, v))
	}
	sort.Strings(errs)
	if len(errs) == 0 {
		errs = []string{"none"}
	}
	pause := "none"
	if !fo.resumeAt.IsZero() {
		pause = fmt.Sprintf("%s (from %s to %s)", fo.resumeAt.Sub(fo.pauseAt).Round(10*time.Millisecond), signed(fo.pauseAt.Sub(fo.killAt)), signed(fo.resumeAt.Sub(fo.killAt)))
	}
	return fmt.Sprintf("writer %s (pid %d) SIGKILLed at T: HAProxy routed a new connection to %s at T+%s; its first write committed at T+%s; longest pause in job starts %s; probe errors meanwhile: %s",
		fo.node, fo.pid, fo.newWriter, after(fo.routedAt), after(fo.writeAt), pause, strings.Join(errs, ", "))
}

func signed(d time.Duration) string {
	d = d.Round(10 * time.Millisecond)
	if d < 0 {
		return "T" + d.String()
	}
	return "T+" + d.String()
}

// probe opens a fresh connection through HAProxy every 50 ms and writes one row,
// to time the failover as a new client sees it.
type probe struct {
	mu      sync.Mutex
	nodeAt  map[string]time.Time // first time each node answered
	writeAt map[string]time.Time // first write committed on each node
	errs    map[string]int
	cancel  context.CancelFunc
	done    chan struct{}
}

func startProbe(ctx context.Context, dsn string) *probe {
	p := &probe{nodeAt: map[string]time.Time{}, writeAt: map[string]time.Time{}, errs: map[string]int{}, done: make(chan struct{})}
	ctx, p.cancel = context.WithCancel(ctx)
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			p.once(ctx, dsn)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return p
}

func (p *probe) once(ctx context.Context, dsn string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	db, err := queue.OpenDB(dsn)
	if err != nil {
		return
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	var node string
	if err := db.QueryRowContext(ctx, `SELECT @@wsrep_node_name`).Scan(&node); err != nil {
		p.sawErr(err)
		return
	}
	now := time.Now()
	p.mu.Lock()
	if _, ok := p.nodeAt[node]; !ok {
		p.nodeAt[node] = now
	}
	p.mu.Unlock()
	if _, err := db.ExecContext(ctx, `REPLACE INTO iactq_galera_probe (id, node, at) VALUES (1, ?, NOW(6))`, node); err != nil {
		p.sawErr(err)
		return
	}
	now = time.Now()
	p.mu.Lock()
	if _, ok := p.writeAt[node]; !ok {
		p.writeAt[node] = now
	}
	p.mu.Unlock()
}

var errNumber = regexp.MustCompile(`Error ([0-9]{4})`)

func (p *probe) sawErr(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	key := "other"
	msg := err.Error()
	switch {
	case errNumber.MatchString(msg):
		key = "Error " + errNumber.FindStringSubmatch(msg)[1]
	case strings.Contains(msg, "invalid connection"):
		key = "invalid connection"
	case strings.Contains(msg, "deadline exceeded"):
		key = "timeout (5 s)"
	case strings.Contains(msg, "EOF"), strings.Contains(msg, "connection reset"), strings.Contains(msg, "refused"):
		key = "connection closed"
	}
	p.mu.Lock()
	p.errs[key]++
	p.mu.Unlock()
}

// wait waits until a node other than killed took a write (or timeout), stops the
// probe and returns when HAProxy first routed to it, its name, when the first write
// committed there and the errors seen meanwhile.
func (p *probe) wait(killed string, timeout time.Duration) (routed time.Time, node string, write time.Time, errs map[string]int) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for k, t := range p.writeAt {
			if k != killed {
				node, write, routed = k, t, p.nodeAt[k]
			}
		}
		p.mu.Unlock()
		if node != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	errs = map[string]int{}
	for k, v := range p.errs {
		errs[k] = v
	}
	return routed, node, write, errs
}

func (p *probe) stop() {
	p.cancel()
	<-p.done
}

// certEnqueuers insert jobs with the same unique keys through two different nodes.
type certEnqueuers struct {
	counts [2]errorCounts
	wg     sync.WaitGroup
	mu     sync.Mutex
	ids    map[string][2]int64 // unique key -> the id each side got
	dup    [2]int              // results flagged Duplicate, per side
	errs   []string
	// killed is the node SIGKILLed as the writer: when HAProxy had moved the writer
	// to an enqueuer's node by then, that side's inserts fail for good (lostToKill).
	killed     string
	lostToKill int
	created    map[int64]string
	pools      [2]*sql.DB
	nodes      [2]int
}

func startCertEnqueuers(ctx context.Context, g *GaleraCluster, db *Database, every time.Duration, o *Options) (*certEnqueuers, error) {
	c := &certEnqueuers{ids: map[string][2]int64{}, created: map[int64]string{}}
	// The two nodes HAProxy does not route to.
	var writer string
	if err := db.Admin.QueryRowContext(ctx, `SELECT @@wsrep_node_name`).Scan(&writer); err != nil {
		return nil, fmt.Errorf("ask the writer's name: %w", err)
	}
	side := 0
	for i := 1; i <= 3 && side < 2; i++ {
		if fmt.Sprintf("n%d", i) != writer {
			c.nodes[side] = i
			side++
		}
	}
	var clients [2]*queue.Client
	for side, node := range c.nodes {
		dsn, err := withDB(g.NodeDSN(node), db.Name)
		if err != nil {
			return nil, err
		}
		if c.pools[side], err = openCounting(dsn, &c.counts[side]); err != nil {
			return nil, err
		}
		if clients[side], err = queue.NewClient(c.pools[side], jobs.NewRegistry(jobs.Deps{}), queue.Config{}, zerolog.Nop()); err != nil {
			return nil, err
		}
	}
	o.logf("galera: 2 enqueuers insert the same unique keys through n%d and n%d (the writer is %s), one key every %s", c.nodes[0], c.nodes[1], writer, every)
	for side := range 2 {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for ctx.Err() == nil {
				// Both sides insert the key of each period at its start.
				next := time.Now().Truncate(every).Add(every)
				time.Sleep(time.Until(next))
				key := fmt.Sprintf("galera-cert-%d", next.UnixMilli())
				// Not ctx: a stop must not cut an insert whose commit may have landed.
				res, err := clients[side].InsertMany(context.Background(), []queue.InsertParams{{Kind: "noop", UniqueKey: key, Args: jobs.NoopArgs{}}})
				c.mu.Lock()
				switch {
				case err != nil && c.killed == fmt.Sprintf("n%d", c.nodes[side]):
					c.lostToKill++
				case err != nil:
					c.errs = append(c.errs, fmt.Sprintf("n%d key %s: %v", c.nodes[side], key, err))
				default:
					ids := c.ids[key]
					ids[side] = res[0].ID
					c.ids[key] = ids
					if res[0].Duplicate {
						c.dup[side]++
					} else {
						c.created[res[0].ID] = "completed"
					}
				}
				c.mu.Unlock()
			}
		}()
	}
	return c, nil
}

// nodeKilled says which node was SIGKILLed.
func (c *certEnqueuers) nodeKilled(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.killed = node
}

func (c *certEnqueuers) wait() *certEnqueuers {
	c.wg.Wait()
	for _, p := range c.pools {
		p.Close()
	}
	return c
}

// check: no enqueue failed; both sides of each key got the same job, or the first
// job had finished (freeing the key) before the second insert.
func (c *certEnqueuers) check(r *Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) > 0 {
		sort.Strings(c.errs)
		r.fail("%d cross-node enqueues failed (certification conflicts must be retried), e.g. %s", len(c.errs), strings.Join(c.errs[:min(3, len(c.errs))], "; "))
	}
	if c.lostToKill > 0 {
		r.note("%d enqueues through %s failed after it was SIGKILLed (HAProxy had made it the writer by then)", c.lostToKill, c.killed)
	}
	same := 0
	for _, ids := range c.ids {
		if ids[0] == ids[1] && ids[0] != 0 {
			same++
		}
	}
	var dl, other [2]int64
	for i := range 2 {
		dl[i], other[i] = c.counts[i].deadlocks.Load(), c.counts[i].other.Load()
	}
	r.note("cross-node enqueues: %d unique keys through n%d and n%d at once; %d got the same job on both sides, %d+%d found it a duplicate; 1213 retried: %d+%d; other server errors retried: %d+%d; enqueue errors: %d",
		len(c.ids), c.nodes[0], c.nodes[1], same, c.dup[0], c.dup[1], dl[0], dl[1], other[0], other[1], len(c.errs))
	if other[0]+other[1] > 0 {
		r.note("cross-node enqueues saw %d server errors other than 1213/1205/1062 (retried or not, see the enqueue errors)", other[0]+other[1])
	}
}

// checkRepeats counts the jobs executed more than once for the same attempt, or
// successfully more than once: at-least-once allows that only when the earlier run's
// attempt was rescued from a worker that was killed (its outcome died with it).
func checkRepeats(r *Result, execs []execution, all map[int64]*jobRow, dead func(execution) bool) {
	byJob := map[int64][]execution{}
	for _, x := range execs {
		byJob[x.JobID] = append(byJob[x.JobID], x)
	}
	repeated, extra := 0, 0
	var bad []string
	for id, xs := range byJob {
		sort.Slice(xs, func(i, k int) bool { return xs[i].Start.Before(xs[k].Start) })
		j := all[id]
		seenOK := false
		perAttempt := map[int]int{}
		rep := false
		for _, x := range xs {
			perAttempt[x.Attempt]++
			again := perAttempt[x.Attempt] > 1 || (x.Err == nil && seenOK)
			if x.Err == nil {
				seenOK = true
			}
			if !again {
				continue
			}
			rep = true
			extra++
		}
		if !rep {
			continue
		}
		repeated++
		// Explained when every successful run but the last, and every run of a
		// repeated attempt but the last, belongs to an attempt rescued from a killed
		// worker.
		for i, x := range xs[:len(xs)-1] {
			later := xs[i+1:]
			redone := false
			for _, y := range later {
				if y.Attempt == x.Attempt || (x.Err == nil && y.Err == nil) {
					redone = true
				}
			}
			if redone && !(j != nil && j.rescued(x.Attempt) && dead(x)) {
				if len(bad) < 5 {
					bad = append(bad, fmt.Sprintf("job %d: %s was run again", id, describe(x)))
				}
			}
		}
	}
	r.Repeated = repeated
	r.note("%d jobs executed again after a killed worker's run (%d extra executions): at-least-once", repeated, extra)
	if len(bad) > 0 {
		r.fail("repeated executions at-least-once does not explain (the earlier run was not rescued from a killed worker), e.g.\n%s", strings.Join(bad, "\n"))
	}
}

// galeraNodes describes the surviving nodes: cluster size and certification counters.
func galeraNodes(ctx context.Context, g *GaleraCluster, killed string) string {
	var parts []string
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("n%d", i)
		if name == killed {
			parts = append(parts, name+" killed")
			continue
		}
		db, err := queue.OpenDB(g.NodeDSN(i))
		if err != nil {
			parts = append(parts, name+": "+err.Error())
			continue
		}
		st := map[string]string{}
		rows, err := db.QueryContext(ctx, `SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size', 'wsrep_local_state_comment', 'wsrep_local_cert_failures', 'wsrep_local_bf_aborts')`)
		if err == nil {
			for rows.Next() {
				var k, v string
				if rows.Scan(&k, &v) == nil {
					st[k] = v
				}
			}
			rows.Close()
		}
		db.Close()
		if err != nil {
			parts = append(parts, name+": "+err.Error())
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s, cluster size %s, cert failures %s, BF aborts %s", name, st["wsrep_local_state_comment"], st["wsrep_cluster_size"], st["wsrep_local_cert_failures"], st["wsrep_local_bf_aborts"]))
	}
	return "nodes at the end: " + strings.Join(parts, "; ")
}

// workerDBErrors counts, across the fleet's logs, the MySQL error numbers and lost
// connections the workers logged (each a warning the engine retried past).
func workerDBErrors(f *fleet) string {
	counts := map[string]int{}
	f.mu.Lock()
	for _, p := range f.procs {
		b, err := os.ReadFile(p.log)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, m := range errNumber.FindAllStringSubmatch(line, -1) {
				counts["Error "+m[1]]++
			}
			if strings.Contains(line, "invalid connection") {
				counts["invalid connection"]++
			}
		}
	}
	f.mu.Unlock()
	if len(counts) == 0 {
		return "no database errors logged"
	}
	var parts []string
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, v))
	}
	sort.Strings(parts)
	return "database errors logged (retried): " + strings.Join(parts, ", ")
}
