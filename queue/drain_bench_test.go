package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// BenchmarkDrain measures an in-process worker draining b.N pre-inserted jobs of a
// kind that does nothing, at the default concurrency and a few more: the engine's own
// overhead per job (claim, dispatch, completion), with a profile a go test -cpuprofile
// can take. jobs/claim shows the claims' size: bounded by the work claimed ahead
// (aheadMax for jobs this short), not by the slots.
//
//	make test RACE= TEST_PKGS=./queue TEST_FLAGS='-run XXX -bench Drain -benchtime 20000x'
func BenchmarkDrain(b *testing.B) {
	for _, concurrency := range []int{queue.DefaultConfig().Queues["default"], 100, 500} {
		b.Run(fmt.Sprintf("concurrency=%d", concurrency), func(b *testing.B) {
			db := queuetest.New(b)
			reg := queue.NewRegistry()
			queue.Register(reg, queue.WorkFunc[testArgs](func(context.Context, *queue.Job[testArgs]) error { return nil }))
			obs := &countingObserver{}
			c, err := queue.NewClient(db.DB, reg, queue.Config{Queues: map[string]int{"default": concurrency}, PollInterval: 10 * time.Millisecond, Observer: obs}, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for done := 0; done < b.N; {
				n := min(1000, b.N-done)
				ps := make([]queue.InsertParams, n)
				for i := range ps {
					ps[i] = queue.InsertParams{Kind: "test", Args: json.RawMessage(`{}`)}
				}
				if _, err := c.InsertMany(ctx, ps); err != nil {
					b.Fatal(err)
				}
				done += n
			}
			statements := func() float64 {
				var name string
				var n float64
				if err := db.DB.QueryRow(`SHOW GLOBAL STATUS LIKE 'Questions'`).Scan(&name, &n); err != nil {
					b.Fatal(err)
				}
				return n
			}
			q0 := statements()
			b.ResetTimer()
			workCtx, cancel := context.WithCancel(ctx)
			stopped := make(chan struct{})
			go func() { defer close(stopped); _ = c.Work(workCtx) }()
			// Watch with an index dive, not a COUNT of completed jobs: counting
			// the finished range every few milliseconds slows the drain it watches.
			for {
				var unfinished bool
				if err := db.DB.QueryRow(`SELECT EXISTS (SELECT 1 FROM iactq_jobs WHERE state IN ('available', 'running', 'scheduled', 'retryable'))`).Scan(&unfinished); err != nil {
					b.Fatal(err)
				}
				if !unfinished {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			b.StopTimer()
			var completed int
			if err := db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`).Scan(&completed); err != nil {
				b.Fatal(err)
			}
			if completed != b.N {
				b.Fatalf("%d of %d jobs completed", completed, b.N)
			}
			// Statements the server received per job (other sessions' too: run alone).
			b.ReportMetric((statements()-q0)/float64(b.N), "statements/job")
			b.ReportMetric(float64(c.Rings()), "rings")
			cancel()
			<-stopped
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
			obs.mu.Lock()
			defer obs.mu.Unlock()
			if obs.claims > 0 {
				b.ReportMetric(float64(obs.claimed)/float64(obs.claims), "jobs/claim")
				b.ReportMetric(float64(obs.claimTime.Microseconds())/float64(obs.claims)/1000, "ms/claim")
			}
		})
	}
}

// countingObserver counts claims, for the benchmark's report.
type countingObserver struct {
	queue.NopObserver
	mu        sync.Mutex
	claims    int
	claimed   int
	claimTime time.Duration
}

func (o *countingObserver) Claimed(_ string, n int, took time.Duration) {
	o.mu.Lock()
	o.claims++
	o.claimed += n
	o.claimTime += took
	o.mu.Unlock()
}
