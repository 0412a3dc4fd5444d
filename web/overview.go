package web

import (
	"context"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"time"

	"github.com/iact/iactq/queue"
)

// ---- the overview: queues, their counts and the last hour ----

type queueRow struct {
	Name     string
	PausedAt time.Time
	States   []stateCount
	Classes  []classCount
	Oldest   time.Time
	Capped   bool
}

type stateCount struct {
	State queue.State
	N     int64
}

type classCount struct {
	Class queue.Class
	N     int64
}

var displayStates = []queue.State{queue.StateAvailable, queue.StateScheduled, queue.StateRunning, queue.StateRetryable, queue.StateCompleted, queue.StateDiscarded, queue.StateCancelled}

type overviewData struct {
	Queues     []queueRow
	Throughput template.HTML
	Latency    template.HTML
	Summary    hourSummary
	Workers    int
	RollupNote string
}

type hourSummary struct {
	Enqueued, Completed, Discarded, Breached int64
	WaitP95, RunP95                          time.Duration
}

func (s *Server) overview(ctx context.Context, r *http.Request) (string, any, error) {
	c := s.o.Client
	queues, err := c.ListQueues(ctx)
	if err != nil {
		return "", nil, err
	}
	backlog, err := c.Backlog(ctx, nil, 100_000)
	if err != nil {
		return "", nil, err
	}
	rows := map[string]*queueRow{}
	var order []string
	for _, q := range queues {
		row := &queueRow{Name: q.Name, PausedAt: q.PausedAt}
		for _, st := range displayStates {
			row.States = append(row.States, stateCount{st, q.Counts[st]})
		}
		rows[q.Name] = row
		order = append(order, q.Name)
	}
	classTotals := map[string]map[queue.Class]int64{}
	for _, b := range backlog {
		row := rows[b.Queue]
		if row == nil {
			continue
		}
		if classTotals[b.Queue] == nil {
			classTotals[b.Queue] = map[queue.Class]int64{}
		}
		for cl, st := range b.Classes {
			classTotals[b.Queue][cl] += st.Count
		}
		if row.Oldest.IsZero() || b.Oldest.Before(row.Oldest) {
			row.Oldest = b.Oldest
		}
		row.Capped = row.Capped || b.Capped
	}
	data := overviewData{}
	for _, name := range order {
		row := rows[name]
		for _, cl := range []queue.Class{queue.ClassOverdue, queue.ClassUrgent, queue.ClassNormal} {
			row.Classes = append(row.Classes, classCount{cl, classTotals[name][cl]})
		}
		data.Queues = append(data.Queues, *row)
	}
	s.maybeRollup(ctx)
	now := time.Now().UTC()
	from := now.Truncate(time.Minute).Add(-60 * time.Minute)
	minutes, err := c.RollupTotals(ctx, from)
	if err != nil {
		data.RollupNote = "SLA rollup not available: " + err.Error()
	} else {
		data.Throughput, data.Latency, data.Summary = hourCharts(from, minutes)
		if len(minutes) == 0 {
			data.RollupNote = "No rolled-up minutes yet: workers write one row per minute to iactq_sla_rollup."
		}
	}
	if ws, err := c.Workers(ctx); err == nil {
		data.Workers = len(ws)
	}
	return "Queues", data, nil
}

// maybeRollup brings the SLA rollup up to date at most every RollupEvery.
func (s *Server) maybeRollup(ctx context.Context) {
	if s.o.RollupEvery < 0 {
		return
	}
	s.rollupMu.Lock()
	due := time.Since(s.lastRollup) >= s.o.RollupEvery
	if due {
		s.lastRollup = time.Now()
	}
	s.rollupMu.Unlock()
	if !due {
		return
	}
	if _, err := s.o.Client.Rollup(ctx); err != nil {
		s.o.Log.Warn().Err(err).Msg("dashboard: SLA rollup failed")
	}
}

func hourCharts(from time.Time, minutes []queue.RollupMinute) (template.HTML, template.HTML, hourSummary) {
	const n = 60
	completed, discarded, enqueued := make([]float64, n), make([]float64, n), make([]float64, n)
	waitP95, runP95, waitP50 := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range waitP95 {
		waitP95[i], runP95[i], waitP50[i] = math.NaN(), math.NaN(), math.NaN()
	}
	var sum hourSummary
	for _, m := range minutes {
		i := int(m.Minute.Sub(from) / time.Minute)
		if i < 0 || i >= n {
			continue
		}
		completed[i] = float64(m.Completed)
		discarded[i] = float64(m.Discarded)
		enqueued[i] = float64(m.Enqueued)
		sum.Enqueued += m.Enqueued
		sum.Completed += m.Completed
		sum.Discarded += m.Discarded
		sum.Breached += m.Breached
		if m.HasTimes {
			waitP95[i], runP95[i], waitP50[i] = m.WaitP95.Seconds(), m.RunP95.Seconds(), m.WaitP50.Seconds()
			sum.WaitP95 = max(sum.WaitP95, m.WaitP95)
			sum.RunP95 = max(sum.RunP95, m.RunP95)
		}
	}
	through := chart("Jobs finished per minute, last hour", from, n, []series{
		{"completed", "s-ok", completed}, {"discarded", "s-bad", discarded},
	}, true, countUnit)
	latency := chart("Wait and run time, last hour", from, n, []series{
		{"wait p50", "s-wait50", waitP50}, {"wait p95", "s-wait", waitP95}, {"run p95", "s-run", runP95},
	}, false, secondsUnit)
	return through, latency, sum
}

// ---- queue actions ----

func (s *Server) pause(ctx context.Context, r *http.Request) (string, string, error) {
	q := r.PathValue("name")
	if err := s.o.Client.PauseQueue(ctx, q); err != nil {
		return q, "", fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return q, fmt.Sprintf("queue %s paused", q), nil
}

func (s *Server) resume(ctx context.Context, r *http.Request) (string, string, error) {
	q := r.PathValue("name")
	if err := s.o.Client.ResumeQueue(ctx, q); err != nil {
		return q, "", fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return q, fmt.Sprintf("queue %s resumed", q), nil
}
