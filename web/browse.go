package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iact/iactq/queue"
)

// ---- the job browser: filters, search, keyset pages, bulk retry and cancel ----

// browsePage is how many jobs one page of /jobs shows.
const browsePage = 50

// bulkMax bounds one bulk action: the newest bulkMax jobs of the filtered set.
const bulkMax = 1000

var allStates = []queue.State{queue.StateAvailable, queue.StateScheduled, queue.StateRunning, queue.StateRetryable, queue.StateCompleted, queue.StateDiscarded, queue.StateCancelled}

var filterWord = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]{0,99}$`)

// browseQuery is the filter as the page's form and links carry it.
type browseQuery struct {
	State, Kind, Queue, RequestedBy, From, To, Q string
}

// values is the query string of the filter (for links and the bulk forms).
func (b browseQuery) values() url.Values {
	v := url.Values{}
	for k, x := range map[string]string{"state": b.State, "kind": b.Kind, "queue": b.Queue, "requested_by": b.RequestedBy, "from": b.From, "to": b.To, "q": b.Q} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v
}

// parseBrowse reads and checks the filter from a request's query or form.
func parseBrowse(r *http.Request) (browseQuery, queue.BrowseFilter, error) {
	b := browseQuery{State: r.FormValue("state"), Kind: r.FormValue("kind"), Queue: r.FormValue("queue"),
		RequestedBy: r.FormValue("requested_by"), From: r.FormValue("from"), To: r.FormValue("to"), Q: strings.TrimSpace(r.FormValue("q"))}
	f := queue.BrowseFilter{Kind: b.Kind, Queue: b.Queue, RequestedBy: b.RequestedBy, Limit: browsePage}
	bad := func(format string, a ...any) (browseQuery, queue.BrowseFilter, error) {
		return b, f, fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, a...))
	}
	if b.State != "" {
		if !slices.Contains(allStates, queue.State(b.State)) {
			return bad("state: one of %v", allStates)
		}
		f.State = queue.State(b.State)
	}
	for name, v := range map[string]string{"kind": b.Kind, "queue": b.Queue, "requested_by": b.RequestedBy} {
		if v != "" && !filterWord.MatchString(v) {
			return bad("%s: up to 100 letters, digits and . _ @ : -", name)
		}
	}
	var err error
	if f.CreatedFrom, err = parseWhen(b.From); err != nil {
		return bad("from: %v", err)
	}
	if f.CreatedTo, err = parseWhen(b.To); err != nil {
		return bad("to: %v", err)
	}
	if !f.CreatedFrom.IsZero() && !f.CreatedTo.IsZero() && !f.CreatedFrom.Before(f.CreatedTo) {
		return bad("the time range ends before it starts")
	}
	if len(b.Q) > 200 {
		return bad("search: at most 200 characters")
	}
	if b.Q != "" {
		if _, err := strconv.ParseInt(b.Q, 10, 64); err != nil {
			f.ArgsValue = b.Q
		}
	}
	if before := r.FormValue("before"); before != "" {
		if f.Before, err = strconv.ParseInt(before, 10, 64); err != nil || f.Before <= 0 {
			return bad("before: a job id")
		}
	}
	return b, f, nil
}

// parseWhen reads a time of the filter, UTC: "2026-11-01", "2026-11-01T09:30" (as an
// <input type="datetime-local"> sends it) or RFC 3339.
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.DateOnly, "2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("use a date 2026-11-01, 2026-11-01T09:30 (UTC) or RFC 3339")
}

type browseData struct {
	Query  browseQuery
	Jobs   []*queue.JobRow
	States []queue.State
	Next   string // the next page's URL; "" on the last
	Hidden url.Values
	ByID   bool
}

func (s *Server) browse(ctx context.Context, r *http.Request) (string, any, error) {
	b, f, err := parseBrowse(r)
	if err != nil {
		return "", nil, err
	}
	d := browseData{Query: b, States: allStates, Hidden: b.values()}
	if id, err := strconv.ParseInt(b.Q, 10, 64); b.Q != "" && err == nil {
		d.ByID = true
		j, err := s.o.Client.GetJob(ctx, id)
		if err == nil {
			d.Jobs = []*queue.JobRow{j}
		} else if !errors.Is(err, queue.ErrNotFound) {
			return "", nil, err
		}
		return "Jobs", d, nil
	}
	if d.Jobs, err = s.o.Client.Browse(ctx, f); err != nil {
		return "", nil, err
	}
	if len(d.Jobs) == browsePage {
		v := b.values()
		v.Set("before", strconv.FormatInt(d.Jobs[len(d.Jobs)-1].ID, 10))
		d.Next = "/jobs?" + v.Encode()
	}
	return "Jobs", d, nil
}

// bulk retries or cancels the filtered set (its newest bulkMax jobs), one job at a
// time as the single actions do; jobs in a state the action does not apply to are
// counted and left alone.
func bulk(op string) func(s *Server, ctx context.Context, r *http.Request) (string, string, error) {
	return func(s *Server, ctx context.Context, r *http.Request) (string, string, error) {
		b, f, err := parseBrowse(r)
		target := b.values().Encode()
		if target == "" {
			target = "all jobs"
		}
		if err != nil {
			return target, "", err
		}
		if r.PostFormValue("confirm") != "yes" {
			return target, "", fmt.Errorf("%w: tick the box to confirm a bulk %s", errBadRequest, op)
		}
		var ids []int64
		if id, err := strconv.ParseInt(b.Q, 10, 64); b.Q != "" && err == nil {
			ids = []int64{id}
		} else {
			f.Before, f.Limit = 0, 200
			for len(ids) < bulkMax {
				page, err := s.o.Client.Browse(ctx, f)
				if err != nil {
					return target, "", err
				}
				for _, j := range page {
					ids = append(ids, j.ID)
				}
				if len(page) < f.Limit {
					break
				}
				f.Before = page[len(page)-1].ID
			}
			ids = ids[:min(len(ids), bulkMax)]
		}
		done, skipped := 0, 0
		for _, id := range ids {
			if op == "retry" {
				_, err = s.o.Client.RetryJob(ctx, id)
			} else {
				_, err = s.o.Client.CancelJob(ctx, id)
			}
			switch {
			case err == nil:
				done++
			case errors.Is(err, queue.ErrConflict) || errors.Is(err, queue.ErrNotFound):
				skipped++
			default:
				return target, "", fmt.Errorf("bulk %s stopped after %d jobs: %w", op, done, err)
			}
		}
		verb := map[string]string{"retry": "retried", "cancel": "cancelled"}[op]
		return target, fmt.Sprintf("%s %d of %d matching jobs (%d were not in a state to be %s)", verb, done, len(ids), skipped, verb), nil
	}
}
