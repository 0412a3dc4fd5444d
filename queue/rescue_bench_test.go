package queue_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// BenchmarkRescueOrphans measures the rescue of the running jobs a SIGKILLed worker
// leaves (it claims ahead, up to about a thousand), 1 in 25 at its final attempt,
// one job at a time as Rescue did before (RescueOneJobAtATimeForTest, called until
// nothing is left, as rounds of the leader would, without the wait between them) and
// in batches as it does now. Each op rescues both ways, in turn first, the jobs
// deleted in between; the metrics are the medians over the ops:
//
//	make test RACE= TEST_PKGS=./queue TEST_FLAGS='-run XXX -bench RescueOrphans -benchtime 5x'
func BenchmarkRescueOrphans(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("orphans=%d", n), func(b *testing.B) { benchRescue(b, n) })
	}
}

func benchRescue(b *testing.B, n int) {
	db := queuetest.New(b)
	c, err := queue.NewClient(db.DB, queue.NewRegistry(), queue.Config{RescueAfter: 2 * time.Second}, zerolog.New(io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	jobs := make([]orphan, n)
	for i := range jobs {
		jobs[i] = orphan{worker: 999999, attempt: 1, maxAttempts: 3}
		if i%25 == 0 {
			jobs[i] = orphan{worker: 999999, attempt: 2, maxAttempts: 2, requestedBy: "analyst"}
		}
	}
	ways := []struct {
		name   string
		rescue func(context.Context) (int, error)
		took   []time.Duration
	}{
		{name: "one-by-one", rescue: c.RescueOneJobAtATimeForTest},
		{name: "batched", rescue: c.Rescue},
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range ways {
			w := &ways[(i+k)%len(ways)]
			b.StopTimer()
			db.Exec(b, `DELETE FROM iactq_jobs`)
			db.Exec(b, `DELETE FROM internal_messages`)
			insertRunning(b, db, jobs)
			b.StartTimer()
			began := time.Now()
			total := 0
			for {
				got, err := w.rescue(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if got == 0 {
					break
				}
				total += got
			}
			w.took = append(w.took, time.Since(began))
			if total != n {
				b.Fatalf("%s rescued %d of %d", w.name, total, n)
			}
		}
	}
	b.StopTimer()
	for _, w := range ways {
		slices.Sort(w.took)
		med := w.took[len(w.took)/2]
		b.ReportMetric(float64(med.Microseconds())/1000, "ms/"+w.name)
		b.ReportMetric(float64(n)/med.Seconds(), "jobs/s/"+w.name)
	}
}
