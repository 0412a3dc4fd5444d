package queue_test

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"testing"
	"time"
)

// BenchmarkEnqueueToStartAcrossProcesses measures, with 1 and 50 idle `iactq work`
// processes (one of them the leader, which watches and rings the doorbell the others
// wait on), the time from a plain SQL INSERT in this process to a worker's claim of
// the job (attempted_at - created_at, both on this machine's clock), and how many
// statements per second the server receives while they idle. Run with
//
//	make test RACE= TEST_PKGS=./queue TEST_FLAGS='-run XXX -bench EnqueueToStart -benchtime 200x'
func BenchmarkEnqueueToStartAcrossProcesses(b *testing.B) {
	for _, procs := range []int{1, 50} {
		b.Run(fmt.Sprintf("poll/procs=%d", procs), func(b *testing.B) { benchEnqueueToStart(b, "", procs) })
		b.Run(fmt.Sprintf("binlog/procs=%d", procs), func(b *testing.B) {
			dsn := os.Getenv("IACTQ_TEST_BINLOG_DSN")
			if dsn == "" {
				b.Fatal("IACTQ_TEST_BINLOG_DSN is not set: run with make test (scripts/db.sh creates the binlog user)")
			}
			benchEnqueueToStart(b, dsn, procs)
		})
	}
}

// BenchmarkIdleQueries measures the statements per second the server receives from
// 1, 10 and 50 idle `iactq work` processes at the defaults, over 30 s (three safety-net
// periods), after they all registered and a leader was elected. Run with
//
//	make test RACE= TEST_PKGS=./queue TEST_FLAGS='-run XXX -bench IdleQueries -benchtime 1x'
func BenchmarkIdleQueries(b *testing.B) {
	for _, procs := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			e := newProcEnv(b, "queues: {default: 10}\n")
			startIdleFleet(b, e, procs, "")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				q := idleQueriesPerSecond(b, e, 30*time.Second)
				b.ReportMetric(q, "idle-queries/s")
				b.ReportMetric(q/float64(procs), "per-process-queries/s")
			}
		})
	}
}

// startIdleFleet starts procs worker processes and waits until all are registered
// and one leads.
func startIdleFleet(b *testing.B, e *procEnv, procs int, binlogDSN string) {
	for i := 0; i < procs; i++ {
		if binlogDSN != "" {
			e.start("--binlog-dsn", binlogDSN)
		} else {
			e.start()
		}
	}
	e.waitFor("every worker registered and a leader", 2*time.Minute, func() bool {
		return e.count(`SELECT COUNT(*) FROM iactq_workers`) == procs &&
			e.count(`SELECT COUNT(*) FROM iactq_leader WHERE expires_at > NOW(6)`) == 1
	})
}

// idleQueriesPerSecond is the server's statements per second over d (the server's
// Questions counter: every statement of every session; this process's two reads
// subtracted).
func idleQueriesPerSecond(b *testing.B, e *procEnv, d time.Duration) float64 {
	questions := func() int64 {
		var name string
		var n int64
		if err := e.db.DB.QueryRow(`SHOW GLOBAL STATUS LIKE 'Questions'`).Scan(&name, &n); err != nil && err != sql.ErrNoRows {
			b.Fatal(err)
		}
		return n
	}
	time.Sleep(time.Second)
	q0 := questions()
	time.Sleep(d)
	q1 := questions()
	return float64(q1-q0-1) / d.Seconds()
}

func benchEnqueueToStart(b *testing.B, binlogDSN string, procs int) {
	e := newProcEnv(b, "queues: {default: 10}\n")
	startIdleFleet(b, e, procs, binlogDSN)
	waitDone := func(id int64) {
		for {
			var state string
			if err := e.db.DB.QueryRow(`SELECT state FROM iactq_jobs WHERE id = ?`, id).Scan(&state); err != nil {
				b.Fatal(err)
			}
			if state == "completed" {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	// Warm up: the worker is registered and polling.
	res := e.db.Exec(b, `INSERT INTO iactq_jobs (kind) VALUES ('noop')`)
	id, _ := res.LastInsertId()
	waitDone(id)

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond) // out of step with the poll
		res := e.db.Exec(b, `INSERT INTO iactq_jobs (kind) VALUES ('noop')`)
		id, _ := res.LastInsertId()
		waitDone(id)
		var created, attempted time.Time
		if err := e.db.DB.QueryRow(`SELECT created_at, attempted_at FROM iactq_jobs WHERE id = ?`, id).Scan(&created, &attempted); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, attempted.Sub(created))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.90), "p90-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")

	// Idle cost: statements the server receives per second while the workers idle.
	b.ReportMetric(idleQueriesPerSecond(b, e, 10*time.Second), "idle-queries/s")
}
