package queue

import (
	"context"
	"database/sql"
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
//
// The page is a range scan of one index read downwards from the cursor: the
// primary key, or the (column, id) index of one of the filters state, kind, queue
// and requested_by (see BrowseIndex), forced, since MariaDB would otherwise read a
// common value's whole index range above the cursor first (sql/browse.sql).
func (c *Client) Browse(ctx context.Context, f BrowseFilter) ([]*JobRow, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	before := f.Before
	if before <= 0 {
		before = math.MaxInt64
	}
	index, err := c.browseIndex(ctx, f, before)
	if err != nil {
		return nil, err
	}
	kind, queue, requester := nullString(f.Kind), nullString(f.Queue), nullString(f.RequestedBy)
	from, to, args := nullTime(f.CreatedFrom), nullTime(f.CreatedTo), nullString(f.ArgsValue)
	state := dbsqlc.NullIactqJobsState{IactqJobsState: dbsqlc.IactqJobsState(f.State), Valid: f.State != ""}
	limit := int32(f.Limit)
	q := c.store.q
	var rows []dbsqlc.IactqJob
	switch index {
	case BrowseByState:
		rows, err = q.JobBrowseByState(ctx, dbsqlc.JobBrowseByStateParams{State: state.IactqJobsState, Kind: kind, Queue: queue, RequestedBy: requester,
			CreatedFrom: from, CreatedTo: to, ArgsValue: args, BeforeID: before, Limit: limit})
	case BrowseByKind:
		rows, err = q.JobBrowseByKind(ctx, dbsqlc.JobBrowseByKindParams{State: state, Kind: f.Kind, Queue: queue, RequestedBy: requester,
			CreatedFrom: from, CreatedTo: to, ArgsValue: args, BeforeID: before, Limit: limit})
	case BrowseByQueue:
		rows, err = q.JobBrowseByQueue(ctx, dbsqlc.JobBrowseByQueueParams{State: state, Kind: kind, Queue: f.Queue, RequestedBy: requester,
			CreatedFrom: from, CreatedTo: to, ArgsValue: args, BeforeID: before, Limit: limit})
	case BrowseByRequester:
		rows, err = q.JobBrowseByRequester(ctx, dbsqlc.JobBrowseByRequesterParams{State: state, Kind: kind, Queue: queue, RequestedBy: sql.NullString{String: f.RequestedBy, Valid: true},
			CreatedFrom: from, CreatedTo: to, ArgsValue: args, BeforeID: before, Limit: limit})
	default:
		rows, err = q.JobBrowse(ctx, dbsqlc.JobBrowseParams{State: state, Kind: kind, Queue: queue, RequestedBy: requester,
			CreatedFrom: from, CreatedTo: to, ArgsValue: args, BeforeID: before, Limit: limit})
	}
	if err != nil {
		return nil, fmt.Errorf("browse jobs: %w", err)
	}
	jobs := make([]*JobRow, len(rows))
	for i, r := range rows {
		jobs[i] = jobRowFromDB(r)
	}
	return jobs, nil
}

// The indexes a page of the job browser walks (BrowseIndex).
const (
	BrowseByID        = "PRIMARY"
	BrowseByState     = "iactq_jobs_state_id"
	BrowseByKind      = "iactq_jobs_kind_id"
	BrowseByQueue     = "iactq_jobs_queue_id"
	BrowseByRequester = "iactq_jobs_requested_by_id"
)

// browseProbeMax is what JobBrowseCountBy* count up to.
const browseProbeMax = 1000

// BrowseIndex is the index a page of Browse(f) walks: the primary key without a
// filter on state, kind, queue or requested_by; the filter's index with one; with
// several, the index of the one that matches fewest jobs below the cursor, each
// counted up to 1 000 by an index-only read (on a tie: requested_by, kind, queue,
// state, the order they usually narrow in).
func (c *Client) BrowseIndex(ctx context.Context, f BrowseFilter) (string, error) {
	before := f.Before
	if before <= 0 {
		before = math.MaxInt64
	}
	return c.browseIndex(ctx, f, before)
}

func (c *Client) browseIndex(ctx context.Context, f BrowseFilter, before int64) (string, error) {
	q := c.store.q
	type candidate struct {
		index string
		count func() (int64, error)
	}
	var cs []candidate
	if f.RequestedBy != "" {
		cs = append(cs, candidate{BrowseByRequester, func() (int64, error) {
			return q.JobBrowseCountByRequester(ctx, dbsqlc.JobBrowseCountByRequesterParams{RequestedBy: sql.NullString{String: f.RequestedBy, Valid: true}, BeforeID: before})
		}})
	}
	if f.Kind != "" {
		cs = append(cs, candidate{BrowseByKind, func() (int64, error) {
			return q.JobBrowseCountByKind(ctx, dbsqlc.JobBrowseCountByKindParams{Kind: f.Kind, BeforeID: before})
		}})
	}
	if f.Queue != "" {
		cs = append(cs, candidate{BrowseByQueue, func() (int64, error) {
			return q.JobBrowseCountByQueue(ctx, dbsqlc.JobBrowseCountByQueueParams{Queue: f.Queue, BeforeID: before})
		}})
	}
	if f.State != "" {
		cs = append(cs, candidate{BrowseByState, func() (int64, error) {
			return q.JobBrowseCountByState(ctx, dbsqlc.JobBrowseCountByStateParams{State: dbsqlc.IactqJobsState(f.State), BeforeID: before})
		}})
	}
	switch len(cs) {
	case 0:
		return BrowseByID, nil
	case 1:
		return cs[0].index, nil
	}
	best, fewest := "", int64(browseProbeMax+1)
	for _, cd := range cs {
		n, err := cd.count()
		if err != nil {
			return "", fmt.Errorf("browse jobs: count by %s: %w", cd.index, err)
		}
		if n < fewest {
			best, fewest = cd.index, n
		}
	}
	return best, nil
}
