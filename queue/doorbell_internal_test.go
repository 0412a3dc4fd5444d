package queue

import (
	"fmt"
	"testing"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// TestBellHeadsRoundTrip: the heads a ring carries read back as they were written, to
// the microsecond; more than maxBellHeads, or none for a ring for new work, carry NULL
// (the group reads them); a sweep that found none carries an empty list, read back as
// carried: no waiter reads the heads again.
func TestBellHeadsRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 7, 3, 4, 5, 123456000, time.UTC)
	heads := map[headKey]time.Time{{"default", "noop"}: at, {"reports", "ivr.abandonment"}: at.Add(time.Second)}
	rows, ok := decodeHeads(encodeHeads(heads, false))
	if !ok || len(rows) != 2 {
		t.Fatalf("decoded %v, %v; want the 2 heads", rows, ok)
	}
	for _, r := range rows {
		want, found := heads[headKey{r.Queue, r.Kind}]
		if !found || !r.Oldest.Equal(want) {
			t.Fatalf("head %+v; want %v", r, heads)
		}
	}
	if s := encodeHeads(nil, false); s.Valid {
		t.Fatalf("no heads encoded as %q; want NULL", s.String)
	}
	many := map[headKey]time.Time{}
	for i := 0; i <= maxBellHeads; i++ {
		many[headKey{"q", fmt.Sprint(i)}] = at
	}
	for _, sweep := range []bool{false, true} {
		if s := encodeHeads(many, sweep); s.Valid {
			t.Fatalf("%d heads carried (sweep %v); want NULL above %d", len(many), sweep, maxBellHeads)
		}
	}
	if _, ok := decodeHeads(encodeHeads(nil, false)); ok {
		t.Fatal("NULL decoded as heads")
	}
	if rows, ok := decodeHeads(encodeHeads(nil, true)); !ok || len(rows) != 0 {
		t.Fatalf("a sweep with no heads decoded as %v, %v; want none, carried", rows, ok)
	}
	if rows, ok := decodeHeads(encodeHeads(heads, true)); !ok || len(rows) != 2 {
		t.Fatalf("a sweep's heads decoded as %v, %v; want the 2 heads", rows, ok)
	}
}

// TestDesignatedSplitsTheFleet: at each generation every worker id is in exactly one
// group, the groups are about the same size, and successive rings name each group in
// turn; at one group everyone looks.
func TestDesignatedSplitsTheFleet(t *testing.T) {
	const workers, groups = 50, 13
	named := map[int64]int{}
	for gen := int64(100); gen < 100+groups; gen++ {
		n := 0
		for id := int64(1); id <= workers; id++ {
			if designated(id, gen, groups) {
				named[id]++
				n++
			}
		}
		if n < workers/groups || n > workers/groups+1 {
			t.Fatalf("generation %d names %d of %d workers; want about %d", gen, n, workers, workers/groups)
		}
	}
	for id := int64(1); id <= workers; id++ {
		if named[id] != 1 {
			t.Fatalf("worker %d named by %d of %d successive rings; want 1", id, named[id], groups)
		}
		if !designated(id, 7, 1) || !designated(id, 7, 0) {
			t.Fatalf("worker %d not named by a ring to everyone", id)
		}
	}
	for g, want := range map[int]int{13: 4, 4: 1, 2: 1, 1: 1, 5: 2} {
		if got := widerGroups(g); got != want {
			t.Fatalf("widerGroups(%d) = %d; want %d", g, got, want)
		}
	}
}

// TestNewWorkIsNotAHeadMovingLater: a head that moves later is work taken (a drain
// moves it all the time), not new work; it is new work when the next look finds it
// still there, unchanged (its claimer had no room for it). A new head, or one that
// moved earlier (an older job came back), is new work at once.
func TestNewWorkIsNotAHeadMovingLater(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	k := headKey{"default", "test"}
	at := func(d time.Duration) []dbsqlc.JobHeadsEveryQueueRow {
		return []dbsqlc.JobHeadsEveryQueueRow{{Queue: k.queue, Kind: k.kind, Oldest: t0.Add(d)}}
	}
	var seen, later, fresh map[headKey]time.Time
	steps := []struct {
		heads     []dbsqlc.JobHeadsEveryQueueRow
		wantFresh bool
		why       string
	}{
		{at(0), true, "a new head"},
		{at(0), false, "the same head again"},
		{at(time.Second), false, "moved later: its oldest job was taken"},
		{at(2 * time.Second), false, "moved later again: a drain"},
		{at(2 * time.Second), true, "still there at the next look: left by its claimer"},
		{at(2 * time.Second), false, "rung for already"},
		{at(time.Second), true, "moved earlier: an older job came back"},
		{nil, false, "gone"},
		{at(3 * time.Second), true, "new again"},
	}
	for i, s := range steps {
		seen, later, fresh = newWork(seen, later, s.heads, nil)
		if got := len(fresh) > 0; got != s.wantFresh {
			t.Fatalf("step %d (%s): fresh %v, want %v", i, s.why, got, s.wantFresh)
		}
	}
	if _, _, fresh := newWork(nil, nil, at(0), map[string]bool{"default": true}); len(fresh) != 0 {
		t.Fatalf("a paused queue's head is new work: %v", fresh)
	}
}

// TestHeadsEveryAfterBoundsTheWatchersCost: the watcher's periodic read of the heads
// comes every headsEvery while it is cheap, and at least 20 times its last duration
// apart while it is not (a drain: 10-30 ms per read), so that it takes at most a
// twentieth of one server thread.
func TestHeadsEveryAfterBoundsTheWatchersCost(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ took, want time.Duration }{
		{0, headsEvery},
		{300 * time.Microsecond, headsEvery},
		{5 * time.Millisecond, headsEvery},
		{10 * time.Millisecond, 200 * time.Millisecond},
		{30 * time.Millisecond, 600 * time.Millisecond},
	} {
		if got := headsEveryAfter(c.took); got != c.want {
			t.Errorf("after a read of %s: next in %s, want %s", c.took, got, c.want)
		}
	}
}
