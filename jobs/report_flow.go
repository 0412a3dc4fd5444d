package jobs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/iact/iactq/jobs/internal/jobsdb"
)

// CallFlowAnalysisArgs are the args of call_flow_analysis: how callers move through
// an IVR flow's nodes over a period.
type CallFlowAnalysisArgs struct {
	// FlowID is the flow to analyse. Default "main".
	FlowID string `json:"flow_id,omitempty"`
	// Period: "last 24h" (default), "last 7d", "2026-11-01/2026-11-08", ...
	Period string `json:"period,omitempty"`
	// Top is how many of the most frequent paths to list (default from the config, 10).
	Top int `json:"top,omitempty"`
}

// Kind implements queue.Args.
func (CallFlowAnalysisArgs) Kind() string { return "call_flow_analysis" }

// Validate implements queue.Validator.
func (a CallFlowAnalysisArgs) Validate() error {
	if err := validatePeriodArgs(a.Period, ""); err != nil {
		return err
	}
	if a.Top < 0 || a.Top > 1000 {
		return fmt.Errorf("top %d is out of range 1..1000", a.Top)
	}
	return validateFlowID(a.FlowID)
}

// pathSep joins the nodes of a path.
const pathSep = " > "

// nodeStats counts, for one node, the calls that reached it and how they left it.
type nodeStats struct {
	node                                string
	entered, continued, completed, lost int
	firstSeq                            int // smallest position seen, to order nodes
}

func buildFlowAnalysis(ctx context.Context, env reportEnv, a CallFlowAnalysisArgs) (*ReportResult, error) {
	flowID := a.FlowID
	if flowID == "" {
		flowID = "main"
	}
	top := a.Top
	if top == 0 {
		top = env.cfg.TopPaths
	}
	p, _, err := env.resolve(a.Period, "day")
	if err != nil {
		return nil, err
	}
	arg := jobsdb.FlowEventsInPeriodParams{FlowID: flowID, FromTime: p.From, ToTime: p.To}
	events, err := env.q.FlowEventsInPeriod(ctx, arg)
	if err != nil {
		return nil, fmt.Errorf("read node events of flow %s: %w", flowID, err)
	}
	slices.SortFunc(events, func(a, b jobsdb.FlowEventsInPeriodRow) int {
		return cmp.Or(cmp.Compare(a.CallID, b.CallID), cmp.Compare(a.Seq, b.Seq))
	})
	calls, err := env.q.FlowCallCount(ctx, jobsdb.FlowCallCountParams(arg))
	if err != nil {
		return nil, fmt.Errorf("count calls of flow %s: %w", flowID, err)
	}

	nodes := map[string]*nodeStats{}
	paths := map[string]int{}
	var withEvents, completed int
	// Events come call by call, in node order: each call is one run of rows.
	for i := 0; i < len(events); {
		j := i
		for j < len(events) && events[j].CallID == events[i].CallID {
			j++
		}
		run := events[i:j]
		i = j
		withEvents++
		last := run[len(run)-1]
		seen := map[string]bool{}
		names := make([]string, len(run))
		for k, e := range run {
			names[k] = e.Node
			st := nodes[e.Node]
			if st == nil {
				st = &nodeStats{node: e.Node, firstSeq: k}
				nodes[e.Node] = st
			}
			st.firstSeq = min(st.firstSeq, k)
			if !seen[e.Node] {
				seen[e.Node] = true
				st.entered++
			}
		}
		// A call ends at its last node: completed there or lost there (hung up, timed
		// out, failed). It continued from every other node it entered.
		end := nodes[last.Node]
		if last.Result == jobsdb.IvrCallEventsResultCompleted {
			end.completed++
			completed++
		} else {
			end.lost++
		}
		for name := range seen {
			if name != last.Node {
				nodes[name].continued++
			}
		}
		paths[strings.Join(names, pathSep)+" ("+string(last.Result)+")"]++
	}

	order := make([]*nodeStats, 0, len(nodes))
	for _, st := range nodes {
		order = append(order, st)
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.firstSeq != b.firstSeq {
			return a.firstSeq < b.firstSeq
		}
		if a.entered != b.entered {
			return a.entered > b.entered
		}
		return a.node < b.node
	})
	nodeTable := Table{Name: "nodes", Title: "Drop-off per node",
		Columns: []string{"node", "entered", "continued", "completed", "dropped", "drop_pct"}}
	worst := (*nodeStats)(nil)
	for _, st := range order {
		nodeTable.Rows = append(nodeTable.Rows, []any{st.node, st.entered, st.continued, st.completed, st.lost, pct(st.lost, st.entered)})
		if st.lost > 0 && (worst == nil || st.lost > worst.lost) {
			worst = st
		}
	}

	type pathCount struct {
		path  string
		calls int
	}
	ranked := make([]pathCount, 0, len(paths))
	for path, n := range paths {
		ranked = append(ranked, pathCount{path, n})
	}
	sort.Slice(ranked, func(i, j int) bool {
		if ranked[i].calls != ranked[j].calls {
			return ranked[i].calls > ranked[j].calls
		}
		return ranked[i].path < ranked[j].path
	})
	pathTable := Table{Name: "paths", Title: fmt.Sprintf("Top %d paths", top),
		Columns: []string{"rank", "path", "calls", "share_pct"}}
	for i, pc := range ranked {
		if i == top {
			break
		}
		pathTable.Rows = append(pathTable.Rows, []any{i + 1, pc.path, pc.calls, pct(pc.calls, withEvents)})
	}

	rate := pct(completed, withEvents)
	totals := Fields{
		{"flow_id", flowID},
		{"calls", int(calls)},
		{"calls_with_events", withEvents},
		{"completed", completed},
		{"completion_rate_pct", rate},
		{"distinct_paths", len(paths)},
		{"nodes", len(nodes)},
	}
	worstText := "no drop-offs"
	if worst != nil {
		totals = append(totals, Field{"worst_drop_node", worst.node}, Field{"worst_drop_calls", worst.lost})
		worstText = fmt.Sprintf("most drop-offs at %s (%s of %s, %s)", worst.node, groupDigits(worst.lost),
			groupDigits(worst.entered), fmtPct(pct(worst.lost, worst.entered)))
	} else {
		totals = append(totals, Field{"worst_drop_node", nil}, Field{"worst_drop_calls", 0})
	}
	topText := "no paths"
	if len(ranked) > 0 {
		topText = fmt.Sprintf("top path %s (%s calls)", ranked[0].path, groupDigits(ranked[0].calls))
	}
	summary := fmt.Sprintf("flow %s %s: %s calls, completion %s, %s; %s", flowID, p.Label,
		groupDigits(int(calls)), fmtPct(rate), worstText, topText)
	return &ReportResult{
		Title:   "IVR call flow analysis: " + flowID,
		Period:  reportPeriod(p),
		FlowID:  flowID,
		Summary: summary,
		Totals:  totals,
		Tables:  []Table{nodeTable, pathTable},
		Notes: []string{
			"A path is the nodes a call went through, in order, with how it ended: (completed) the flow finished (self-service done or an agent answered), (hangup) the caller hung up, (timeout)/(error) the system ended it.",
			"Per node, counting each call once however often it entered: continued = went on to another node afterwards; completed = the flow finished there; dropped = the call ended there without completing; drop_pct = dropped / entered.",
			"completion_rate_pct = completed / calls_with_events.",
		},
	}, nil
}
