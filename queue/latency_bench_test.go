package queue_test

import (
	"database/sql"
	"math/rand/v2"
	"os"
	"sort"
	"testing"
	"time"
)

// BenchmarkEnqueueToStartAcrossProcesses measures, with one idle `iactq work` process,
// the time from a plain SQL INSERT in this process to the worker's claim of the job
// (attempted_at - created_at, both on this machine's clock), and how many statements
// per second the idle worker process sends. Run with
//
//	make test RACE= TEST_PKGS=./queue TEST_FLAGS='-run XXX -bench EnqueueToStart -benchtime 200x'
func BenchmarkEnqueueToStartAcrossProcesses(b *testing.B) {
	b.Run("poll", func(b *testing.B) { benchEnqueueToStart(b, "") })
	b.Run("binlog", func(b *testing.B) {
		dsn := os.Getenv("IACTQ_TEST_BINLOG_DSN")
		if dsn == "" {
			b.Fatal("IACTQ_TEST_BINLOG_DSN is not set: run with make test (scripts/db.sh creates the binlog user)")
		}
		benchEnqueueToStart(b, dsn)
	})
}

func benchEnqueueToStart(b *testing.B, binlogDSN string) {
	e := newProcEnv(b, "queues: {default: 10}\n")
	if binlogDSN != "" {
		e.start("--binlog-dsn", binlogDSN)
	} else {
		e.start()
	}
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

	// Idle cost: statements the server receives per second while the worker idles
	// (this process sends two, subtracted).
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
	time.Sleep(5 * time.Second)
	q1 := questions()
	b.ReportMetric(float64(q1-q0-1)/5, "idle-queries/s")
}
