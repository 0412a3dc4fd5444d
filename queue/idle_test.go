package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/iact/iactq/queue"
)

// TestIdleWorkersBeatRarelyAndStayLive: idle workers (no job running or claimed)
// say they are alive only every half of their idle lease (3 x RescueAfter), so their
// heartbeat grows older than RescueAfter; the lease keeps them registered and live
// meanwhile: the leader's rescue, which runs every second here, removes neither, and
// Workers calls neither stale. A job then still runs.
func TestIdleWorkersBeatRarelyAndStayLive(t *testing.T) {
	t.Parallel()
	const rescueAfter = 3 * time.Second
	f := newFleet(t, 2, queue.Config{IdlePollInterval: time.Hour, RescueAfter: rescueAfter, HeartbeatInterval: 200 * time.Millisecond})
	f.start(t)
	f.waitLeader(t)
	ctx := context.Background()
	ids := func() map[int64]bool {
		ws, err := f.clients[0].Workers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int64]bool{}
		for _, w := range ws {
			if w.Stale(time.Now(), rescueAfter) {
				t.Fatalf("worker %d is called stale: heartbeat %s ago, idle until %s", w.ID, time.Since(w.HeartbeatAt), w.IdleUntil)
			}
			out[w.ID] = true
		}
		return out
	}
	first := ids()
	if len(first) != 2 {
		t.Fatalf("%d workers registered; want 2", len(first))
	}
	oldest := time.Duration(0)
	for end := time.Now().Add(2*rescueAfter + time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		var ageUs int64
		if err := f.db.DB.QueryRow(`SELECT COALESCE(MAX(TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(6))), 0) FROM iactq_workers`).Scan(&ageUs); err != nil {
			t.Fatal(err)
		}
		oldest = max(oldest, time.Duration(ageUs)*time.Microsecond)
		now := ids()
		for id := range first {
			if !now[id] {
				t.Fatalf("idle worker %d was removed (rescued) while its idle lease held", id)
			}
		}
	}
	if oldest <= rescueAfter {
		t.Fatalf("the oldest heartbeat seen was %s old: idle workers beat as often as busy ones (want older than rescue_after %s)", oldest, rescueAfter)
	}
	f.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('test', '{}')`)
	waitUntil(t, "the job completed", func() bool {
		return f.count(t, `SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) == 1
	})
}
