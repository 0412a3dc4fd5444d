package queue_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

type otherArgs struct{}

func (otherArgs) Kind() string { return "other" }

func TestSLAClassAt(t *testing.T) {
	t.Parallel()
	sla := queue.SLA{Deadline: 2 * time.Hour, Urgent: time.Hour}
	due := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		age  time.Duration
		want queue.Class
	}{
		{0, queue.ClassNormal},
		{time.Hour, queue.ClassNormal}, // not over the threshold yet
		{time.Hour + time.Microsecond, queue.ClassUrgent},
		{2 * time.Hour, queue.ClassUrgent},
		{2*time.Hour + time.Microsecond, queue.ClassOverdue},
		{48 * time.Hour, queue.ClassOverdue},
		{-time.Hour, queue.ClassNormal}, // not due yet
	} {
		if got := sla.ClassAt(due, due.Add(tc.age)); got != tc.want {
			t.Errorf("age %s: class %s, want %s", tc.age, got, tc.want)
		}
	}
}

// clock is a settable clock for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func orderClient(t testing.TB, clk *clock) (*queuetest.DB, *queue.Client) {
	db := queuetest.New(t)
	reg := queue.NewRegistry()
	queue.Register(reg, queue.WorkFunc[testArgs](func(context.Context, *queue.Job[testArgs]) error { return nil }))
	queue.Register(reg, queue.WorkFunc[otherArgs](func(context.Context, *queue.Job[otherArgs]) error { return nil }))
	c, err := queue.NewClient(db.DB, reg, queue.Config{
		Now: clk.Now,
		SLAs: map[string]queue.SLA{
			"test":  {Deadline: 2 * time.Hour, Urgent: time.Hour},
			"other": {Deadline: 10 * time.Hour, Urgent: time.Hour},
		},
	}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return db, c
}

func insertAged(t testing.TB, db *queuetest.DB, kind string, due time.Time) int64 {
	t.Helper()
	res := db.Exec(t, `INSERT INTO iactq_jobs (kind, scheduled_at) VALUES (?, ?)`, kind, due)
	id, _ := res.LastInsertId()
	return id
}

func claimAll(t *testing.T, c *queue.Client, n int) []int64 {
	t.Helper()
	var ids []int64
	for {
		// One at a time: the order of claims is the order of execution.
		jobs, err := c.ClaimOnce(context.Background(), "default", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			return ids
		}
		ids = append(ids, jobs[0].ID)
		if len(ids) > n {
			t.Fatalf("claimed more jobs than inserted: %v", ids)
		}
	}
}

func TestClaimOrderBySLAClassThenAge(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clk := &clock{now: now}
	db, c := orderClient(t, clk)
	a := insertAged(t, db, "test", now.Add(-3*time.Hour))     // OVERDUE (SLA 2h)
	b := insertAged(t, db, "other", now.Add(-5*time.Hour))    // URGENT (SLA 10h), older than a
	cc := insertAged(t, db, "test", now.Add(-90*time.Minute)) // URGENT
	d := insertAged(t, db, "other", now.Add(-11*time.Hour))   // OVERDUE, oldest
	e := insertAged(t, db, "test", now.Add(-10*time.Minute))  // NORMAL
	f := insertAged(t, db, "other", now.Add(-30*time.Minute)) // NORMAL, older than e
	future := insertAged(t, db, "test", now.Add(time.Hour))   // not due: never claimed now
	want := []int64{d, a, b, cc, f, e}
	got := claimAll(t, c, 7)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("claim order %v, want %v (d a b c f e)", got, want)
	}
	clk.Set(now.Add(2 * time.Hour))
	if got := claimAll(t, c, 1); len(got) != 1 || got[0] != future {
		t.Fatalf("after it became due: claimed %v, want [%d]", got, future)
	}
}

func TestClaimClassesMoveAsTimePasses(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		elapsed time.Duration
		xFirst  bool
	}{
		// x: kind test (urgent 1h, SLA 2h), due at t0. y: kind other (urgent 1h,
		// SLA 10h), due 30 min before x.
		{"both NORMAL: older first", 10 * time.Minute, false},
		{"both URGENT: older first", 65 * time.Minute, false},
		{"x OVERDUE beats older URGENT y", 2*time.Hour + time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{now: t0.Add(tc.elapsed)}
			db, c := orderClient(t, clk)
			x := insertAged(t, db, "test", t0)
			y := insertAged(t, db, "other", t0.Add(-30*time.Minute))
			want := []int64{y, x}
			if tc.xFirst {
				want = []int64{x, y}
			}
			if got := claimAll(t, c, 2); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("order %v, want %v", got, want)
			}
		})
	}
}

func TestClaimTakesBatchAndSkipsLocked(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Now()}
	db, c := orderClient(t, clk)
	for i := 0; i < 50; i++ {
		insertAged(t, db, "test", clk.now.Add(-time.Duration(i)*time.Second))
	}
	// Concurrent claimers each get distinct jobs, and together all of them.
	if _, err := c.ClaimOnce(context.Background(), "no-such-queue", 1); err != nil { // registers the worker row
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for w := 0; w < 5; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				jobs, err := c.ClaimOnce(context.Background(), "default", 7)
				if err != nil {
					errs <- err
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					seen[j.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != 50 {
		t.Fatalf("claimed %d distinct jobs, want 50", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("job %d claimed %d times", id, n)
		}
	}
}

// TestClaimCursorStartsAfterLastClaimAndExpires: a claimer reads on from where its
// last claim ended (not again over the jobs it just took), so a job that becomes
// available behind that point waits until the cursors expire, a second later at most,
// or until a claim reaches the range's end, and is then claimed first, being the
// oldest.
func TestClaimCursorStartsAfterLastClaimAndExpires(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clk := &clock{now: now}
	db, c := orderClient(t, clk)
	var ids []int64
	for i := 0; i < 30; i++ {
		ids = append(ids, insertAged(t, db, "test", now.Add(-time.Minute+time.Duration(i)*time.Second)))
	}
	claim := c.Claimer()
	claimIDs := func(n int) []int64 {
		t.Helper()
		jobs, err := claim(context.Background(), "default", n)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, j := range jobs {
			got = append(got, j.ID)
		}
		return got
	}
	if got := claimIDs(10); fmt.Sprint(got) != fmt.Sprint(ids[:10]) {
		t.Fatalf("first claim %v, want %v", got, ids[:10])
	}
	// The third job goes back to the queue (as a released or retried job would).
	db.Exec(t, `UPDATE iactq_jobs SET state = 'available', claimed_by = NULL, attempt = 0 WHERE id = ?`, ids[2])
	if got := claimIDs(10); fmt.Sprint(got) != fmt.Sprint(ids[10:20]) {
		t.Fatalf("claim with the cursor %v, want %v (on from the last claim)", got, ids[10:20])
	}
	clk.Set(now.Add(1500 * time.Millisecond)) // past cursorTTL
	want := append([]int64{ids[2]}, ids[20:25]...)
	if got := claimIDs(6); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("claim after the cursors expired %v, want %v (the oldest first)", got, want)
	}
	// A claim that reaches the range's end (5 jobs for 10 asked) drops its cursor: a
	// job that becomes available behind it is taken by the very next claim.
	if got := claimIDs(10); fmt.Sprint(got) != fmt.Sprint(ids[25:]) {
		t.Fatalf("last claim %v, want %v", got, ids[25:])
	}
	db.Exec(t, `UPDATE iactq_jobs SET state = 'available', claimed_by = NULL, attempt = 0 WHERE id = ?`, ids[0])
	if got := claimIDs(10); fmt.Sprint(got) != fmt.Sprint(ids[:1]) {
		t.Fatalf("claim after the range's end %v, want %v", got, ids[:1])
	}
}

// TestClaimHeadsReadUncommitted: the producer reads the claim heads at READ
// UNCOMMITTED (a consistent read of them looked up every unpurged entry of the jobs
// claimed lately): it sees a job inserted by a transaction not yet committed, which a
// read at READ COMMITTED does not, and no more once that transaction rolled back.
func TestClaimHeadsReadUncommitted(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	ctx := context.Background()
	tx, err := b.db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO iactq_jobs (queue, kind) VALUES ('uncommitted', 'test')`); err != nil {
		t.Fatal(err)
	}
	heads := func(uncommitted bool) int {
		t.Helper()
		n, err := b.client.ClaimHeadsForTest(ctx, "uncommitted", uncommitted)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := heads(true); n != 1 {
		t.Fatalf("read uncommitted: %d heads of a queue with one job inserted, not committed; want 1", n)
	}
	if n := heads(false); n != 0 {
		t.Fatalf("read committed: %d heads of a queue with one job inserted, not committed; want 0", n)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := heads(true); n != 0 {
		t.Fatalf("read uncommitted: %d heads after the insert rolled back; want 0", n)
	}
}
