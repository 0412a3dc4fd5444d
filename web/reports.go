package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// ---- reports: the list, one report (or the request's progress), its CSV ----

type reportsData struct {
	Reports []jobs.ReportInfo
	Waiting []queue.Priority // report requests not yet claimed
	Form    requestForm
}

func (s *Server) reports(ctx context.Context, r *http.Request) (string, any, error) {
	list, err := jobs.ListReports(ctx, s.o.DB, "", 100)
	if err != nil {
		return "", nil, err
	}
	ps, err := s.o.Client.Priorities(ctx, 1000)
	if err != nil {
		return "", nil, err
	}
	d := reportsData{Reports: list}
	for _, p := range ps {
		if slices.Contains(jobs.ReportKinds, p.Kind) {
			d.Waiting = append(d.Waiting, p)
		}
	}
	d.Form, err = s.requestForm(ctx, r)
	if err != nil {
		return "", nil, err
	}
	return "Reports", d, nil
}

// reportView is a report job's page: its progress while it waits or runs, its
// result once done, its failure in one line.
type reportView struct {
	Job    *queue.JobRow
	Params []kv

	// While it waits: its place in the claim order.
	Waiting     bool
	Class       queue.Class
	Ahead       int64
	QueuePaused bool
	UrgentAt    time.Time
	OverdueAt   time.Time
	DueIn       time.Duration

	// Once finished.
	Failed  string // one line: why it did not complete
	Report  *jobs.Report
	Waited  time.Duration
	Ran     time.Duration
	Totals  []kv
	Tables  []tableView
	Charts  []template.HTML
	NoData  string
	Summary string
	Period  string // as asked and as resolved, in the report's time zone, once
}

type kv struct{ Name, Value string }

type tableView struct {
	Name, Title string
	Columns     []string
	Rows        [][]string
}

func (s *Server) report(ctx context.Context, r *http.Request) (string, any, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return "", nil, fmt.Errorf("report %q: %w", r.PathValue("id"), queue.ErrNotFound)
	}
	job, err := s.o.Client.GetJob(ctx, id)
	if err != nil {
		return "", nil, err
	}
	if !slices.Contains(jobs.ReportKinds, job.Kind) {
		return "", nil, fmt.Errorf("job %d is a %s, not a report: %w", id, job.Kind, queue.ErrNotFound)
	}
	v := reportView{Job: job, Params: params(job.Args)}
	title := fmt.Sprintf("Report %d · %s", id, job.Kind)
	switch job.State {
	case queue.StateCompleted:
		rep, err := jobs.GetReport(ctx, s.o.DB, id)
		if err != nil {
			return "", nil, err
		}
		v.fill(rep)
		title = fmt.Sprintf("Report %d · %s", id, rep.Result.Title)
	case queue.StateDiscarded, queue.StateCancelled:
		v.Failed = oneLine(job)
	default:
		e, err := s.o.Client.Explain(ctx, id)
		if err != nil {
			return "", nil, err
		}
		v.Waiting = job.State != queue.StateRunning
		v.Ahead = e.AheadTotal()
		v.QueuePaused = !e.PausedAt.IsZero()
		sla := slaOf(s.o.Client.Config().SLAs, job.Kind)
		v.UrgentAt, v.OverdueAt = job.ScheduledAt.Add(sla.Urgent), job.ScheduledAt.Add(sla.Deadline)
		v.Class = queue.ClassNormal
		now := time.Now()
		switch {
		case now.After(v.OverdueAt):
			v.Class = queue.ClassOverdue
		case now.After(v.UrgentAt):
			v.Class = queue.ClassUrgent
		}
		if e.Priority != nil {
			v.Class = e.Priority.Class
		}
		v.DueIn = time.Until(job.ScheduledAt)
	}
	return title, v, nil
}

func slaOf(slas map[string]queue.SLA, kind string) queue.SLA {
	if s, ok := slas[kind]; ok {
		return s
	}
	if s, ok := slas["*"]; ok {
		return s
	}
	return queue.DefaultSLAs()["*"]
}

// oneLine is why a job did not complete, for its requester: the first line of its
// last error (a panic's stack stays on the operator's job page).
func oneLine(job *queue.JobRow) string {
	if job.State == queue.StateCancelled {
		return "cancelled by an operator"
	}
	errs := job.AttemptErrors()
	if len(errs) == 0 {
		return string(job.State)
	}
	line := errs[len(errs)-1].Error
	for i, c := range line {
		if c == '\n' {
			return line[:i]
		}
	}
	return line
}

// fieldLabel is a result field's name as an analyst reads it on the page:
// "abandon_rate_pct" -> "abandon rate (%)", "avg_abandoned_wait_s" -> "avg abandoned
// wait (s)". The CSV download keeps the field names as they are.
func fieldLabel(name string) string {
	unit := ""
	for _, u := range []struct{ suffix, unit string }{
		{"_pct", " (%)"}, {"_seconds", " (s)"}, {"_s", " (s)"},
	} {
		if base, ok := strings.CutSuffix(name, u.suffix); ok && base != "" {
			name, unit = base, u.unit
			break
		}
	}
	return strings.ReplaceAll(name, "_", " ") + unit
}

// periodText is a report's period as asked and as resolved, in the report's time
// zone, named once: "last 24h: 2026-12-02 19:16 to 2026-12-03 19:16 UTC, by hour".
func periodText(res jobs.ReportResult) string {
	loc, err := time.LoadLocation(res.Timezone)
	if err != nil || res.Timezone == "" {
		loc = time.UTC
	}
	from, to := res.Period.From.In(loc), res.Period.To.In(loc)
	layout := "2006-01-02 15:04"
	if from.Second() != 0 || to.Second() != 0 {
		layout = time.DateTime
	}
	s := from.Format(layout) + " to " + to.Format(layout) + " " + loc.String()
	if label := res.Period.Label; label != "" && label != from.Format(time.DateOnly)+"/"+to.Format(time.DateOnly) {
		s = label + ": " + s
	}
	if res.Granularity != "" {
		s += ", by " + res.Granularity
	}
	return s
}

// params lists a job's args as name: value, in the JSON's key order.
func params(raw json.RawMessage) []kv {
	var f jobs.Fields
	if err := json.Unmarshal(raw, &f); err != nil {
		return []kv{{"args", string(raw)}}
	}
	out := make([]kv, len(f))
	for i, x := range f {
		out[i] = kv{fieldLabel(x.Name), jobs.FormatValue(x.Value)}
	}
	return out
}

func (v *reportView) fill(rep *jobs.Report) {
	res := rep.Result
	v.Report, v.NoData, v.Summary = rep, res.NoData, res.Summary
	// The Period row says the period as asked and as resolved, and the granularity:
	// the args' own lines would say them a second time.
	v.Params = slices.DeleteFunc(v.Params, func(p kv) bool { return p.Name == fieldLabel("period") || p.Name == fieldLabel("granularity") })
	v.Period = periodText(res)
	if j := v.Job; !j.AttemptedAt.IsZero() {
		v.Waited = j.AttemptedAt.Sub(j.ScheduledAt)
		if !j.FinishedAt.IsZero() {
			v.Ran = j.FinishedAt.Sub(j.AttemptedAt)
		}
	}
	for _, f := range res.Totals {
		v.Totals = append(v.Totals, kv{fieldLabel(f.Name), jobs.FormatValue(f.Value)})
	}
	for _, t := range res.Tables {
		tv := tableView{Name: t.Name, Title: t.Title}
		for _, c := range t.Columns {
			tv.Columns = append(tv.Columns, fieldLabel(c))
		}
		for _, row := range t.Rows {
			cells := make([]string, len(row))
			for i, c := range row {
				if cells[i] = jobs.FormatValue(c); cells[i] == "" {
					cells[i] = "—" // not defined (a rate over no calls); the CSV leaves it empty
				}
			}
			tv.Rows = append(tv.Rows, cells)
		}
		v.Tables = append(v.Tables, tv)
	}
	if res.NoData == "" {
		v.Charts = reportCharts(&res)
	}
}

// reportCharts draws what people would rather look at than read: calls and
// abandonment over time, the flow's drop-off by node, the volume against the
// previous period.
func reportCharts(res *jobs.ReportResult) []template.HTML {
	var out []template.HTML
	col := func(t *jobs.Table, name string) []float64 {
		i := slices.Index(t.Columns, name)
		vals := make([]float64, len(t.Rows))
		for k, row := range t.Rows {
			vals[k] = math.NaN()
			if i >= 0 && i < len(row) {
				if f, err := strconv.ParseFloat(jobs.FormatValue(row[i]), 64); err == nil {
					vals[k] = f
				}
			}
		}
		return vals
	}
	labels := func(t *jobs.Table, i int) []string {
		out := make([]string, len(t.Rows))
		for k, row := range t.Rows {
			if i < len(row) {
				out[k] = jobs.FormatValue(row[i])
			}
		}
		return out
	}
	zeroNaN := func(v []float64) []float64 {
		for i := range v {
			if math.IsNaN(v[i]) {
				v[i] = 0
			}
		}
		return v
	}
	switch res.Kind {
	case "dashboard_metrics", "abandonment_report":
		t := res.Table("intervals")
		if t == nil {
			break
		}
		ls := shortLabels(labels(t, 0))
		ss := []series{{"answered", "s-ok", zeroNaN(col(t, "answered"))}, {"abandoned", "s-bad", zeroNaN(col(t, "abandoned"))}}
		if res.Kind == "dashboard_metrics" {
			ss = append(ss, series{"self-served", "s-wait50", zeroNaN(col(t, "self_served"))}, series{"dropped", "s-run", zeroNaN(col(t, "dropped"))})
		} else {
			// The bars add up to the calls column: short abandons, and the calls that
			// never queued for an agent (self-served or dropped in the IVR).
			short, calls := zeroNaN(col(t, "short_abandoned")), zeroNaN(col(t, "calls"))
			other := make([]float64, len(calls))
			for i := range calls {
				other[i] = math.Max(calls[i]-ss[0].values[i]-ss[1].values[i]-short[i], 0)
			}
			ss = append(ss, series{"short abandons", "s-wait50", short}, series{"self-served or dropped", "s-run", other})
		}
		out = append(out, labelledChart("Calls by "+t.Columns[0], ls, 0, ss, true, countUnit))
		out = append(out, labelledChart("Abandon rate (%) by "+t.Columns[0], ls, 0,
			[]series{{"abandon rate", "s-bad", col(t, "abandon_rate_pct")}}, false, pctUnit))
		if w := col(t, "p90_wait_s"); res.Kind == "dashboard_metrics" {
			out = append(out, labelledChart("Wait for an agent by "+t.Columns[0], ls, 0,
				[]series{{"avg wait", "s-wait50", col(t, "avg_wait_s")}, {"p90 wait", "s-wait", w}}, false, secondsUnit))
		} else {
			out = append(out, labelledChart("Average wait before abandoning by "+t.Columns[0], ls, 0,
				[]series{{"avg abandoned wait", "s-wait", col(t, "avg_abandoned_wait_s")}}, false, secondsUnit))
			if w := res.Table("by_wait"); w != nil {
				out = append(out, byWaitChart(w, col(w, "abandoned"), labels(w, 0)))
			}
		}
	case "call_volume_trend":
		t := res.Table("intervals")
		if t == nil {
			break
		}
		out = append(out, labelledChart("Calls against the previous period", shortLabels(labels(t, 0)), 0,
			[]series{{"this period", "s-ok", col(t, "calls")}, {"previous period", "s-wait50", col(t, "previous_calls")}}, false, countUnit))
	case "call_flow_analysis":
		t := res.Table("nodes")
		if t == nil {
			break
		}
		out = append(out, labelledChart("Drop-off by node (calls lost at each node)", labels(t, 0), 0,
			[]series{{"continued or completed", "s-ok", zeroNaN(sum(col(t, "continued"), col(t, "completed")))}, {"dropped", "s-bad", zeroNaN(col(t, "dropped"))}}, true, countUnit))
	}
	return out
}

// byWaitChart draws the abandonment report's by_wait table: abandoned calls by how
// long the caller waited, the bands in the rate apart from the short abandons.
func byWaitChart(t *jobs.Table, abandoned []float64, labels []string) template.HTML {
	counted := slices.Index(t.Columns, "counted")
	in, short := make([]float64, len(t.Rows)), make([]float64, len(t.Rows))
	for i, row := range t.Rows {
		v := abandoned[i]
		if math.IsNaN(v) {
			v = 0
		}
		if counted >= 0 && counted < len(row) && jobs.FormatValue(row[counted]) == "yes" {
			in[i] = v
		} else {
			short[i] = v
		}
	}
	return labelledChart("Abandoned calls by wait before hanging up", labels, 1,
		[]series{{"in the rate", "s-bad", in}, {"short abandons", "s-wait50", short}}, true, countUnit)
}

func sum(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}

// shortLabels cuts time bucket labels ("2026-11-02 09:00") to what changes between
// them: the time of day when every bucket is on one day, the date otherwise.
func shortLabels(ls []string) []string {
	if len(ls) == 0 {
		return ls
	}
	out := make([]string, len(ls))
	oneDay := true
	for _, l := range ls {
		if len(l) < 10 || l[:10] != ls[0][:min(10, len(ls[0]))] {
			oneDay = false
		}
	}
	for i, l := range ls {
		switch {
		case oneDay && len(l) > 11:
			out[i] = l[11:]
		case len(l) >= 16 && l[11:16] != "00:00":
			out[i] = l[5:16]
		case len(l) >= 10:
			out[i] = l[5:10]
		default:
			out[i] = l
		}
	}
	return out
}

func pctUnit(v float64) string { return countUnit(v) + "%" }

// reportCSV downloads one table of a report as CSV (the main one by default).
func (s *Server) reportCSV(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	rep, err := jobs.GetReport(ctx, s.o.DB, id)
	if errors.Is(err, jobs.ErrReportNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	name := r.URL.Query().Get("table")
	var t *jobs.Table
	if name == "" && len(rep.Result.Tables) > 0 {
		t = &rep.Result.Tables[0]
	} else {
		t = rep.Result.Table(name)
	}
	if t == nil {
		http.Error(w, "report "+strconv.FormatInt(id, 10)+" has no such table", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%d-%s.csv"`, rep.Kind, id, t.Name))
	if err := t.WriteCSV(w); err != nil {
		s.o.Log.Warn().Err(err).Int64("job_id", id).Msg("write report CSV")
	}
}
