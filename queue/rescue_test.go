package queue_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// orphan is a running job the tests insert for a worker: at attempt of maxAttempts.
type orphan struct {
	worker               int64
	attempt, maxAttempts int
	requestedBy          string
}

// insertRunning inserts jobs running for their workers, a thousand rows a statement,
// and returns their ids in order.
func insertRunning(t testing.TB, db *queuetest.DB, jobs []orphan) []int64 {
	t.Helper()
	ids := make([]int64, 0, len(jobs))
	for done := 0; done < len(jobs); {
		n := min(1000, len(jobs)-done)
		var q strings.Builder
		q.WriteString("INSERT INTO iactq_jobs (kind, state, attempt, max_attempts, claimed_by, attempted_at, requested_by) VALUES ")
		args := make([]any, 0, 5*n)
		for i, o := range jobs[done : done+n] {
			if i > 0 {
				q.WriteString(",")
			}
			q.WriteString("('test', 'running', ?, ?, ?, NOW(6) - INTERVAL 1 MINUTE, ?)")
			var by any
			if o.requestedBy != "" {
				by = o.requestedBy
			}
			args = append(args, o.attempt, o.maxAttempts, o.worker, by)
		}
		res := db.Exec(t, q.String(), args...)
		first, err := res.LastInsertId() // the first row of a multi-row insert
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			ids = append(ids, first+int64(i))
		}
		done += n
	}
	return ids
}

// insertWorker registers a worker whose last heartbeat was ago.
func insertWorker(t testing.TB, db *queuetest.DB, ago time.Duration) int64 {
	t.Helper()
	res := db.Exec(t, `INSERT INTO iactq_workers (host, pid, queues, heartbeat_at) VALUES ('w', 1, 'default=1', NOW(6) - INTERVAL ? MICROSECOND)`, ago.Microseconds())
	id, err := res.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type rescuedRow struct {
	state     string
	attempt   int
	claimedBy sql.NullInt64
	finished  bool
	errors    []queue.AttemptError
}

func readJobs(t testing.TB, db *queuetest.DB) map[int64]rescuedRow {
	t.Helper()
	rows, err := db.DB.Query(`SELECT id, state, attempt, claimed_by, finished_at IS NOT NULL, errors FROM iactq_jobs`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]rescuedRow{}
	for rows.Next() {
		var id int64
		var r rescuedRow
		var errs []byte
		if err := rows.Scan(&id, &r.state, &r.attempt, &r.claimedBy, &r.finished, &errs); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(errs, &r.errors); err != nil {
			t.Fatal(err)
		}
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// lockedBuffer collects a client's log lines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestRescueManyOrphansInOneCall: a dead worker that claimed ahead leaves 1200
// running jobs, 50 of them at their final attempt, and an earlier dead worker 3; one
// Rescue call puts the 1153 others back, available at the attempt they lost with
// that attempt's error recorded, and discards the 50 with their requester told. A
// live worker's jobs stay running. The log has one line per dead worker, and one per
// discarded job.
func TestRescueManyOrphansInOneCall(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{RescueAfter: 2 * time.Second, HeartbeatInterval: 500 * time.Millisecond})
	logs := &lockedBuffer{}
	c, err := queue.NewClient(b.db.DB, queue.NewRegistry(), queue.Config{RescueAfter: 2 * time.Second, HeartbeatInterval: 500 * time.Millisecond}, zerolog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	live := insertWorker(t, b.db, 0)
	dead := insertWorker(t, b.db, time.Minute)
	const gone = 999999 // a worker declared dead earlier, its row deleted already
	var jobs []orphan
	for i := range 1200 {
		o := orphan{worker: dead, attempt: 1, maxAttempts: 3}
		switch {
		case i%24 == 5:
			o = orphan{worker: dead, attempt: 2, maxAttempts: 2, requestedBy: "analyst"}
		case i%24 == 7:
			o = orphan{worker: dead, attempt: 2, maxAttempts: 3}
		}
		jobs = append(jobs, o)
		if i%400 == 0 {
			jobs = append(jobs, orphan{worker: gone, attempt: 4, maxAttempts: 25})
			jobs = append(jobs, orphan{worker: live, attempt: 1, maxAttempts: 3})
		}
	}
	ids := insertRunning(t, b.db, jobs)

	n, err := c.Rescue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1203 {
		t.Fatalf("rescued %d jobs in one call; want all 1203 of the dead workers", n)
	}
	rows := readJobs(t, b.db)
	for i, id := range ids {
		o, r := jobs[i], rows[id]
		if o.worker == live {
			if r.state != "running" || r.claimedBy.Int64 != live || len(r.errors) != 0 {
				t.Fatalf("job %d of the live worker: %+v; want it left running", id, r)
			}
			continue
		}
		want := "available"
		if o.attempt >= o.maxAttempts {
			want = "discarded"
		}
		if r.state != want || r.claimedBy.Valid || r.attempt != o.attempt || r.finished != (want == "discarded") {
			t.Fatalf("job %d (%+v) after the rescue: %+v; want %s at attempt %d, unclaimed", id, o, r, want, o.attempt)
		}
		msg := fmt.Sprintf("worker %d stopped heart-beating while running this attempt", o.worker)
		if len(r.errors) != 1 || r.errors[0].Attempt != o.attempt || r.errors[0].Error != msg || r.errors[0].At.IsZero() {
			t.Fatalf("job %d errors %+v; want the lost attempt %d: %q", id, r.errors, o.attempt, msg)
		}
	}
	msgs, err := b.client.Messages(ctx, "analyst", false, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 50 {
		t.Fatalf("%d messages for the 50 discarded jobs", len(msgs))
	}

	perWorker := map[int64][2]int{}
	declared, discarded := 0, 0
	for _, l := range logs.lines(t) {
		switch l["message"] {
		case "rescued the running jobs of a dead worker":
			perWorker[int64(l["worker_id"].(float64))] = [2]int{int(l["requeued"].(float64)), int(l["discarded"].(float64))}
		case "discarded a job of a dead worker: it was running its last attempt":
			discarded++
		case "worker stopped heart-beating; declared dead":
			declared++
		default:
			t.Errorf("log line %v", l)
		}
	}
	want := map[int64][2]int{dead: {1150, 50}, gone: {3, 0}}
	if fmt.Sprint(perWorker) != fmt.Sprint(want) || declared != 1 || discarded != 50 {
		t.Fatalf("logged per worker %v (want %v), %d declared dead (want 1), %d discarded (want 50)", perWorker, want, declared, discarded)
	}
	if n, err := c.Rescue(ctx); err != nil || n != 0 {
		t.Fatalf("second rescue: %d %v; want nothing left", n, err)
	}
}

// TestRescueIsBoundedPerCall: one call rescues at most queue.RescuePerCall orphans,
// the next the rest.
func TestRescueIsBoundedPerCall(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{RescueAfter: 2 * time.Second, HeartbeatInterval: 500 * time.Millisecond})
	ctx := context.Background()
	jobs := make([]orphan, queue.RescuePerCall+7)
	for i := range jobs {
		jobs[i] = orphan{worker: 999999, attempt: 1, maxAttempts: 3}
	}
	insertRunning(t, b.db, jobs)
	if n, err := b.client.Rescue(ctx); err != nil || n != queue.RescuePerCall {
		t.Fatalf("first rescue: %d %v; want %d", n, err, queue.RescuePerCall)
	}
	if n, err := b.client.Rescue(ctx); err != nil || n != 7 {
		t.Fatalf("second rescue: %d %v; want the 7 left", n, err)
	}
}

// TestRescueLeavesJobsChangedSinceRead: the orphans are read, then, before the
// rescue's writes, some change hands: a job runs at another attempt, another is
// claimed by another worker, a third cancelled, a fourth's attempts lowered to the
// one it runs, and two at their final attempt change attempt or worker. The rescue
// of what it read leaves all of them as they are and rescues only the two unchanged.
func TestRescueLeavesJobsChangedSinceRead(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{RescueAfter: 2 * time.Second, HeartbeatInterval: 500 * time.Millisecond})
	ctx := context.Background()
	const dead, other = 999998, 999999
	ids := insertRunning(t, b.db, []orphan{
		{worker: dead, attempt: 1, maxAttempts: 3},                         // 0: runs attempt 2 since
		{worker: dead, attempt: 1, maxAttempts: 3},                         // 1: claimed by other since
		{worker: dead, attempt: 1, maxAttempts: 3},                         // 2: cancelled since
		{worker: dead, attempt: 1, maxAttempts: 3},                         // 3: max_attempts lowered to 1 since
		{worker: dead, attempt: 1, maxAttempts: 3},                         // 4: unchanged
		{worker: dead, attempt: 2, maxAttempts: 2, requestedBy: "analyst"}, // 5: final, runs attempt 3 since
		{worker: dead, attempt: 2, maxAttempts: 2, requestedBy: "analyst"}, // 6: final, claimed by other since
		{worker: dead, attempt: 2, maxAttempts: 2, requestedBy: "analyst"}, // 7: final, unchanged
	})
	orphans, err := b.client.OrphansForTest(ctx)
	if err != nil || len(orphans) != len(ids) {
		t.Fatalf("read %d orphans (%v); want %d", len(orphans), err, len(ids))
	}
	b.db.Exec(t, `UPDATE iactq_jobs SET attempt = attempt + 1 WHERE id IN (?, ?)`, ids[0], ids[5])
	b.db.Exec(t, `UPDATE iactq_jobs SET claimed_by = ? WHERE id IN (?, ?)`, other, ids[1], ids[6])
	b.db.Exec(t, `UPDATE iactq_jobs SET state = 'cancelled', finished_at = NOW(6) WHERE id = ?`, ids[2])
	b.db.Exec(t, `UPDATE iactq_jobs SET max_attempts = 1 WHERE id = ?`, ids[3])
	before := readJobs(t, b.db)

	n, err := b.client.RescueOrphansForTest(ctx, orphans)
	if err != nil || n != 2 {
		t.Fatalf("rescued %d (%v); want the 2 unchanged jobs", n, err)
	}
	after := readJobs(t, b.db)
	for i, id := range ids {
		switch i {
		case 4:
			if r := after[id]; r.state != "available" || len(r.errors) != 1 {
				t.Fatalf("unchanged job: %+v; want it available", r)
			}
		case 7:
			if r := after[id]; r.state != "discarded" || len(r.errors) != 1 {
				t.Fatalf("unchanged final job: %+v; want it discarded", r)
			}
		default:
			if fmt.Sprint(after[id]) != fmt.Sprint(before[id]) {
				t.Fatalf("job %d (orphan %d) changed since read was rescued anyway: %+v, was %+v", id, i, after[id], before[id])
			}
		}
	}
	if msgs, _ := b.client.Messages(ctx, "analyst", false, 10); len(msgs) != 1 {
		t.Fatalf("%d messages; want 1, for the discarded job", len(msgs))
	}
}
