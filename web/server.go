package web

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
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

// AnalystTokenEnv holds the analysts' token: reports and messages, nothing else.
const AnalystTokenEnv = "IACTQ_ANALYST_TOKEN"

// Options configure a dashboard Server.
type Options struct {
	Client *queue.Client
	// DB is the database of Client, for the kinds' read models (reports).
	DB *sql.DB
	// Token unlocks the actions (retry, cancel, pause, resume, run a schedule now).
	// Empty: every action is refused. Read-only pages need none.
	Token string
	// AnalystToken unlocks only what analysts do: request a report, mark their
	// messages read. Empty: only Token does.
	AnalystToken string
	Log          zerolog.Logger
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

// New returns the dashboard over o.Client: the routes of the table in routes.go,
// the static assets and, when o.Metrics is set, /metrics.
func New(o Options) (*Server, error) {
	if o.Refresh <= 0 {
		o.Refresh = 10 * time.Second
	}
	if o.RollupEvery == 0 {
		o.RollupEvery = 30 * time.Second
	}
	s := &Server{o: o, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	for _, rt := range routes {
		switch {
		case rt.view != nil:
			if s.pages[rt.page] == nil {
				t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(assets, "templates/layout.html", "templates/"+rt.page+".html")
				if err != nil {
					return nil, fmt.Errorf("parse template %s: %w", rt.page, err)
				}
				s.pages[rt.page] = t
			}
			s.mux.HandleFunc(rt.pattern, s.viewHandler(rt))
		case rt.act != nil:
			s.mux.HandleFunc(rt.pattern, s.action(rt.action, rt.analysts, func(ctx context.Context, r *http.Request) (string, string, error) { return rt.act(s, ctx, r) }))
		default:
			s.mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) { rt.handle(s, w, r) })
		}
	}
	static, _ := fs.Sub(assets, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(http.FileServerFS(static))))
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

// viewHandler serves a page route: its view's data rendered with its template; a
// missing object is a 404, a query that failed a 503.
func (s *Server) viewHandler(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := ctxTimeout(r)
		defer cancel()
		title, data, err := rt.view(s, ctx, r)
		switch {
		case errors.Is(err, queue.ErrNotFound):
			http.NotFound(w, r)
		case errors.Is(err, errBadRequest):
			http.Error(w, err.Error(), http.StatusBadRequest)
		case err != nil:
			s.fail(w, err)
		default:
			s.render(w, r, rt, title, data)
		}
	}
}

// page is what every template gets.
type page struct {
	Title    string
	Nav      []navLink
	Now      time.Time
	Refresh  int
	Unlocked bool // the browser holds the operator's token
	Analyst  bool // the browser holds the analysts' token or the operator's
	Enabled  bool // a token is configured at all
	Flash    string
	FlashErr bool
	Path     string
	Data     any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, rt route, title string, data any) {
	p := page{
		Title: title, Nav: nav(rt.sectionOf()), Now: time.Now().UTC(), Refresh: int(s.o.Refresh / time.Second),
		Enabled: s.o.Token != "" || s.o.AnalystToken != "", Unlocked: s.authorized(r), Analyst: s.analyst(r), Path: r.URL.Path, Data: data,
		Flash: r.URL.Query().Get("flash"), FlashErr: r.URL.Query().Get("err") == "1",
	}
	var buf strings.Builder
	if err := s.pages[rt.page].Execute(&buf, p); err != nil {
		s.o.Log.Error().Err(err).Str("page", rt.page).Msg("render dashboard page")
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
