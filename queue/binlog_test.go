package queue_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"

	"github.com/iact/iactq/internal/waitfor"
	"github.com/iact/iactq/queue"
)

// TestBinlogWakesIdleWorker: with polling effectively off (an hour), a job inserted with
// plain SQL can only be noticed through the binary log.
func TestBinlogWakesIdleWorker(t *testing.T) {
	t.Parallel()
	b := setupFollowing(t, queue.Config{PollInterval: time.Hour, IdlePollInterval: time.Hour})
	for i := 0; i < 3; i++ {
		res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('test')`)
		id, _ := res.LastInsertId()
		b.waitState(t, id, queue.StateCompleted)
	}
}

// TestBinlogRingsFromTheInsertsRows: following the binary log, the leader rings for
// a job inserted into an idle fleet from the insert's row images (queue, kind,
// scheduled_at), without reading the claim heads first: each of three jobs inserted
// 300 ms apart (the ring's check at the next poll has long found it taken) is rung
// for so, and runs. At least two of the three: a check slowed past the next insert
// leaves that one to a read of the heads.
func TestBinlogRingsFromTheInsertsRows(t *testing.T) {
	t.Parallel()
	b := setupFollowing(t, queue.Config{IdlePollInterval: time.Hour})
	before := b.client.InsertRings()
	for i := 0; i < 3; i++ {
		time.Sleep(300 * time.Millisecond)
		res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('test')`)
		id, _ := res.LastInsertId()
		b.waitState(t, id, queue.StateCompleted)
	}
	if n := b.client.InsertRings() - before; n < 2 {
		t.Fatalf("%d of 3 inserts into an idle fleet rung for from their row images; want at least 2", n)
	}
}

// TestBinlogLeaderTakesFirst: following the binary log, new work from an insert's row
// images that the leader's own process serves and has a free slot for is taken there,
// with no ring: of five jobs inserted 300 ms apart into an idle fleet of three, at
// least three are taken so and run in the leader's process (a check slowed past the
// next insert leaves one to a read of the heads). A job of a queue the leader does
// not serve is rung for, and runs in another process.
func TestBinlogLeaderTakesFirst(t *testing.T) {
	t.Parallel()
	cfg := queue.Config{BinlogDSN: binlogDSN(t), IdlePollInterval: time.Hour, Queues: map[string]int{"default": 5}}
	others := cfg
	others.Queues = map[string]int{"default": 5, "elsewhere": 5}
	f := newFleetOf(t, []queue.Config{cfg, others, others})
	f.startNext(t)
	if l := f.waitLeader(t); l != 0 {
		t.Fatalf("client %d leads; want the only one started, 0", l)
	}
	f.start(t)
	leader := f.clients[0]
	waitfor.True(t, 20*time.Second, leader.FollowsBinlog, func() string { return "the leader does not follow the binary log after 20 s" })
	completed := func(n int) func() bool {
		return func() bool { return f.count(t, `SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) == n }
	}
	took := 0
	for i := 1; i <= 5; i++ {
		time.Sleep(300 * time.Millisecond)
		taken, ran := leader.Taken(), f.ranBy[0].Load()
		f.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('test', '{}')`)
		waitUntil(t, "the job completed", completed(i))
		if leader.Taken() > taken && f.ranBy[0].Load() > ran {
			took++
		}
	}
	if took < 3 {
		t.Fatalf("%d of 5 jobs inserted into an idle fleet were taken by the leader's process itself; want at least 3", took)
	}
	time.Sleep(300 * time.Millisecond)
	rings, taken, ran := leader.Rings(), leader.Taken(), f.ranBy[0].Load()
	f.db.Exec(t, `INSERT INTO iactq_jobs (queue, kind, args) VALUES ('elsewhere', 'test', '{}')`)
	waitUntil(t, "the job of queue elsewhere completed", completed(6))
	if leader.Rings() == rings || leader.Taken() != taken || f.ranBy[0].Load() != ran {
		t.Fatalf("a job of a queue the leader does not serve: %d rings, %d taken, %d run by the leader; want a ring, none taken, none run",
			leader.Rings()-rings, leader.Taken()-taken, f.ranBy[0].Load()-ran)
	}
}

// TestBinlogInsertOfLaterJobsRingsNoOne: an insert of a job scheduled for later makes
// nothing available; the leader does not ring for it (it rang every seated waiter,
// after reading the heads 10 times in vain). The binary log is read in order: once a
// job inserted after it has run, its event was handled, and the leader woke a
// process once, for that job (rang, or took it itself).
func TestBinlogInsertOfLaterJobsRingsNoOne(t *testing.T) {
	t.Parallel()
	b := setupFollowing(t, queue.Config{PollInterval: time.Hour, IdlePollInterval: time.Hour})
	before := b.client.Wakes()
	b.db.Exec(t, `INSERT INTO iactq_jobs (kind, state, scheduled_at, available_at) VALUES ('test', 'scheduled', NOW(6) + INTERVAL 1 HOUR, NOW(6) + INTERVAL 1 HOUR)`)
	// Apart, so that the two events are not taken together.
	time.Sleep(200 * time.Millisecond)
	res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('test')`)
	id, _ := res.LastInsertId()
	b.waitState(t, id, queue.StateCompleted)
	if n := b.client.Wakes() - before; n != 1 {
		t.Fatalf("the leader woke a process %d times for a job scheduled in an hour and one available now; want once", n)
	}
}

// TestBinlogWakesOnUpdates: a job that becomes available by an update (a retry
// promoted by another process, here plain SQL) wakes an idle worker, also after the
// table's definition changed (a column added before state: the follower reads the
// columns again under the table's new id).
func TestBinlogWakesOnUpdates(t *testing.T) {
	t.Parallel()
	dsn := binlogDSN(t)
	b := setup(t, queue.Config{BinlogDSN: dsn, PollInterval: time.Hour, IdlePollInterval: time.Hour})
	retryLater := func() int64 {
		res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind, state, attempt, available_at) VALUES ('test', 'retryable', 1, NOW(6) + INTERVAL 1 DAY)`)
		id, _ := res.LastInsertId()
		return id
	}
	first, second := retryLater(), retryLater()
	b.startWorker(t)
	b.waitFollowing(t)

	b.db.Exec(t, `UPDATE iactq_jobs SET state = 'available', available_at = NULL WHERE id = ?`, first)
	b.waitState(t, first, queue.StateCompleted)

	admin, err := queue.OpenDB(b.db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`ALTER TABLE iactq_jobs ADD COLUMN added BIGINT NOT NULL DEFAULT 0 AFTER args`); err != nil {
		t.Fatal(err)
	}
	b.db.Exec(t, `UPDATE iactq_jobs SET state = 'available', available_at = NULL WHERE id = ?`, second)
	b.waitState(t, second, queue.StateCompleted)
}

// TestBinlogUnavailableFallsBackToPolling: a binlog DSN that cannot follow leaves the
// worker polling.
func TestBinlogUnavailableFallsBackToPolling(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{BinlogDSN: "nobody:wrong@tcp(127.0.0.1:1)/x", PollInterval: 20 * time.Millisecond})
	b.startWorker(t)
	res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('test')`)
	id, _ := res.LastInsertId()
	b.waitState(t, id, queue.StateCompleted)
}

// setupFollowing is setup with the binary log followed by the test's replication DSN,
// and a worker started that follows it.
func setupFollowing(t *testing.T, cfg queue.Config) *bundle {
	t.Helper()
	cfg.BinlogDSN = binlogDSN(t)
	b := setup(t, cfg)
	b.startWorker(t)
	b.waitFollowing(t)
	return b
}

// waitFollowing waits until the worker follows the binary log: until a job inserted
// with plain SQL runs, polling being off (one is inserted every half second: those
// inserted before the follower started are seen with the next one).
func (b *bundle) waitFollowing(t *testing.T) {
	t.Helper()
	// Once it follows, the stream starts at the position read just before: every
	// insert from now on is an event.
	waitfor.True(t, 20*time.Second, b.client.FollowsBinlog, func() string {
		return "the leader does not follow the binary log after 20 s"
	})
}

// TestBinlogAutomaticWithOwnDSN: without a binlog DSN, a worker whose own user may
// follow the binary log (here the admin user, which has every privilege) follows it:
// with the leader's polling off (an hour), each plain-SQL insert wakes a process (the
// leader's own here: it takes the job itself, or rings the doorbell), and the leader
// says so. (A job would run anyway within a second, the waiters' wait after a recent
// ring; the wake-ups tell the binary log's.)
func TestBinlogAutomaticWithOwnDSN(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	logs := b.ownDSNClient(t, b.db.AdminDSN, queue.Config{PollInterval: time.Hour, IdlePollInterval: time.Hour})
	b.startWorker(t)
	b.waitFollowing(t)
	for i := 0; i < 3; i++ {
		wakes := b.client.Wakes()
		res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('test')`)
		id, _ := res.LastInsertId()
		waitfor.True(t, 5*time.Second, func() bool { return b.client.Wakes() > wakes }, func() string {
			return fmt.Sprintf("insert %d of 3 woke no process within 5 s, polling off: the leader does not follow the binary log", i+1)
		})
		b.waitState(t, id, queue.StateCompleted)
	}
	if n := len(logs.matching("info", "with the worker's own DSN")); n < 1 {
		t.Errorf("no info line says the leader follows the binary log with the worker's own DSN:\n%s", logs)
	}
	if n := len(logs.matching("", "not following the binary log")); n != 0 {
		t.Errorf("%d lines say the binary log is not followed:\n%s", n, logs)
	}
}

// TestBinlogAutomaticWithoutGrantsPolls: without a binlog DSN, a worker whose user
// lacks the replication grants (iactq_worker) polls, and says why once, at info level:
// not again when this client's Work leads again, and with no warning.
func TestBinlogAutomaticWithoutGrantsPolls(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	logs := b.ownDSNClient(t, b.db.WorkerDSN, queue.Config{PollInterval: 20 * time.Millisecond})
	for round := 0; round < 2; round++ {
		stop := b.startWorker(t)
		res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('test')`)
		id, _ := res.LastInsertId()
		b.waitState(t, id, queue.StateCompleted)
		waitfor.True(t, 20*time.Second, func() bool { return b.client.Leading() }, func() string { return "this worker is not elected leader" })
		if round == 0 {
			waitfor.True(t, 20*time.Second, func() bool { return len(logs.matching("", "not following the binary log")) > 0 },
				func() string { return "no line says why the binary log is not followed:\n" + logs.String() })
		} else {
			time.Sleep(time.Second) // the second term's watcher has tried by now
		}
		stop()
	}
	lines := logs.matching("", "not following the binary log")
	if len(lines) != 1 {
		t.Fatalf("%d lines say why the binary log is not followed over two terms, want 1:\n%s", len(lines), logs)
	}
	if l := lines[0]; l["level"] != "info" || !strings.Contains(fmt.Sprint(l["reason"]), "lacks BINLOG MONITOR") {
		t.Errorf("line %v: want level info and a reason naming BINLOG MONITOR", l)
	}
	for _, l := range logs.matching("warn", "binlog") {
		t.Errorf("a warning about the binary log: %v", l)
	}
	if n := len(logs.matching("", "following the binary log for wake-ups")); n != 0 {
		t.Errorf("%d lines say the leader follows the binary log:\n%s", n, logs)
	}
}

// TestBinlogAutomaticWithoutReplicationSlave: a user that may read the binary log's
// position (BINLOG MONITOR) but not register as a replica (REPLICATION SLAVE) polls,
// and the reason names REPLICATION SLAVE: found by trying to follow.
func TestBinlogAutomaticWithoutReplicationSlave(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	admin, err := queue.OpenDB(b.db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	cfg, err := mysql.ParseDSN(b.db.WorkerDSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User = "iactq_m_" + b.db.Name[len("iactq_t_"):]
	for _, stmt := range []string{
		fmt.Sprintf("CREATE USER '%s'@'localhost' IDENTIFIED BY '%s'", cfg.User, cfg.Passwd),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s.* TO '%s'@'localhost'", b.db.Name, cfg.User),
		fmt.Sprintf("GRANT BINLOG MONITOR ON *.* TO '%s'@'localhost'", cfg.User),
	} {
		if _, err := admin.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(fmt.Sprintf("DROP USER '%s'@'localhost'", cfg.User)); err != nil {
			t.Error(err)
		}
	})
	logs := b.ownDSNClient(t, cfg.FormatDSN(), queue.Config{PollInterval: 20 * time.Millisecond})
	b.startWorker(t)
	res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('test')`)
	id, _ := res.LastInsertId()
	b.waitState(t, id, queue.StateCompleted)
	waitfor.True(t, 20*time.Second, func() bool { return len(logs.matching("info", "not following the binary log")) > 0 },
		func() string { return "no line says why the binary log is not followed:\n" + logs.String() })
	if l := logs.matching("info", "not following the binary log")[0]; !strings.Contains(fmt.Sprint(l["reason"]), "lacks REPLICATION SLAVE") {
		t.Errorf("line %v: want a reason naming REPLICATION SLAVE", l)
	}
}

// TestBinlogOffPolls: BinlogDSN "off" keeps a worker whose user could follow the
// binary log polling: no attempt, no line about it.
func TestBinlogOffPolls(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	logs := b.ownDSNClient(t, b.db.AdminDSN, queue.Config{BinlogDSN: "OFF", PollInterval: 20 * time.Millisecond})
	b.startWorker(t)
	waitfor.True(t, 20*time.Second, func() bool { return b.client.Leading() }, func() string { return "this worker is not elected leader" })
	res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('test')`)
	id, _ := res.LastInsertId()
	b.waitState(t, id, queue.StateCompleted)
	time.Sleep(time.Second)
	for _, l := range logs.matching("", "binary log") {
		t.Errorf("a line about the binary log with BinlogDSN off: %v", l)
	}
}

// ownDSNClient replaces b's client by one over a pool for dsn, with cfg.DSN = dsn and
// no binlog DSN unless cfg has one, logging at info level to the test and to the
// returned lines.
func (b *bundle) ownDSNClient(t *testing.T, dsn string, cfg queue.Config) *logLines {
	t.Helper()
	db, err := queue.OpenDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg.DSN = dsn
	logs := &logLines{}
	log := zerolog.New(io.MultiWriter(zerolog.NewTestWriter(t), logs)).Level(zerolog.InfoLevel)
	if b.client, err = queue.NewClient(db, b.client.Registry(), cfg, log); err != nil {
		t.Fatal(err)
	}
	return logs
}

// logLines keeps the JSON lines a logger writes.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// matching returns the lines at level (any when "") whose message contains text.
func (l *logLines) matching(level, text string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if msg, _ := m["message"].(string); strings.Contains(msg, text) && (level == "" || m["level"] == level) {
			out = append(out, m)
		}
	}
	return out
}

// binlogDSN is the replication DSN the binary-log tests follow with.
func binlogDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("IACTQ_TEST_BINLOG_DSN")
	if dsn == "" {
		t.Fatal("IACTQ_TEST_BINLOG_DSN is not set: run the tests with `make test`")
	}
	return dsn
}
