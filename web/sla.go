package web

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/iact/iactq/queue"
)

// ---- SLA history: breach rate and p95 wait per kind over 24 h, 7 d and 30 d ----

// slaWindows are the periods the SLA page compares.
var slaWindows = []struct {
	Label string
	Span  time.Duration
}{{"24 h", 24 * time.Hour}, {"7 d", 7 * 24 * time.Hour}, {"30 d", 30 * 24 * time.Hour}}

type slaCell struct {
	Finished, Breached int64
	Rate               float64
	WaitP95            time.Duration
	Any                bool
}

type slaRow struct {
	Kind  string
	Cells []slaCell
}

func (s *Server) sla(ctx context.Context, _ *http.Request) (string, any, error) {
	s.maybeRollup(ctx)
	now := time.Now()
	byKind := map[string]*slaRow{}
	for i, w := range slaWindows {
		rows, err := s.o.Client.SLAReport(ctx, now.Add(-w.Span))
		if err != nil {
			return "", nil, err
		}
		for _, r := range rows {
			kind := r.Kind
			if kind == queue.RollupAll {
				kind = "(all kinds)"
			}
			row := byKind[kind]
			if row == nil {
				row = &slaRow{Kind: kind, Cells: make([]slaCell, len(slaWindows))}
				byKind[kind] = row
			}
			row.Cells[i] = slaCell{Finished: r.Completed + r.Discarded, Breached: r.Breached, Rate: r.BreachRate(), WaitP95: r.WorstWaitP95, Any: r.Completed+r.Discarded > 0}
		}
	}
	out := make([]slaRow, 0, len(byKind))
	for _, r := range byKind {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Kind == "(all kinds)") != (out[j].Kind == "(all kinds)") {
			return out[j].Kind == "(all kinds)"
		}
		return out[i].Kind < out[j].Kind
	})
	return "SLA history", struct {
		Windows any
		Rows    []slaRow
	}{slaWindows, out}, nil
}
