package queue

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// The SLA rollup: per-minute rows per kind and class in iactq_sla_rollup, which
// analysts query with plain SQL (migrations/00005_sla_rollup.sql says what each column
// means). Workers call Rollup once a minute; whichever holds the state row does the
// work, the others return at once.

const (
	// rollupLag leaves a just-closed minute alone for a while, so that jobs committed
	// late with times inside it are counted.
	rollupLag = 30 * time.Second
	// rollupMaxMinutes bounds the minutes one call rolls up (the first call, or one
	// after a long stop, starts no further back than this).
	rollupMaxMinutes = 60
	// rollupSample bounds the jobs per minute read for percentiles.
	rollupSample = 50_000
)

// RollupAll is the kind and class of the rows holding totals.
const RollupAll = "*"

// Rollup rolls up every closed minute not yet rolled up (at most an hour's worth per
// call, starting no earlier than an hour ago) and returns how many minutes it wrote. It
// is safe to call from many workers at once.
func (c *Client) Rollup(ctx context.Context) (int, error) {
	var minutes int
	err := c.store.inTx(ctx, nil, func(tx dbTx) error {
		minutes = 0
		locked, err := tx.RollupLock(ctx)
		if err != nil || len(locked) == 0 {
			return err // another worker is at it
		}
		now := c.now()
		end := now.Add(-rollupLag).Truncate(time.Minute)
		start := end.Add(-rollupMaxMinutes * time.Minute)
		if locked[0].Valid && locked[0].Time.After(start) {
			start = locked[0].Time.UTC()
		}
		if !start.Before(end) {
			return nil
		}
		started, err := tx.RollupStartedFinished(ctx, dbsqlc.RollupStartedFinishedParams{
			FromAt: sql.NullTime{Time: start, Valid: true}, ToAt: sql.NullTime{Time: end, Valid: true},
		})
		if err != nil {
			return fmt.Errorf("roll up attempts started: %w", err)
		}
		live, err := tx.RollupStartedLive(ctx, dbsqlc.RollupStartedLiveParams{
			FromAt: sql.NullTime{Time: start, Valid: true}, ToAt: sql.NullTime{Time: end, Valid: true},
		})
		if err != nil {
			return fmt.Errorf("roll up attempts started: %w", err)
		}
		byMinute := map[int64][]startedCount{}
		for _, r := range started {
			byMinute[r.MinuteOffset] = append(byMinute[r.MinuteOffset], startedCount{r.Kind, anyString(r.Class), r.N})
		}
		for _, r := range live {
			byMinute[r.MinuteOffset] = append(byMinute[r.MinuteOffset], startedCount{r.Kind, anyString(r.Class), r.N})
		}
		for m := start; m.Before(end); m = m.Add(time.Minute) {
			if err := c.rollupMinute(ctx, tx, m, now, byMinute[int64(m.Sub(start)/time.Minute)]); err != nil {
				return fmt.Errorf("roll up %s: %w", m.Format("2006-01-02 15:04"), err)
			}
			minutes++
		}
		if minutes == 0 {
			return nil
		}
		return tx.RollupSetUntil(ctx, sql.NullTime{Time: end, Valid: true})
	})
	if err != nil {
		return 0, fmt.Errorf("SLA rollup: %w", err)
	}
	return minutes, nil
}

// rollupRow accumulates one row of iactq_sla_rollup.
type rollupRow struct {
	kind, class                                    string
	enqueued, started, completed, discarded, cancl int64
	breached                                       int64
	waits, runs                                    []int64 // microseconds
}

// startedCount is how many attempts of a kind started in a minute in a class.
type startedCount struct {
	kind, class string
	n           int64
}

// rollupMinute writes the rows of one minute; started are the attempts started in it
// (read once for all the minutes of a Rollup call).
func (c *Client) rollupMinute(ctx context.Context, tx dbTx, minute, now time.Time, started []startedCount) error {
	from, to := minute, minute.Add(time.Minute)
	rows := map[[2]string]*rollupRow{}
	get := func(kind, class string) *rollupRow {
		k := [2]string{kind, class}
		r, ok := rows[k]
		if !ok {
			r = &rollupRow{kind: kind, class: class}
			rows[k] = r
		}
		return r
	}
	enq, err := tx.RollupEnqueued(ctx, dbsqlc.RollupEnqueuedParams{FromAt: from, ToAt: to})
	if err != nil {
		return err
	}
	for _, r := range enq {
		get(r.Kind, anyString(r.Class)).enqueued += r.N
	}
	nfrom, nto := sql.NullTime{Time: from, Valid: true}, sql.NullTime{Time: to, Valid: true}
	for _, r := range started {
		get(r.kind, r.class).started += r.n
	}
	fin, err := tx.RollupFinished(ctx, dbsqlc.RollupFinishedParams{FromAt: nfrom, ToAt: nto})
	if err != nil {
		return err
	}
	for _, r := range fin {
		row := get(r.Kind, anyString(r.Class))
		switch State(r.State) {
		case StateCompleted:
			row.completed += r.N
			row.breached += r.Breached
		case StateDiscarded:
			row.discarded += r.N
			row.breached += r.Breached
		case StateCancelled:
			row.cancl += r.N
		}
	}
	times, err := tx.RollupFinishedTimes(ctx, dbsqlc.RollupFinishedTimesParams{FromAt: nfrom, ToAt: nto, Limit: rollupSample})
	if err != nil {
		return err
	}
	for _, t := range times {
		row := get(t.Kind, anyString(t.Class))
		row.waits = append(row.waits, max(t.WaitUs, 0))
		row.runs = append(row.runs, max(t.RunUs, 0))
	}

	// Totals per kind over its classes, and over everything.
	byKind := map[string]*rollupRow{}
	all := &rollupRow{kind: RollupAll, class: RollupAll}
	keys := make([][2]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+"\x00"+keys[i][1] < keys[j][0]+"\x00"+keys[j][1] })
	out := make([]*rollupRow, 0, len(rows)*2+1)
	for _, k := range keys {
		r := rows[k]
		out = append(out, r)
		kt, ok := byKind[r.kind]
		if !ok {
			kt = &rollupRow{kind: r.kind, class: RollupAll}
			byKind[r.kind] = kt
			out = append(out, kt)
		}
		for _, t := range []*rollupRow{kt, all} {
			t.enqueued += r.enqueued
			t.started += r.started
			t.completed += r.completed
			t.discarded += r.discarded
			t.cancl += r.cancl
			t.breached += r.breached
			t.waits = append(t.waits, r.waits...)
			t.runs = append(t.runs, r.runs...)
		}
	}
	out = append(out, all) // always, so a quiet minute shows as rolled up with zeros

	if err := tx.RollupDeleteRange(ctx, dbsqlc.RollupDeleteRangeParams{FromAt: from, ToAt: to}); err != nil {
		return err
	}
	for _, r := range out {
		err := tx.RollupInsert(ctx, dbsqlc.RollupInsertParams{
			Minute: minute, Kind: r.kind, Class: r.class,
			Enqueued: int32(r.enqueued), Started: int32(r.started), Completed: int32(r.completed),
			Discarded: int32(r.discarded), Cancelled: int32(r.cancl), Breached: int32(r.breached),
			WaitP50Ms: percentileMs(r.waits, 0.50), WaitP95Ms: percentileMs(r.waits, 0.95),
			RunP50Ms: percentileMs(r.runs, 0.50), RunP95Ms: percentileMs(r.runs, 0.95),
			ComputedAt: now,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// percentileMs is the nearest-rank percentile p of microsecond values, in
// milliseconds (rounded); NULL without values. It sorts vs.
func percentileMs(vs []int64, p float64) sql.NullInt64 {
	if len(vs) == 0 {
		return sql.NullInt64{}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	return sql.NullInt64{Int64: (percentile(vs, p) + 500) / 1000, Valid: true}
}

// percentile is the nearest-rank percentile p (0 < p <= 1) of sorted values.
func percentile(sorted []int64, p float64) int64 {
	rank := int(float64(len(sorted))*p+0.999999999) - 1
	rank = min(max(rank, 0), len(sorted)-1)
	return sorted[rank]
}

// RollupMinute is one row of iactq_sla_rollup.
type RollupMinute struct {
	Minute                                             time.Time
	Kind, Class                                        string
	Enqueued, Started, Completed, Discarded, Cancelled int64
	Breached                                           int64
	WaitP50, WaitP95, RunP50, RunP95                   time.Duration
	HasTimes                                           bool // false when no job finished: no percentiles
}

// RollupTotals returns the per-minute totals over every kind since a time, oldest
// first, for charts.
func (c *Client) RollupTotals(ctx context.Context, since time.Time) ([]RollupMinute, error) {
	rows, err := c.store.q.RollupMinutes(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("read SLA rollup: %w", err)
	}
	out := make([]RollupMinute, len(rows))
	for i, r := range rows {
		out[i] = RollupMinute{
			Minute: r.Minute, Kind: r.Kind, Class: r.Class,
			Enqueued: int64(r.Enqueued), Started: int64(r.Started), Completed: int64(r.Completed),
			Discarded: int64(r.Discarded), Cancelled: int64(r.Cancelled), Breached: int64(r.Breached),
			WaitP50: ms(r.WaitP50Ms), WaitP95: ms(r.WaitP95Ms), RunP50: ms(r.RunP50Ms), RunP95: ms(r.RunP95Ms),
			HasTimes: r.WaitP50Ms.Valid,
		}
	}
	return out, nil
}

func ms(v sql.NullInt64) time.Duration { return time.Duration(v.Int64) * time.Millisecond }

// KindSLA is the SLA record of one kind over a period, from the rollup.
type KindSLA struct {
	Kind                           string
	Enqueued, Started              int64
	Completed, Discarded, Breached int64
	WorstWaitP95, WorstRunP95      time.Duration
}

// BreachRate is the share of finished (completed or discarded) jobs that finished
// after their due time; 0 when none finished.
func (k KindSLA) BreachRate() float64 {
	if n := k.Completed + k.Discarded; n > 0 {
		return float64(k.Breached) / float64(n)
	}
	return 0
}

// SLAReport sums the rollup per kind since a time.
func (c *Client) SLAReport(ctx context.Context, since time.Time) ([]KindSLA, error) {
	rows, err := c.store.q.RollupByKind(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("read SLA rollup: %w", err)
	}
	out := make([]KindSLA, 0, len(rows))
	for _, r := range rows {
		out = append(out, KindSLA{
			Kind: r.Kind, Enqueued: r.Enqueued, Started: r.Started, Completed: r.Completed,
			Discarded: r.Discarded, Breached: r.Breached,
			WorstWaitP95: time.Duration(r.WorstWaitP95Ms) * time.Millisecond,
			WorstRunP95:  time.Duration(r.WorstRunP95Ms) * time.Millisecond,
		})
	}
	return out, nil
}
