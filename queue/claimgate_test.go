package queue

import (
	"errors"
	"testing"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// TestClaimGate drives the producer's claim decision through its cases.
func TestClaimGate(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	heads := []dbsqlc.JobClaimHeadsRow{{Kind: "test", Oldest: t0}}
	fresh := func(g *claimGate) { g.heads, g.headsAt = heads, t0 }
	for _, c := range []struct {
		name       string
		gate       func(g *claimGate)
		now        time.Time
		paused     bool
		free, most int
		busy       bool
		polled     *polledHeads
		want       claimDecision
	}{
		{name: "paused", gate: fresh, now: t0, paused: true, free: 10, most: 10, want: claimDecision{action: claimNothing}},
		{name: "no free slot", gate: fresh, now: t0, free: 0, most: 10, busy: true, want: claimDecision{action: claimNothing}},
		{name: "idle with fresh heads: claim all free", gate: fresh, now: t0.Add(time.Millisecond), free: 10, most: 10, want: claimDecision{action: claimNow, n: 10}},
		{name: "no heads yet: read them", now: t0, free: 10, most: 10, want: claimDecision{action: claimReadHeads}},
		{name: "heads older than a second: read again", gate: fresh, now: t0.Add(headsFor + time.Millisecond), free: 10, most: 10, want: claimDecision{action: claimReadHeads}},
		{name: "the poller's newer heads are taken", now: t0.Add(time.Millisecond), free: 4, most: 10, polled: &polledHeads{rows: heads, at: t0}, want: claimDecision{action: claimNow, n: 4}},
		{
			name: "busy, little room, just claimed: wait for a batch, one timer",
			gate: func(g *claimGate) { fresh(g); g.lastClaim = t0 },
			now:  t0.Add(time.Millisecond), free: 2, most: 12, busy: true,
			want: claimDecision{action: claimLater, wakeAt: t0.Add(batchWait)},
		},
		{
			name: "a timer already set for that wait: none more",
			gate: func(g *claimGate) { fresh(g); g.lastClaim = t0; g.timerAt = t0.Add(batchWait) },
			now:  t0.Add(2 * time.Millisecond), free: 2, most: 12, busy: true,
			want: claimDecision{action: claimLater},
		},
		{
			name: "busy with room for three quarters: claim at once",
			gate: func(g *claimGate) { fresh(g); g.lastClaim = t0 },
			now:  t0.Add(time.Millisecond), free: 9, most: 12, busy: true,
			want: claimDecision{action: claimNow, n: 9},
		},
		{
			name: "busy, little room, the wait is over: claim what there is",
			gate: func(g *claimGate) { fresh(g); g.lastClaim = t0 },
			now:  t0.Add(batchWait), free: 2, most: 12, busy: true,
			want: claimDecision{action: claimNow, n: 2},
		},
		{
			name: "heads that served claims of as many jobs as the producer may hold: read again",
			gate: func(g *claimGate) { fresh(g); g.lastClaim = t0; g.headsTook = 900 },
			now:  t0.Add(batchWait), free: 800, most: 1010, busy: true,
			want: claimDecision{action: claimReadHeads},
		},
		{
			name: "heads that served fewer: claim with them",
			gate: func(g *claimGate) { fresh(g); g.lastClaim = t0; g.headsTook = 210 },
			now:  t0.Add(batchWait), free: 800, most: 1010, busy: true,
			want: claimDecision{action: claimNow, n: 800},
		},
		{
			name: "the poller's newer heads do not restart the count",
			gate: func(g *claimGate) { fresh(g); g.lastClaim = t0; g.headsTook = 900 },
			now:  t0.Add(batchWait), free: 800, most: 1010, busy: true, polled: &polledHeads{rows: heads, at: t0.Add(time.Millisecond)},
			want: claimDecision{action: claimReadHeads},
		},
		{
			name: "one slot: never waits for a batch",
			gate: func(g *claimGate) { fresh(g); g.lastClaim = t0 },
			now:  t0.Add(time.Millisecond), free: 1, most: 1, busy: false,
			want: claimDecision{action: claimNow, n: 1},
		},
	} {
		var g claimGate
		if c.gate != nil {
			c.gate(&g)
		}
		if got := g.decide(c.now, c.paused, c.free, c.most, c.busy, c.polled); got != c.want {
			t.Errorf("%s: decision %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestClaimGateAfterClaims: heads are kept after a claim that found work, and read
// again after one that found nothing or failed, or when there were none.
func TestClaimGateAfterClaims(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	heads := []dbsqlc.JobClaimHeadsRow{{Kind: "test", Oldest: t0}}
	var g claimGate
	if g.gotHeads(t0, nil) {
		t.Fatal("no heads: something to claim")
	}
	if !g.gotHeads(t0, heads) {
		t.Fatal("heads: nothing to claim")
	}
	g.claimed(t0, 5, nil)
	if d := g.decide(t0.Add(batchWait), false, 5, 10, true, nil); d.action != claimNow {
		t.Fatalf("after a claim that found work: %+v, want a claim with the same heads", d)
	}
	g.claimed(t0, 5, nil)
	if d := g.decide(t0.Add(batchWait), false, 1, 10, true, nil); d.action != claimReadHeads {
		t.Fatalf("after claims of as many jobs as the producer may hold: %+v, want the heads read again", d)
	}
	g.gotHeads(t0, heads)
	g.claimed(t0, 0, nil)
	if d := g.decide(t0.Add(batchWait), false, 10, 10, false, nil); d.action != claimReadHeads {
		t.Fatalf("after a claim that found nothing: %+v, want the heads read again", d)
	}
	g.gotHeads(t0, heads)
	g.claimed(t0, 0, errors.New("deadlock"))
	if d := g.decide(t0.Add(batchWait), false, 10, 10, false, nil); d.action != claimReadHeads {
		t.Fatalf("after a failed claim: %+v, want the heads read again", d)
	}
}

// TestClaimGateLooksAgainForHandedHeads: a claim that finds nothing with heads the
// leader's watcher handed over from an insert's row images (the row may not be
// visible yet) keeps them and looks again 1, then 2, then 3 ms later; then it gives
// up. Heads read otherwise are not looked for again.
func TestClaimGateLooksAgainForHandedHeads(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	heads := []dbsqlc.JobClaimHeadsRow{{Kind: "test", Oldest: t0}}
	var g claimGate
	now := t0
	if d := g.decide(now, false, 10, 10, false, &polledHeads{rows: heads, at: t0, handed: true}); d.action != claimNow {
		t.Fatalf("handed heads: %+v, want a claim", d)
	}
	for try := 1; try <= handedTries; try++ {
		g.claimed(now, 0, nil)
		at, ok := g.lookAgain()
		if want := now.Add(time.Duration(try) * time.Millisecond); !ok || !at.Equal(want) {
			t.Fatalf("empty claim %d with handed heads: look again %v at %s; want at %s", try, ok, at, want)
		}
		now = at
		if d := g.decide(now, false, 10, 10, false, nil); d.action != claimNow {
			t.Fatalf("looking again %d: %+v, want a claim with the handed heads", try, d)
		}
	}
	g.claimed(now, 0, nil)
	if _, ok := g.lookAgain(); ok {
		t.Fatalf("after %d empty claims: looks again; want it to wait to be woken", handedTries+1)
	}
	if d := g.decide(now, false, 10, 10, false, nil); d.action != claimReadHeads {
		t.Fatalf("after giving up: %+v, want the heads read again", d)
	}

	// A claim that found the job: no more looks, even if a later one finds nothing.
	g.decide(now, false, 10, 10, false, &polledHeads{rows: heads, at: now, handed: true})
	g.claimed(now, 1, nil)
	g.claimed(now, 0, nil)
	if _, ok := g.lookAgain(); ok {
		t.Fatal("handed heads whose job was claimed: an empty claim after looks again")
	}

	// Heads the poller read, or a ring carried: an empty claim gives up.
	g.decide(now, false, 10, 10, false, &polledHeads{rows: heads, at: now.Add(time.Second)})
	g.claimed(now, 0, nil)
	if _, ok := g.lookAgain(); ok {
		t.Fatal("an empty claim with heads not handed over looks again")
	}
	// Heads the producer read itself after handed ones.
	g.decide(now, false, 10, 10, false, &polledHeads{rows: heads, at: now.Add(2 * time.Second), handed: true})
	g.gotHeads(now, heads)
	g.claimed(now, 0, nil)
	if _, ok := g.lookAgain(); ok {
		t.Fatal("an empty claim with heads the producer read itself looks again")
	}
}

// TestClaimGateHeadsAhead: heads read from right after a claim restart the count as
// heads read when due would; a read that started before the last claim ended, failed,
// or found nothing is dropped.
func TestClaimGateHeadsAhead(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	heads := []dbsqlc.JobClaimHeadsRow{{Kind: "test", Oldest: t0}}
	all := func(h []dbsqlc.JobClaimHeadsRow) []dbsqlc.JobClaimHeadsRow { return h }
	const most = 1025
	var g claimGate
	g.gotHeads(t0, heads)
	g.claimed(t0.Add(time.Millisecond), 200, nil)
	if g.headsSpent(most) {
		t.Fatal("heads that served 200 of 1 025: spent for a batch of 768")
	}
	g.claimed(t0.Add(2*time.Millisecond), 100, nil)
	if !g.headsSpent(most) {
		t.Fatal("heads that served 300 of 1 025: not spent for a batch of 768")
	}
	if d := g.decide(t0.Add(3*time.Millisecond), false, 800, most, true, nil); d.action != claimReadHeads {
		t.Fatalf("spent heads: %+v, want them read again", d)
	}

	// Started after the last claim: taken, and the count starts again.
	after := t0.Add(2*time.Millisecond + time.Microsecond)
	if g.takeAhead(&headsAhead{at: after, heads: heads}, all) != nil {
		t.Fatal("takeAhead: not used up")
	}
	if g.headsAt != after || g.headsTook != 0 {
		t.Fatalf("heads from after the last claim: at %s, took %d; want %s, 0", g.headsAt, g.headsTook, after)
	}
	if d := g.decide(t0.Add(3*time.Millisecond), false, 800, most, true, nil); d != (claimDecision{action: claimNow, n: 800}) {
		t.Fatalf("with the heads read ahead: %+v, want a claim of 800", d)
	}

	for _, c := range []struct {
		name string
		a    headsAhead
	}{
		{"started before the last claim ended", headsAhead{at: t0.Add(time.Millisecond), heads: heads}},
		{"failed", headsAhead{at: after.Add(time.Hour), err: errors.New("lost connection")}},
		{"found nothing", headsAhead{at: after.Add(time.Hour)}},
	} {
		var g claimGate
		g.gotHeads(t0, heads)
		g.claimed(t0.Add(2*time.Millisecond), 900, nil)
		g.takeAhead(&c.a, all)
		if g.headsAt != t0 || g.headsTook != 900 {
			t.Errorf("%s: heads at %s, took %d; want them dropped (at %s, took 900)", c.name, g.headsAt, g.headsTook, t0)
		}
	}
}
