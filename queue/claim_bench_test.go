package queue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iact/iactq/queue"
)

// BenchmarkClaimAndComplete measures one claim of 100 jobs, as a producer makes it
// (heads, then its (kind, class) ranges read from its cursors, then the jobs marked
// running), and the completion of those 100 as the completer writes it, on a backlog
// of jobs of two kinds spread over the three SLA classes:
//
//	make test RACE= TEST_PKGS=./queue TEST_FLAGS='-run XXX -bench ClaimAndComplete -benchtime 200x -count 5'
//
// Each op is 100 jobs; ms/claim and ms/complete are the two halves.
func BenchmarkClaimAndComplete(b *testing.B) {
	const batch = 100
	now := time.Now()
	clk := &clock{now: now}
	db, c := orderClient(b, clk)
	// Due 0 to 3 hours ago: the kinds' SLAs ("test" 1 h / 2 h, "other" 1 h / 10 h)
	// put them in every class.
	for done := 0; done < b.N*batch; {
		n := min(1000, b.N*batch-done)
		rows := make([]any, 0, 2*n)
		query := "INSERT INTO iactq_jobs (kind, scheduled_at) VALUES "
		for i := 0; i < n; i++ {
			if i > 0 {
				query += ","
			}
			query += "(?, ?)"
			kind := "test"
			if (done+i)%3 == 0 {
				kind = "other"
			}
			rows = append(rows, kind, now.Add(-time.Duration((done+i)%10800)*time.Second))
		}
		db.Exec(b, query, rows...)
		done += n
	}
	claim := c.Claimer()
	ctx := context.Background()
	var claimTime, completeTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		began := time.Now()
		jobs, err := claim(ctx, "default", batch)
		if err != nil {
			b.Fatal(err)
		}
		if len(jobs) != batch {
			b.Fatalf("claim %d took %d jobs, want %d", i, len(jobs), batch)
		}
		claimed := time.Now()
		c.CompleteForTest(jobs)
		claimTime += claimed.Sub(began)
		completeTime += time.Since(claimed)
	}
	b.StopTimer()
	b.ReportMetric(float64(claimTime.Microseconds())/float64(b.N)/1000, "ms/claim")
	b.ReportMetric(float64(completeTime.Microseconds())/float64(b.N)/1000, "ms/complete")
	var left int
	if err := db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE state <> 'completed'`).Scan(&left); err != nil {
		b.Fatal(err)
	}
	if left != 0 {
		b.Fatalf("%d jobs not completed", left)
	}
}

// BenchmarkSLAOrdering measures the claim's plan: from the oldest job of each of 20
// kinds, which (kind, class) ranges to read, in class order.
func BenchmarkSLAOrdering(b *testing.B) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	slas := queue.DefaultSLAs()
	var oldest []queue.KindHead
	for i := 0; i < 20; i++ {
		kind := fmt.Sprintf("kind%02d", i)
		slas[kind] = queue.SLA{Deadline: time.Duration(i+1) * time.Hour, Urgent: time.Duration(i+1) * 30 * time.Minute}
		oldest = append(oldest, queue.KindHead{Kind: kind, Oldest: now.Add(-time.Duration(i*17) * time.Minute)})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ranges := queue.PlanClaimForTest(oldest, slas, now); ranges == 0 {
			b.Fatal("no range planned")
		}
	}
}
