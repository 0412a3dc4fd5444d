package queue

import (
	"testing"
	"time"
)

// TestAheadFor: the jobs a producer holds ahead of its slots are as many as its slots
// are expected to start within aheadWork, at most aheadMax of them, none for jobs
// longer than aheadWork and none before a run time is known.
func TestAheadFor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		meanRun time.Duration
		slots   int
		want    int
	}{
		{0, 10, 0},                             // no job ended yet
		{time.Microsecond, 10, aheadMax},       // noop jobs: capped
		{500 * time.Microsecond, 10, aheadMax}, // 10 × 100 ms / 500 µs = 2 000, capped
		{2 * time.Millisecond, 10, 500},
		{10 * time.Millisecond, 1, 10},
		{10 * time.Millisecond, 25, 250},
		{30 * time.Millisecond, 10, 33},
		{100 * time.Millisecond, 10, 10},
		{101 * time.Millisecond, 10, 0}, // long jobs: one per free slot
		{101 * time.Millisecond, 10000, 0},
		{time.Minute, 10, 0},
	} {
		if got := aheadFor(c.meanRun, c.slots); got != c.want {
			t.Errorf("aheadFor(%s, %d slots) = %d, want %d", c.meanRun, c.slots, got, c.want)
		}
	}
}

// TestProducerRoom: a producer may hold its slots plus the jobs ahead that its mean
// run time allows; the jobs running and waiting take from that.
func TestProducerRoom(t *testing.T) {
	t.Parallel()
	p := &producer{concurrency: 10}
	if n, most, busy := p.room(); n != 10 || most != 10 || busy {
		t.Fatalf("no run time yet: room %d of %d (busy %v), want 10 of 10", n, most, busy)
	}
	p.busy, p.meanRun = 10, 10*time.Millisecond
	if n, most, busy := p.room(); n != 100 || most != 110 || !busy {
		t.Fatalf("10 ms jobs, slots full: room %d of %d (busy %v), want 100 of 110", n, most, busy)
	}
	p.meanRun = time.Second
	if n, most, _ := p.room(); n != 0 || most != 10 {
		t.Fatalf("1 s jobs, slots full: room %d of %d, want 0 of 10", n, most)
	}
}

// TestReadyJobsStartMostUrgentFirst: claimed jobs wait for a slot by SLA class, in
// claim order within a class, so an OVERDUE job claimed after a batch of NORMAL ones
// starts first; a stopping producer hands them all back.
func TestReadyJobsStartMostUrgentFirst(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	slas := map[string]SLA{"*": {Deadline: time.Hour, Urgent: 30 * time.Minute}}
	job := func(id int64, age time.Duration) *JobRow {
		return &JobRow{ID: id, Kind: "k", ScheduledAt: now.Add(-age)}
	}
	// Stopped: dispatch queues the jobs and starts none (no worker needed).
	p := &producer{concurrency: 1, stopped: true}
	p.dispatch(nil, []*JobRow{job(1, time.Minute), job(2, time.Minute)}, slas, now)
	p.dispatch(nil, []*JobRow{job(3, 2*time.Hour), job(4, 40*time.Minute), job(5, time.Minute)}, slas, now)
	p.stopped = false
	p.busy = 1
	var order []int64
	for j := p.next(time.Millisecond); j != nil; j = p.next(time.Millisecond) {
		order = append(order, j.ID)
	}
	if want := []int64{3, 4, 1, 2, 5}; !equalIDs(order, want) {
		t.Fatalf("started %v, want %v (OVERDUE, URGENT, then NORMAL in claim order)", order, want)
	}
	if p.busy != 0 || p.nReady != 0 {
		t.Fatalf("after the last job: %d busy, %d waiting; want 0, 0", p.busy, p.nReady)
	}
	p.stopped = true
	p.dispatch(nil, []*JobRow{job(6, time.Minute), job(7, 2*time.Hour)}, slas, now)
	var back []int64
	for _, j := range p.takeReady(true) {
		back = append(back, j.ID)
	}
	if want := []int64{7, 6}; !equalIDs(back, want) {
		t.Fatalf("handed back %v, want %v", back, want)
	}
	if n, _, _ := p.room(); n != p.concurrency+aheadFor(p.meanRun, p.concurrency) {
		t.Fatalf("after handing back: room %d, want all of it", n)
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
