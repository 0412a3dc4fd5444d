package queue

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// BrowseFilter selects a page of jobs for the dashboard's job browser. Empty fields
// match everything.
type BrowseFilter struct {
	State       State
	Kind        string
	Queue       string
	RequestedBy string
	// CreatedFrom and CreatedTo bound created_at: [from, to).
	CreatedFrom, CreatedTo time.Time
	// ArgsValue matches jobs with this string value somewhere inside their args (JSON
	// string values; % and _ are wildcards).
	ArgsValue string
	// Before is the keyset cursor: only jobs with a smaller id. 0: from the newest.
	Before int64
	Limit  int // default 50
}

// Browse lists one page of jobs, newest first: the jobs matching f with an id below
// f.Before. The next page is the one before the last id returned.
func (c *Client) Browse(ctx context.Context, f BrowseFilter) ([]*JobRow, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	before := f.Before
	if before <= 0 {
		before = math.MaxInt64
	}
	p := dbsqlc.JobBrowseParams{
		Kind: nullString(f.Kind), Queue: nullString(f.Queue), RequestedBy: nullString(f.RequestedBy),
		CreatedFrom: nullTime(f.CreatedFrom), CreatedTo: nullTime(f.CreatedTo), ArgsValue: nullString(f.ArgsValue),
		BeforeID: before, Limit: int32(f.Limit),
	}
	if f.State != "" {
		p.State = dbsqlc.NullIactqJobsState{IactqJobsState: dbsqlc.IactqJobsState(f.State), Valid: true}
	}
	rows, err := c.store.q.JobBrowse(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("browse jobs: %w", err)
	}
	jobs := make([]*JobRow, len(rows))
	for i, r := range rows {
		jobs[i] = jobRowFromDB(r)
	}
	return jobs, nil
}
