package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/iact/iactq/queue"
)

// tokenCookie holds the token in the browser after the operator unlocks the actions.
const tokenCookie = "iactq_token"

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

// authorized tells whether the request carries the operator's token: every action.
func (s *Server) authorized(r *http.Request) bool {
	return tokenIs(presentedToken(r), s.o.Token)
}

// analyst tells whether the request may do what analysts do (request a report, mark
// their messages read): the analyst token, or the operator's.
func (s *Server) analyst(r *http.Request) bool {
	t := presentedToken(r)
	return tokenIs(t, s.o.AnalystToken) || tokenIs(t, s.o.Token)
}

// tokenIs compares a presented token with a configured one in constant time; an
// unconfigured (empty) token matches nothing.
func tokenIs(presented, configured string) bool {
	return configured != "" && presented != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(configured)) == 1
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	back := backPath(r)
	if !s.analyst(r) {
		s.record(r, "login", "dashboard", false, "wrong or missing token")
		http.Redirect(w, r, withFlash(back, "wrong token: actions stay locked", true), http.StatusSeeOther)
		return
	}
	who, done := "operator", "actions unlocked"
	if !s.authorized(r) {
		who, done = "analyst", "unlocked for analysts: request reports, mark messages read"
	}
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: presentedToken(r), Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 12 * 3600})
	s.record(r, "login", "dashboard", true, who)
	http.Redirect(w, r, withFlash(back, done, false), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, withFlash(backPath(r), "actions locked", false), http.StatusSeeOther)
}

// action wraps a state-changing handler: it refuses without the token (403) — the
// operator's, or for analysts' actions either token — and
// records every attempt, allowed or not, in the log and in iactq_audit.
func (s *Server) action(name string, forAnalysts bool, fn func(ctx context.Context, r *http.Request) (target, done string, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		target := r.PathValue("id") + r.PathValue("name")
		allowed, configured := s.authorized(r), s.o.Token != ""
		if forAnalysts {
			allowed, configured = s.analyst(r), configured || s.o.AnalystToken != ""
		}
		if !allowed {
			why := "missing or wrong token"
			if !configured {
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
