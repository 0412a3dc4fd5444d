package web_test

import (
	"database/sql"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iact/iactq/queue"
)

// browseQueries are the job browser's queries by the index each walks, as
// queue.Client.BrowseIndex names it, and the file that holds them.
var browseQueries = map[string]struct{ file, name string }{
	queue.BrowseByID:        {"../sql/jobs.sql", "JobBrowse"},
	queue.BrowseByState:     {"../sql/browse.sql", "JobBrowseByState"},
	queue.BrowseByKind:      {"../sql/browse.sql", "JobBrowseByKind"},
	queue.BrowseByQueue:     {"../sql/browse.sql", "JobBrowseByQueue"},
	queue.BrowseByRequester: {"../sql/browse.sql", "JobBrowseByRequester"},
}

// browseQueryText returns the job browser's query that walks index, as sql/ has it,
// with each parameter replaced by the literal of args (NULL when absent).
func browseQueryText(t *testing.T, index string, args map[string]string) string {
	t.Helper()
	src, err := os.ReadFile(browseQueries[index].file)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)-- name: ` + browseQueries[index].name + ` :many\n(.*?);`).FindSubmatch(src)
	if m == nil {
		t.Fatalf("no %s in %s", browseQueries[index].name, browseQueries[index].file)
	}
	q := regexp.MustCompile(`sqlc\.n?arg\((\w+)\)`).ReplaceAllStringFunc(string(m[1]), func(s string) string {
		name := s[strings.Index(s, "(")+1 : len(s)-1]
		if v, ok := args[name]; ok {
			return v
		}
		return "NULL"
	})
	return strings.Replace(q, "LIMIT ?", "LIMIT 50", 1)
}

// TestJobsListPlanOver1MJobs: over 1 000 000 jobs, every page of /jobs — every
// combination of the filters the page has (state, kind, queue, requested_by, from,
// to, a value inside args; common and rare values), first page and half-way down —
// is a range scan of one index in id order with no filesort, never a full scan; and
// a page filtered by state, kind, queue or requester, common values included, reads
// about one page of rows (ANALYZE: executed, with the rows each step read).
func TestJobsListPlanOver1MJobs(t *testing.T) {
	b := setup(t, testToken)
	admin, err := queue.OpenDB(b.d.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// 1 000 000 jobs created one a second up to now: five kinds (1 in 10 000 a rare
	// one), four queues (1 in 5 000 'deploys'), every state (1 in 10 000 running, 1 in
	// 1 000 scheduled, 60 % completed), 1 in 100 requested by someone, 1 in 1 000 with
	// "sales" in its args (MariaDB's sequence engine), in statements of 100 000 rows:
	// short enough for the connection's timeouts while other tests share the server.
	for from := 1; from <= 1_000_000; from += 100_000 {
		b.d.Exec(t, fmt.Sprintf(`INSERT INTO iactq_jobs (kind, queue, state, args, requested_by, created_at, scheduled_at)
		SELECT IF(seq %% 10000 = 0, 'call_flow_analysis', ELT(1 + seq %% 4, 'noop', 'dashboard_metrics', 'session_cleanup', 'health_check')),
		       IF(seq %% 5000 = 1, 'deploys', ELT(1 + seq %% 3, 'default', 'reports', 'maintenance')),
		       IF(seq %% 10000 = 3, 'running', IF(seq %% 1000 = 7, 'scheduled',
		         ELT(1 + seq %% 10, 'completed', 'completed', 'completed', 'completed', 'completed', 'completed', 'available', 'discarded', 'cancelled', 'retryable'))),
		       IF(seq %% 1000 = 11, '{"period":"last 7d","flow_id":"sales"}', '{}'), IF(seq %% 100 = 0, CONCAT('user', seq %% 7), NULL),
		       NOW(6) - INTERVAL (1000000 - seq) SECOND, NOW(6) - INTERVAL (1000000 - seq) SECOND
		FROM seq_%d_to_%d`, from, from+99_999))
	}
	if _, err := admin.Exec(`ANALYZE TABLE iactq_jobs`); err != nil {
		t.Fatal(err)
	}
	var n int
	b.d.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs`).Scan(&n)
	if n != 1_000_000 {
		t.Fatalf("%d jobs", n)
	}
	var now time.Time
	if err := b.d.DB.QueryRow(`SELECT NOW(6)`).Scan(&now); err != nil {
		t.Fatal(err)
	}

	// page is one page as the browser asks for it: which index it walks, and the
	// query's text with the filter's values.
	page := func(f queue.BrowseFilter) (string, map[string]string) {
		t.Helper()
		index, err := b.c.BrowseIndex(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		lit := func(s string) string { return "'" + s + "'" }
		args := map[string]string{"before_id": "9223372036854775807"}
		if f.Before > 0 {
			args["before_id"] = fmt.Sprint(f.Before)
		}
		for name, v := range map[string]string{"state": string(f.State), "kind": f.Kind, "queue": f.Queue, "requested_by": f.RequestedBy, "args_value": f.ArgsValue} {
			if v != "" {
				args[name] = lit(v)
			}
		}
		if !f.CreatedFrom.IsZero() {
			args["created_from"] = lit(f.CreatedFrom.UTC().Format("2006-01-02 15:04:05.999999"))
		}
		if !f.CreatedTo.IsZero() {
			args["created_to"] = lit(f.CreatedTo.UTC().Format("2006-01-02 15:04:05.999999"))
		}
		return index, args
	}
	check := func(name, index string, p plan) {
		t.Helper()
		if p.typ != "range" || p.key != index || strings.Contains(p.extra, "filesort") {
			t.Errorf("%s: type %s key %s key_len %s extra %q; want a range of %s in id order, no filesort\n%s", name, p.typ, p.key, p.keyLen, p.extra, index, p.text)
		}
	}

	// Every combination, EXPLAINed.
	states, kinds, queues := []queue.State{"", "running", "completed"}, []string{"", "call_flow_analysis", "noop"}, []string{"", "deploys", "default"}
	combos, byIndex := 0, map[string]int{}
	for _, st := range states {
		for _, kind := range kinds {
			for _, q := range queues {
				for mask := range 16 {
					for _, before := range []int64{0, 500_000} {
						f := queue.BrowseFilter{State: st, Kind: kind, Queue: q, Before: before}
						if mask&1 != 0 {
							f.RequestedBy = "user3"
						}
						if mask&2 != 0 {
							f.CreatedFrom = now.Add(-8 * 24 * time.Hour)
						}
						if mask&4 != 0 {
							f.CreatedTo = now.Add(-4 * 24 * time.Hour)
						}
						if mask&8 != 0 {
							f.ArgsValue = "sales"
						}
						index, args := page(f)
						check(fmt.Sprintf("%+v", f), index, explain(t, b.d.DB, "EXPLAIN "+browseQueryText(t, index, args)))
						combos++
						byIndex[index]++
					}
				}
			}
		}
	}
	t.Logf("%d filter combinations EXPLAINed, each a range of one index in id order: %v", combos, byIndex)

	// Pages filtered by one indexed column, common and rare values, read one page.
	for _, c := range []struct {
		name    string
		f       queue.BrowseFilter
		maxRead float64
	}{
		{"newest page", queue.BrowseFilter{}, 50},
		{"a page half-way down", queue.BrowseFilter{Before: 500_000}, 50},
		{"state = completed (60 %), half-way down", queue.BrowseFilter{State: "completed", Before: 500_000}, 50},
		{"state = running (100 jobs)", queue.BrowseFilter{State: "running"}, 50},
		{"state = scheduled (1 000 jobs), half-way down", queue.BrowseFilter{State: "scheduled", Before: 500_000}, 50},
		{"kind = noop (25 %), half-way down", queue.BrowseFilter{Kind: "noop", Before: 500_000}, 50},
		{"kind = call_flow_analysis (100 jobs)", queue.BrowseFilter{Kind: "call_flow_analysis", Before: 900_000}, 50},
		{"queue = default (33 %), half-way down", queue.BrowseFilter{Queue: "default", Before: 500_000}, 50},
		{"queue = deploys (200 jobs)", queue.BrowseFilter{Queue: "deploys"}, 50},
		{"requested_by = user3", queue.BrowseFilter{RequestedBy: "user3", Before: 500_000}, 50},
		// Two filters: the one that matches fewer is walked.
		{"state = completed, kind = call_flow_analysis", queue.BrowseFilter{State: "completed", Kind: "call_flow_analysis"}, 100},
		{"state = running, kind = health_check (25 %)", queue.BrowseFilter{State: "running", Kind: "health_check"}, 100},
		{"state = completed, queue = default, half-way down", queue.BrowseFilter{State: "completed", Queue: "default", Before: 500_000}, 200},
	} {
		index, args := page(c.f)
		p := explain(t, b.d.DB, "ANALYZE "+browseQueryText(t, index, args))
		t.Logf("%s: index %s\n%s", c.name, index, p.text)
		check(c.name, index, p)
		if p.rRows > c.maxRead {
			t.Errorf("%s: read %v rows, want at most %v", c.name, p.rRows, c.maxRead)
		}
		// The page Browse returns is the one the unforced query finds.
		jobs, err := b.c.Browse(t.Context(), c.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, j := range jobs {
			got = append(got, j.ID)
		}
		if want := ids(t, b.d.DB, browseQueryText(t, queue.BrowseByID, args)); len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: Browse returned %v, the query without a forced index %v", c.name, got, want)
		}
	}
	_, args := page(queue.BrowseFilter{State: "completed", Before: 500_000})
	t.Logf("query of a page of state = completed half-way down (sql/browse.sql, literals for the parameters):\n%s", browseQueryText(t, queue.BrowseByState, args))
}

// ids runs a query of jobs and returns their ids.
func ids(t *testing.T, db *sql.DB, query string) []int64 {
	t.Helper()
	r, err := db.Query(strings.Replace(query, "SELECT *", "SELECT id", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []int64
	for r.Next() {
		var id int64
		if err := r.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

type plan struct {
	typ, key, keyLen, extra, text string
	rRows                         float64
}

// explain runs an ANALYZE or EXPLAIN and returns its (single table) row.
func explain(t *testing.T, db *sql.DB, query string) plan {
	t.Helper()
	r, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols, _ := r.Columns()
	var p plan
	var lines []string
	for r.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for i, c := range cols {
			v := vals[i].String
			parts = append(parts, fmt.Sprintf("%s=%s", c, v))
			switch c {
			case "type":
				p.typ = v
			case "key":
				p.key = v
			case "key_len":
				p.keyLen = v
			case "Extra":
				p.extra = v
			case "r_rows":
				fmt.Sscan(v, &p.rRows)
			}
		}
		lines = append(lines, strings.Join(parts, " | "))
	}
	p.text = strings.Join(lines, "\n")
	return p
}
