package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iact/iactq/queue"
)

// TestClaimQueriesStayIndexScans checks the plans of the claim's queries (their text
// as in sql/jobs.sql) on a backlog: the heads query is a loose index scan reading one
// entry per kind, a class range (from its start or from a cursor) reads LIMIT rows in
// index order, no filesort (the pause check a primary-key lookup beside it), and
// promotion reads the due jobs only.
func TestClaimQueriesStayIndexScans(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	ctx := context.Background()
	now := time.Now()
	ps := make([]queue.InsertParams, 20000)
	for i := range ps {
		ps[i] = queue.InsertParams{Kind: "test", Args: json.RawMessage(`{}`), ScheduledAt: now.Add(-time.Duration(i) * time.Second)}
	}
	// Past times: insert as due now, then age them with SQL.
	if _, err := b.client.InsertMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	b.db.Exec(t, `UPDATE iactq_jobs SET scheduled_at = scheduled_at - INTERVAL (id % 36000) SECOND`)
	b.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('other'), ('third')`)
	// InnoDB refreshes statistics by itself after large changes, in the background;
	// here they are refreshed at once so the plan does not depend on timing.
	admin, err := queue.OpenDB(b.db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`ANALYZE TABLE iactq_jobs`); err != nil {
		t.Fatal(err)
	}

	rows := analyze(t, b, `ANALYZE SELECT kind, CAST(MIN(scheduled_at) AS DATETIME(6)) AS oldest
		FROM iactq_jobs FORCE INDEX (iactq_jobs_claim)
		WHERE state = 'available' AND queue = 'default' GROUP BY state, queue, kind`)
	if !strings.Contains(rows.extra, "Using index for group-by") || rows.rRows > 10 {
		t.Errorf("heads query: extra %q, read %v rows; want a loose index scan reading ~3", rows.extra, rows.rRows)
	}
	rows = analyze(t, b, `ANALYZE SELECT * FROM iactq_jobs
		WHERE state = 'available' AND queue = 'default' AND kind = 'test'
		  AND (NULL IS NULL OR scheduled_at >= NULL) AND scheduled_at < NOW(6) - INTERVAL 1 HOUR
		  AND NOT EXISTS (SELECT 1 FROM iactq_queues p WHERE p.name = 'default' AND p.paused_at IS NOT NULL)
		ORDER BY scheduled_at, id LIMIT 100 FOR UPDATE SKIP LOCKED`)
	if strings.Contains(rows.extra, "filesort") || rows.key != "iactq_jobs_claim" || rows.rRows > 100 {
		t.Errorf("class range: key %q extra %q read %v rows; want iactq_jobs_claim, no filesort, 100 rows", rows.key, rows.extra, rows.rRows)
	}
	// Promotion reads the due scheduled and retryable jobs only, whatever the number
	// of available ones (their available_at is NULL: outside the range).
	b.db.Exec(t, `INSERT INTO iactq_jobs (kind, state, available_at) VALUES ('test', 'scheduled', NOW(6) - INTERVAL 1 MINUTE),
		('test', 'retryable', NOW(6) - INTERVAL 1 SECOND), ('test', 'scheduled', NOW(6) + INTERVAL 1 HOUR)`)
	rows = analyze(t, b, `ANALYZE SELECT id FROM iactq_jobs
		WHERE available_at <= NOW(6) AND state IN ('scheduled', 'retryable')
		ORDER BY available_at, id LIMIT 100 FOR UPDATE SKIP LOCKED`)
	if strings.Contains(rows.extra, "filesort") || rows.key != "iactq_jobs_available_at" || rows.rRows != 2 {
		t.Errorf("due jobs: key %q extra %q read %v rows; want iactq_jobs_available_at, no filesort, 2 rows", rows.key, rows.extra, rows.rRows)
	}
	// The same range read on from a claimer's cursor (the 10 000th job in claim order).
	var afterAt time.Time
	var afterID int64
	if err := b.db.DB.QueryRow(`SELECT scheduled_at, id FROM iactq_jobs WHERE state = 'available' AND kind = 'test'
		ORDER BY scheduled_at, id LIMIT 1 OFFSET 10000`).Scan(&afterAt, &afterID); err != nil {
		t.Fatal(err)
	}
	at := afterAt.UTC().Format("2006-01-02 15:04:05.000000")
	rows = analyze(t, b, `ANALYZE SELECT * FROM iactq_jobs
		WHERE state = 'available' AND queue = 'default' AND kind = 'test'
		  AND (NULL IS NULL OR scheduled_at >= NULL) AND scheduled_at < NOW(6) - INTERVAL 1 HOUR
		  AND ('`+at+`' IS NULL OR scheduled_at > '`+at+`' OR (scheduled_at = '`+at+`' AND id > `+fmt.Sprint(afterID)+`))
		  AND NOT EXISTS (SELECT 1 FROM iactq_queues p WHERE p.name = 'default' AND p.paused_at IS NOT NULL)
		ORDER BY scheduled_at, id LIMIT 100 FOR UPDATE SKIP LOCKED`)
	if strings.Contains(rows.extra, "filesort") || rows.key != "iactq_jobs_claim" || rows.rRows > 100 {
		t.Errorf("class range after a cursor: key %q extra %q read %v rows; want iactq_jobs_claim, no filesort, 100 rows", rows.key, rows.extra, rows.rRows)
	}
}

type planRow struct {
	key, extra string
	rRows      float64
}

func analyze(t *testing.T, b *bundle, query string) planRow {
	t.Helper()
	tx, err := b.db.DB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	r, err := tx.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols, _ := r.Columns()
	if !r.Next() {
		t.Fatal("no plan")
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := r.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	var p planRow
	for i, c := range cols {
		s := ""
		if v, ok := vals[i].([]byte); ok {
			s = string(v)
		}
		switch c {
		case "key":
			// "a|b" when a rowid filter built from index b narrows the range of a.
			p.key, _, _ = strings.Cut(s, "|")
		case "Extra":
			p.extra = s
		case "r_rows":
			// "2.00", or "2.00 (100%)" with a rowid filter.
			num, _, _ := strings.Cut(s, " ")
			_ = json.Unmarshal([]byte(num), &p.rRows)
		}
	}
	return p
}
