package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// ---- an analyst requests a report ----

// requestForm is what the request form offers: only valid choices.
type requestForm struct {
	Kinds         []string
	Periods       []string
	Flows         []string
	Granularities []string
	User          string // the name remembered from the last request
	Today         string
}

// reportPeriods are the periods offered besides a custom range of dates.
var reportPeriods = []string{"last 24h", "last 7d", "last 30d", "today", "yesterday"}

// userCookie remembers who requested last, so that the inbox opens on their messages.
const userCookie = "iactq_user"

// reportQueue is the queue the dashboard's requests go to.
const reportQueue = "reports"

var userName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

func (s *Server) requestForm(ctx context.Context, r *http.Request) (requestForm, error) {
	flows, err := jobs.KnownFlows(ctx, s.o.DB)
	if err != nil {
		return requestForm{}, err
	}
	return requestForm{
		Kinds: jobs.ReportKinds, Periods: reportPeriods, Flows: flows, Granularities: []string{"hour", "day"},
		User: currentUser(r), Today: time.Now().UTC().Format(time.DateOnly),
	}, nil
}

// currentUser is the name in the user cookie, when it is a valid one.
func currentUser(r *http.Request) string {
	if c, err := r.Cookie(userCookie); err == nil && userName.MatchString(c.Value) {
		return c.Value
	}
	return ""
}

// reportRequest reads and checks the form: every field must be one of the choices
// offered (or a valid date range and name). Nothing is written when it fails.
func (s *Server) reportRequest(ctx context.Context, r *http.Request) (queue.InsertParams, error) {
	bad := func(format string, a ...any) (queue.InsertParams, error) {
		return queue.InsertParams{}, fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, a...))
	}
	kind := r.PostFormValue("kind")
	if !slices.Contains(jobs.ReportKinds, kind) {
		return bad("choose a report kind: %v", jobs.ReportKinds)
	}
	user := r.PostFormValue("requested_by")
	if !userName.MatchString(user) {
		return bad("your name: 1 to 64 letters, digits, '.', '_', '@' or '-'")
	}
	period := r.PostFormValue("period")
	switch {
	case slices.Contains(reportPeriods, period):
	case period == "range":
		from, err1 := time.Parse(time.DateOnly, r.PostFormValue("from"))
		to, err2 := time.Parse(time.DateOnly, r.PostFormValue("to"))
		if err1 != nil || err2 != nil {
			return bad("a range needs two dates, from and to (YYYY-MM-DD)")
		}
		if to.Before(from) {
			return bad("the range ends before it starts")
		}
		// The form's "to" day is included; the report's end is exclusive.
		period = from.Format(time.DateOnly) + "/" + to.AddDate(0, 0, 1).Format(time.DateOnly)
	default:
		return bad("choose a period: %v or a range of dates", reportPeriods)
	}
	flow := r.PostFormValue("flow_id")
	if flow != "" {
		flows, err := jobs.KnownFlows(ctx, s.o.DB)
		if err != nil {
			return queue.InsertParams{}, err
		}
		if !slices.Contains(flows, flow) {
			return bad("choose a flow: all, or one of %v", flows)
		}
	}
	gran := r.PostFormValue("granularity")
	if gran != "" && gran != "hour" && gran != "day" {
		return bad("granularity: hour or day")
	}
	scope := jobs.ReportScope{Period: period, Granularity: gran, FlowID: flow}
	var args queue.Args
	switch kind {
	case "dashboard_metrics":
		args = jobs.DashboardMetricsArgs{ReportScope: scope}
	case "abandonment_report":
		args = jobs.AbandonmentReportArgs{ReportScope: scope}
	case "call_volume_trend":
		args = jobs.CallVolumeTrendArgs{ReportScope: scope}
	case "call_flow_analysis":
		args = jobs.CallFlowAnalysisArgs{FlowID: flow, Period: period}
	}
	p := queue.InsertParams{Kind: kind, Args: args, Queue: reportQueue, RequestedBy: user}
	if err := s.o.Client.ValidateInsert(p); err != nil {
		return bad("%v", err)
	}
	if err := jobs.CheckFlows(ctx, s.o.DB, p); err != nil {
		return bad("%v", err)
	}
	return p, nil
}

// requestReport enqueues the form's report for its requester; the browser then goes
// to the report's page, which follows the request until it becomes the result.
func (s *Server) requestReport(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if !s.analyst(r) {
		why := "request a report with the analysts' token or the operator's (Unlock above)"
		if s.o.Token == "" && s.o.AnalystToken == "" {
			why = "requests are disabled: no token is configured (" + AnalystTokenEnv + " or " + TokenEnv + ")"
		}
		s.record(r, "request_report", "", false, why)
		http.Error(w, "forbidden: "+why, http.StatusForbidden)
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	p, err := s.reportRequest(ctx, r)
	if err != nil {
		s.record(r, "request_report", "", false, err.Error())
		status := http.StatusInternalServerError
		if errors.Is(err, errBadRequest) {
			status = http.StatusBadRequest
		}
		if r.PostFormValue("back") != "" {
			http.Redirect(w, r, withFlash("/reports", err.Error(), true), http.StatusSeeOther)
			return
		}
		http.Error(w, err.Error(), status)
		return
	}
	res, err := s.o.Client.Insert(ctx, p)
	if err != nil {
		s.record(r, "request_report", "", false, err.Error())
		http.Error(w, "cannot enqueue the report: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	id := strconv.FormatInt(res.ID, 10)
	s.record(r, "request_report", id, true, fmt.Sprintf("%s for %s", p.Kind, p.RequestedBy))
	http.SetCookie(w, &http.Cookie{Name: userCookie, Value: p.RequestedBy, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 90 * 24 * 3600})
	http.Redirect(w, r, withFlash("/reports/"+id, "report requested: job "+id, false), http.StatusSeeOther)
}
