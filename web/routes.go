package web

import (
	"context"
	"net/http"
	"strings"
)

// route is one entry of the dashboard's table. The table drives both the routes
// (New registers each pattern) and the templates (New parses templates/PAGE.html,
// inside layout.html, for every page named here) and the navigation bar.
//
// Exactly one of view, act and handle is set:
//   - view: a page. It returns the title and the data that templates/PAGE.html renders.
//   - act: an action that changes state. It needs the token and is audited (see action).
//   - handle: anything else (login, downloads).
type route struct {
	pattern  string // method and path, as http.ServeMux reads them
	page     string // template name, for views
	menu     string // label in the navigation bar; "" keeps the page out of it
	section  string // the navigation entry lit on this page (default: the page itself)
	action   string // audit name, for acts
	analysts bool   // the analysts' token is enough for this act

	view   func(s *Server, ctx context.Context, r *http.Request) (title string, data any, err error)
	act    func(s *Server, ctx context.Context, r *http.Request) (target, done string, err error)
	handle func(s *Server, w http.ResponseWriter, r *http.Request)
}

// routes is the dashboard: one line per page or action, grouped as the files are.
var routes = []route{
	// overview.go: queues, their counts and the last hour
	{pattern: "GET /{$}", page: "overview", menu: "Queues", view: (*Server).overview},
	{pattern: "POST /queues/{name}/pause", action: "pause", act: (*Server).pause},
	{pattern: "POST /queues/{name}/resume", action: "resume", act: (*Server).resume},

	// priorities.go: the waiting jobs in claim order
	{pattern: "GET /priorities", page: "priorities", menu: "Priorities", view: (*Server).priorities},

	// reports.go and requests.go: the analysts' reports, requested from the page
	{pattern: "GET /reports", page: "reports", menu: "Reports", view: (*Server).reports},
	{pattern: "POST /reports", handle: (*Server).requestReport},
	{pattern: "GET /reports/{id}", page: "report", section: "/reports", view: (*Server).report},
	{pattern: "GET /reports/{id}/csv", handle: (*Server).reportCSV},

	// messages.go: the analysts' inbox
	{pattern: "GET /messages", page: "messages", menu: "Messages", view: (*Server).messages},
	{pattern: "POST /messages/{id}/read", action: "mark_read", analysts: true, act: (*Server).markRead},
	{pattern: "POST /messages/read", action: "mark_read", analysts: true, act: (*Server).markRead},

	// browse.go and jobs.go: every job, failures and one job, with their actions
	{pattern: "GET /jobs", page: "jobs", menu: "Jobs", view: (*Server).browse},
	{pattern: "POST /jobs/bulk/retry", action: "bulk_retry", act: bulk("retry")},
	{pattern: "POST /jobs/bulk/cancel", action: "bulk_cancel", act: bulk("cancel")},
	{pattern: "GET /failed", page: "failed", menu: "Failed", view: (*Server).failed},
	{pattern: "GET /jobs/{id}", page: "job", view: (*Server).job},
	{pattern: "POST /jobs/{id}/retry", action: "retry", act: (*Server).retry},
	{pattern: "POST /jobs/{id}/cancel", action: "cancel", act: (*Server).cancel},

	// sla.go: breach rate and p95 wait per kind over 24 h, 7 d and 30 d
	{pattern: "GET /sla", page: "sla", menu: "SLA", view: (*Server).sla},

	// schedules.go
	{pattern: "GET /schedules", page: "schedules", menu: "Schedules", view: (*Server).schedules},
	{pattern: "POST /schedules/{name}/run", action: "run_schedule", act: (*Server).runSchedule},

	// workers.go
	{pattern: "GET /workers", page: "workers", menu: "Workers", view: (*Server).workers},

	// deploys.go: deploys and DORA
	{pattern: "GET /deploys", page: "deploys", menu: "Deploys", view: (*Server).deploys},
	{pattern: "GET /deploys/{id}", page: "deploy", section: "/deploys", view: (*Server).deploy},

	// audit.go: who did what
	{pattern: "GET /audit", page: "audit", menu: "Audit", view: (*Server).audit},

	// auth.go: the token cookie
	{pattern: "POST /login", handle: (*Server).login},
	{pattern: "POST /logout", handle: (*Server).logout},
}

// path is the route's path without its method.
func (rt route) path() string {
	_, p, _ := strings.Cut(rt.pattern, " ")
	return strings.TrimSuffix(p, "{$}")
}

// navLink is one entry of the navigation bar.
type navLink struct {
	Href, Label string
	On          bool
}

// nav is the navigation bar with the entry of section lit.
func nav(section string) []navLink {
	var out []navLink
	for _, rt := range routes {
		if rt.menu == "" {
			continue
		}
		out = append(out, navLink{Href: rt.path(), Label: rt.menu, On: rt.path() == section})
	}
	return out
}

// sectionOf is the navigation entry a page route lights.
func (rt route) sectionOf() string {
	if rt.section != "" {
		return rt.section
	}
	return rt.path()
}
