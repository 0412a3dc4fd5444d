package main

import (
	"strings"
	"testing"
)

// TestEnqueueRefusesAnUnknownFlow: a report for a flow the call data does not have
// exits 2, names the known flows and writes nothing; a known flow is enqueued.
func TestEnqueueRefusesAnUnknownFlow(t *testing.T) {
	d, c := setup(t)
	d.Exec(t, `INSERT INTO ivr_calls (call_ref, flow_id, caller_hash, started_at, ended_at, outcome) VALUES
		('a', 'main', REPEAT('a', 64), NOW(6), NOW(6), 'answered'), ('b', 'sales', REPEAT('a', 64), NOW(6), NOW(6), 'dropped')`)
	r := c.run("enqueue", "call_flow_analysis", "--args", `{"flow_id":"mian"}`)
	if r.code != 2 || !strings.Contains(r.stderr, `flow_id "mian"`) || !strings.Contains(r.stderr, "main, sales") || r.stdout != "" {
		t.Errorf("unknown flow: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = c.runIn(t.Context(), `{"kind":"noop"}`+"\n"+`{"kind":"dashboard_metrics","args":{"flow_id":"nope"}}`+"\n", "enqueue", "--batch")
	if r.code != 2 || countJobs(t, d) != 0 {
		t.Errorf("batch with an unknown flow: exit %d, %d jobs written, stderr %q", r.code, countJobs(t, d), r.stderr)
	}
	parseIDOut(t, c.ok("enqueue", "dashboard_metrics", "--args", `{"flow_id":"sales"}`))
}
