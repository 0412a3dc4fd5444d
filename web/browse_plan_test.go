package web_test

import (
	"database/sql"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/iact/iactq/queue"
)

// browseQuery returns the job browser's query as sql/jobs.sql has it (JobBrowse),
// with each parameter replaced by the literal of args (NULL when absent).
func browseQueryText(t *testing.T, args map[string]string) string {
	t.Helper()
	src, err := os.ReadFile("../sql/jobs.sql")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)-- name: JobBrowse :many\n(.*?);`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no JobBrowse in sql/jobs.sql")
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

// TestJobsListPlanOver1MJobs: over 1 000 000 jobs, a page of /jobs is an index range
// scan in id order that reads about one page of rows, with no filesort: unfiltered
// from a cursor half-way down, filtered by a rare kind, by a requester, and by state.
// The plans are ANALYZE's (executed, with the rows each step read).
func TestJobsListPlanOver1MJobs(t *testing.T) {
	b := setup(t, testToken)
	admin, err := queue.OpenDB(b.d.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// 1 000 000 finished and waiting jobs of five kinds, 1 in 10 000 a rare kind, 1 in
	// 100 requested by someone (MariaDB's sequence engine), in statements of 100 000
	// rows: short enough for the connection's timeouts while other tests share the server.
	for from := 1; from <= 1_000_000; from += 100_000 {
		b.d.Exec(t, fmt.Sprintf(`INSERT INTO iactq_jobs (kind, queue, state, args, requested_by, created_at, scheduled_at)
		SELECT IF(seq %% 10000 = 0, 'call_flow_analysis', ELT(1 + seq %% 4, 'noop', 'dashboard_metrics', 'session_cleanup', 'health_check')),
		       ELT(1 + seq %% 3, 'default', 'reports', 'maintenance'),
		       ELT(1 + seq %% 10, 'completed', 'completed', 'completed', 'completed', 'completed', 'completed', 'available', 'discarded', 'cancelled', 'retryable'),
		       '{}', IF(seq %% 100 = 0, CONCAT('user', seq %% 7), NULL),
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
	for _, c := range []struct {
		name    string
		args    map[string]string
		key     string
		maxRead float64
	}{
		{"newest page", map[string]string{"before_id": "9223372036854775807"}, "PRIMARY", 50},
		{"a page half-way down", map[string]string{"before_id": "500000"}, "PRIMARY", 50},
		{"kind = call_flow_analysis (100 jobs)", map[string]string{"kind": "'call_flow_analysis'", "before_id": "900000"}, "iactq_jobs_kind_id", 50},
		{"requested_by = user3", map[string]string{"requested_by": "'user3'", "before_id": "500000"}, "iactq_jobs_requested_by_id", 50},
		{"state = discarded (1 in 10)", map[string]string{"state": "'discarded'", "before_id": "500000"}, "PRIMARY", 500},
	} {
		q := browseQueryText(t, c.args)
		plan := explain(t, b.d.DB, "ANALYZE "+q)
		t.Logf("%s:\n%s", c.name, plan.text)
		if plan.key != c.key || plan.typ != "range" || strings.Contains(plan.extra, "filesort") || plan.rRows > c.maxRead {
			t.Errorf("%s: type %s key %s extra %q read %v rows; want a range of %s, no filesort, at most %v rows", c.name, plan.typ, plan.key, plan.extra, plan.rRows, c.key, c.maxRead)
		}
	}
	t.Logf("query (as in sql/jobs.sql, literals for the parameters):\n%s", browseQueryText(t, map[string]string{"kind": "'call_flow_analysis'", "before_id": "900000"}))
}

type plan struct {
	typ, key, extra, text string
	rRows                 float64
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
