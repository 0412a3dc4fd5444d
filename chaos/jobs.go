package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// insertMixedJobs inserts n noop jobs with random sleeps up to maxSleep ms: one in ten
// fails its first one or two attempts, `panics` of them panic on every attempt (and
// so end discarded after two), one in twenty (and every panicking one) has a
// requester. It returns the state each job must end in.
func insertMixedJobs(ctx context.Context, client *queue.Client, n, panics, maxSleep int, src rand.Source) (map[int64]string, error) {
	want := map[int64]string{}
	rng := rand.New(src)
	panicAt := map[int]bool{}
	for len(panicAt) < panics {
		panicAt[rng.IntN(n)] = true
	}
	const batch = 2000
	for start := 0; start < n; start += batch {
		var ps []queue.InsertParams
		var states []string
		for i := start; i < min(start+batch, n); i++ {
			a := jobs.NoopArgs{SleepMS: rng.IntN(maxSleep + 1)}
			p := queue.InsertParams{Kind: "noop"}
			state := "completed"
			switch {
			case panicAt[i]:
				a.Panic, p.MaxAttempts, state = true, 2, "discarded"
			case rng.IntN(10) == 0:
				a.FailAttempts = 1 + rng.IntN(2)
			}
			if rng.IntN(20) == 0 || panicAt[i] {
				p.RequestedBy = "chaos"
			}
			p.Args = a
			ps = append(ps, p)
			states = append(states, state)
		}
		res, err := client.InsertMany(ctx, ps)
		if err != nil {
			return nil, fmt.Errorf("insert jobs: %w", err)
		}
		for i, x := range res {
			want[x.ID] = states[i]
		}
	}
	return want, nil
}

// pendingJobs counts the jobs a scenario inserted that are not finished yet (schedule
// occurrences apart: a schedule always has one).
const pendingJobs = `SELECT COUNT(*) FROM iactq_jobs WHERE schedule_name IS NULL AND state NOT IN ('completed','discarded','cancelled')`
