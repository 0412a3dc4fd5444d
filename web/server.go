package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
)

//go:embed templates/*.html static/*
var assets embed.FS

// TokenEnv is the environment variable that holds the dashboard's action token.
const TokenEnv = "IACTQ_DASHBOARD_TOKEN"

// tokenCookie holds the token in the browser after the operator unlocks the actions.
const tokenCookie = "iactq_token"

// Options configure a dashboard Server.
type Options struct {
	Client *queue.Client
	// Token unlocks the actions (retry, cancel, pause, resume, run a schedule now).
	// Empty: every action is refused. Read-only pages need none.
	Token string
	Log   zerolog.Logger
	// Metrics, when set, is served at /metrics.
	Metrics *Metrics
	// Refresh is how often pages reload themselves (default 10 s).
	Refresh time.Duration
	// RollupEvery is how often page views bring the SLA rollup up to date (default
	// 30 s), so the charts are current even where no worker runs. 0 means the default;
	// negative never.
	RollupEvery time.Duration
}

// Server is the dashboard.
type Server struct {
	o     Options
	pages map[string]*template.Template
	mux   *http.ServeMux

	rollupMu   sync.Mutex
	lastRollup time.Time
}

// New returns the dashboard over o.Client.
func New(o Options) (*Server, error) {
	if o.Refresh <= 0 {
		o.Refresh = 10 * time.Second
	}
	if o.RollupEvery == 0 {
		o.RollupEvery = 30 * time.Second
	}
	s := &Server{o: o, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	funcs := template.FuncMap{
		"ago":      ago,
		"dur":      shortDuration,
		"ts":       func(t time.Time) string { return stamp(t) },
		"classcss": func(c queue.Class) string { return strings.ToLower(string(c)) },
		"lower":    strings.ToLower,
		"pct":      func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
		"secs": func(v any) string {
			switch x := v.(type) {
			case float64:
				return shortDuration(time.Duration(x * float64(time.Second)))
			case int64:
				return shortDuration(time.Duration(x) * time.Second)
			}
			return ""
		},
	}
	for _, page := range []string{"overview", "priorities", "failed", "schedules", "workers", "deploys", "job", "audit"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", page, err)
		}
		s.pages[page] = t
	}
	static, _ := fs.Sub(assets, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(http.FileServerFS(static))))
	s.mux.HandleFunc("GET /{$}", s.overview)
	s.mux.HandleFunc("GET /priorities", s.priorities)
	s.mux.HandleFunc("GET /failed", s.failed)
	s.mux.HandleFunc("GET /schedules", s.schedules)
	s.mux.HandleFunc("GET /workers", s.workers)
	s.mux.HandleFunc("GET /deploys", s.deploys)
	s.mux.HandleFunc("GET /audit", s.audit)
	s.mux.HandleFunc("GET /jobs/{id}", s.job)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.logout)
	s.mux.HandleFunc("POST /jobs/{id}/retry", s.action("retry", s.retry))
	s.mux.HandleFunc("POST /jobs/{id}/cancel", s.action("cancel", s.cancel))
	s.mux.HandleFunc("POST /queues/{name}/pause", s.action("pause", s.pause))
	s.mux.HandleFunc("POST /queues/{name}/resume", s.action("resume", s.resume))
	s.mux.HandleFunc("POST /schedules/{name}/run", s.action("run_schedule", s.runSchedule))
	if o.Metrics != nil {
		s.mux.Handle("GET /metrics", o.Metrics.Handler())
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	// Nothing is loaded from elsewhere: the assets are embedded.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'")
	s.mux.ServeHTTP(w, r)
}

func staticHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// page is what every template gets.
type page struct {
	Title    string
	Nav      string
	Now      time.Time
	Refresh  int
	Unlocked bool // the browser holds the right token
	Enabled  bool // a token is configured at all
	Flash    string
	FlashErr bool
	Path     string
	Data     any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	p := page{
		Title: title, Nav: name, Now: time.Now().UTC(), Refresh: int(s.o.Refresh / time.Second),
		Enabled: s.o.Token != "", Unlocked: s.authorized(r), Path: r.URL.Path, Data: data,
		Flash: r.URL.Query().Get("flash"), FlashErr: r.URL.Query().Get("err") == "1",
	}
	var buf strings.Builder
	if err := s.pages[name].Execute(&buf, p); err != nil {
		s.o.Log.Error().Err(err).Str("page", name).Msg("render dashboard page")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(buf.String()))
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	s.o.Log.Warn().Err(err).Msg("dashboard query failed")
	http.Error(w, "cannot read the queue: "+err.Error(), http.StatusServiceUnavailable)
}

func ctxTimeout(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}

// ---- read-only pages ----

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

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	c := s.o.Client
	queues, err := c.ListQueues(ctx)
	if err != nil {
		s.fail(w, err)
		return
	}
	backlog, err := c.Backlog(ctx, nil, 100_000)
	if err != nil {
		s.fail(w, err)
		return
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
	s.render(w, r, "overview", "Queues", data)
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

func (s *Server) priorities(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	ps, err := s.o.Client.Priorities(ctx, 200)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.render(w, r, "priorities", "Priorities", ps)
}

func (s *Server) failed(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	jobs, err := s.o.Client.RecentFailures(ctx, 100)
	if err != nil {
		s.fail(w, err)
		return
	}
	type failedJob struct {
		*queue.JobRow
		LastError string
		Errors    []queue.AttemptError
	}
	out := make([]failedJob, len(jobs))
	for i, j := range jobs {
		errs := j.AttemptErrors()
		f := failedJob{JobRow: j, Errors: errs}
		if len(errs) > 0 {
			f.LastError = errs[len(errs)-1].Error
		}
		out[i] = f
	}
	s.render(w, r, "failed", "Failed jobs", out)
}

func (s *Server) schedules(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	ss, err := s.o.Client.Schedules(ctx)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.render(w, r, "schedules", "Schedules", ss)
}

func (s *Server) workers(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	ws, err := s.o.Client.Workers(ctx)
	if err != nil {
		s.fail(w, err)
		return
	}
	type workerRow struct {
		queue.WorkerInfo
		Alive bool
	}
	rescue := s.o.Client.Config().RescueAfter
	out := make([]workerRow, len(ws))
	for i, x := range ws {
		out[i] = workerRow{x, time.Since(x.HeartbeatAt) < rescue}
	}
	s.render(w, r, "workers", "Workers", out)
}

func (s *Server) deploys(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	type data struct {
		Deploys      []queue.Deploy
		DeploysOK    bool
		DeploysErr   string
		Snapshots    []queue.DORASnapshot
		SnapshotsOK  bool
		SnapshotsErr string
	}
	var d data
	var err error
	if d.Deploys, d.DeploysOK, err = s.o.Client.RecentDeploys(ctx, 30); err != nil {
		d.DeploysErr = err.Error()
	}
	if d.Snapshots, d.SnapshotsOK, err = s.o.Client.LatestDORA(ctx); err != nil {
		d.SnapshotsErr = err.Error()
	}
	s.render(w, r, "deploys", "Deploys and DORA", d)
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	entries, err := s.o.Client.AuditLog(ctx, 100)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.render(w, r, "audit", "Audit log", entries)
}

func (s *Server) job(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	j, err := s.o.Client.GetJob(ctx, id)
	if errors.Is(err, queue.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	type data struct {
		*queue.JobRow
		ArgsText string
		Errors   []queue.AttemptError
	}
	s.render(w, r, "job", fmt.Sprintf("Job %d", id), data{JobRow: j, ArgsText: string(j.Args), Errors: j.AttemptErrors()})
}

// ---- actions ----

// presentedToken is the token a request carries: the form field "token", an
// "Authorization: Bearer" header, or the cookie set by /login.
func presentedToken(r *http.Request) string {
	if t := r.PostFormValue("token"); t != "" {
		return t
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimPrefix(h, "Bearer ")
	}
	if c, err := r.Cookie(tokenCookie); err == nil {
		return c.Value
	}
	return ""
}

func (s *Server) authorized(r *http.Request) bool {
	if s.o.Token == "" {
		return false
	}
	t := presentedToken(r)
	return t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.o.Token)) == 1
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	back := backPath(r)
	if !s.authorized(r) {
		s.record(r, "login", "dashboard", false, "wrong or missing token")
		http.Redirect(w, r, withFlash(back, "wrong token: actions stay locked", true), http.StatusSeeOther)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: s.o.Token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 12 * 3600})
	s.record(r, "login", "dashboard", true, "")
	http.Redirect(w, r, withFlash(back, "actions unlocked", false), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, withFlash(backPath(r), "actions locked", false), http.StatusSeeOther)
}

// action wraps a state-changing handler: it refuses without the token (403), and
// records every attempt, allowed or not, in the log and in iactq_audit.
func (s *Server) action(name string, fn func(ctx context.Context, r *http.Request) (target, done string, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		target := r.PathValue("id") + r.PathValue("name")
		if !s.authorized(r) {
			why := "missing or wrong token"
			if s.o.Token == "" {
				why = "actions are disabled: no dashboard token is configured (" + TokenEnv + ")"
			}
			s.record(r, name, target, false, why)
			http.Error(w, "forbidden: "+why, http.StatusForbidden)
			return
		}
		ctx, cancel := ctxTimeout(r)
		defer cancel()
		target, done, err := fn(ctx, r)
		if err != nil {
			s.record(r, name, target, false, err.Error())
			status := http.StatusConflict
			switch {
			case errors.Is(err, queue.ErrNotFound):
				status = http.StatusNotFound
			case errors.Is(err, errBadRequest):
				status = http.StatusBadRequest
			case !errors.Is(err, queue.ErrConflict):
				status = http.StatusInternalServerError
			}
			if r.PostFormValue("back") != "" {
				http.Redirect(w, r, withFlash(backPath(r), err.Error(), true), http.StatusSeeOther)
				return
			}
			http.Error(w, err.Error(), status)
			return
		}
		s.record(r, name, target, true, done)
		if r.PostFormValue("back") != "" {
			http.Redirect(w, r, withFlash(backPath(r), done, false), http.StatusSeeOther)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, done)
	}
}

var errBadRequest = errors.New("bad request")

func (s *Server) record(r *http.Request, action, target string, ok bool, detail string) {
	remote := r.RemoteAddr
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	ev := s.o.Log.Info()
	if !ok {
		ev = s.o.Log.Warn()
	}
	ev.Str("component", "dashboard").Str("audit_action", action).Str("target", target).Bool("ok", ok).
		Str("remote_addr", remote).Str("detail", detail).Msg("dashboard action")
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	err := s.o.Client.Audit(ctx, queue.AuditEntry{Actor: "dashboard", Action: action, Target: target, OK: ok, Detail: detail, RemoteAddr: remote})
	if err != nil {
		s.o.Log.Warn().Err(err).Msg("cannot record dashboard action in iactq_audit")
	}
}

func jobID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("invalid job id %q: %w", r.PathValue("id"), errBadRequest)
	}
	return id, nil
}

func (s *Server) retry(ctx context.Context, r *http.Request) (string, string, error) {
	id, err := jobID(r)
	if err != nil {
		return r.PathValue("id"), "", err
	}
	j, err := s.o.Client.RetryJob(ctx, id)
	if err != nil {
		return strconv.FormatInt(id, 10), "", err
	}
	return strconv.FormatInt(id, 10), fmt.Sprintf("job %d is %s again", id, j.State), nil
}

func (s *Server) cancel(ctx context.Context, r *http.Request) (string, string, error) {
	id, err := jobID(r)
	if err != nil {
		return r.PathValue("id"), "", err
	}
	if _, err := s.o.Client.CancelJob(ctx, id); err != nil {
		return strconv.FormatInt(id, 10), "", err
	}
	return strconv.FormatInt(id, 10), fmt.Sprintf("job %d cancelled", id), nil
}

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

// runSchedule makes a schedule's pending occurrence due now: the same as retrying
// that scheduled job, so the chain of occurrences goes on from it.
func (s *Server) runSchedule(ctx context.Context, r *http.Request) (string, string, error) {
	name := r.PathValue("name")
	ss, err := s.o.Client.Schedules(ctx)
	if err != nil {
		return name, "", err
	}
	for _, sc := range ss {
		if sc.Name != name {
			continue
		}
		if sc.Next == nil {
			return name, "", fmt.Errorf("schedule %s has no pending occurrence yet (workers add one within 10 s): %w", name, queue.ErrConflict)
		}
		if sc.Next.State != queue.StateScheduled {
			return name, "", fmt.Errorf("schedule %s: its occurrence (job %d) is already %s: %w", name, sc.Next.ID, sc.Next.State, queue.ErrConflict)
		}
		if _, err := s.o.Client.RetryJob(ctx, sc.Next.ID); err != nil {
			return name, "", err
		}
		return name, fmt.Sprintf("schedule %s: job %d runs now", name, sc.Next.ID), nil
	}
	return name, "", fmt.Errorf("schedule %s: %w", name, queue.ErrNotFound)
}

// backPath is where to return after a form: the form's "back" field when it is a
// local path, else the overview.
func backPath(r *http.Request) string {
	b := r.PostFormValue("back")
	if strings.HasPrefix(b, "/") && !strings.HasPrefix(b, "//") && !strings.ContainsAny(b, "\\?#") &&
		strings.IndexFunc(b, func(r rune) bool { return r < 0x20 || r == 0x7f }) < 0 {
		return b
	}
	return "/"
}

func withFlash(path, msg string, isErr bool) string {
	v := url.Values{"flash": {msg}}
	if isErr {
		v.Set("err", "1")
	}
	return path + "?" + v.Encode()
}

// ---- formatting ----

func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := time.Since(t)
	if d < 0 {
		return "in " + shortDuration(-d)
	}
	return shortDuration(d) + " ago"
}

func shortDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}
