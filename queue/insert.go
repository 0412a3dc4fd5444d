package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iact/iactq/internal/dberr"
	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// InsertParams describe a job to enqueue.
type InsertParams struct {
	Kind string
	// Args is the job's arguments: an Args value (marshalled to JSON), or raw JSON as
	// json.RawMessage or []byte. Nil means {}.
	Args         any
	Queue        string    // default "default"
	ScheduledAt  time.Time // not before; zero means now
	UniqueKey    string    // while a live job has this key, no second one is created
	MaxAttempts  int       // default 25
	RequestedBy  string    // who is told of the outcome
	scheduleName string
}

// InsertResult is the outcome of an insert.
type InsertResult struct {
	ID int64
	// Duplicate is true when a live job with the same unique key already existed; ID
	// is then that job's.
	Duplicate bool
}

// minTime and maxTimestamp are the first and last instants a TIMESTAMP column holds.
var (
	minTime      = time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC)
	maxTimestamp = time.Date(2038, 1, 19, 3, 14, 7, 0, time.UTC)
)

// insertRow is a validated job, ready for the database.
type insertRow = dbsqlc.JobInsertParams

// prepare validates p and turns it into a row. Nothing is written when it fails.
func (c *Client) prepare(p InsertParams) (insertRow, error) {
	var raw json.RawMessage
	switch a := p.Args.(type) {
	case nil:
		raw = json.RawMessage(`{}`)
	case json.RawMessage:
		raw = a
	case []byte:
		raw = a
	default:
		if args, ok := a.(Args); ok && p.Kind == "" {
			p.Kind = args.Kind()
		}
		b, err := json.Marshal(a)
		if err != nil {
			return insertRow{}, invalidf("args: %v", err)
		}
		raw = b
	}
	if len(raw) == 0 {
		raw = json.RawMessage(`{}`)
	}
	if p.Queue == "" {
		p.Queue = "default"
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 25
	}
	switch {
	case len(raw) > c.cfg.MaxArgsBytes:
		return insertRow{}, invalidf("args are %d bytes, over the limit of %d", len(raw), c.cfg.MaxArgsBytes)
	case !utf8.Valid(raw):
		return insertRow{}, invalidf("args are not valid UTF-8")
	case !json.Valid(raw):
		return insertRow{}, invalidf("args are not valid JSON: %s", abbreviate(string(raw), 60))
	case p.MaxAttempts < 1 || p.MaxAttempts > 1000:
		return insertRow{}, invalidf("max attempts %d is out of range 1..1000", p.MaxAttempts)
	case len(p.UniqueKey) > 255 || !utf8.ValidString(p.UniqueKey):
		return insertRow{}, invalidf("unique key must be valid UTF-8 of at most 255 bytes")
	case len(p.RequestedBy) > 255 || !utf8.ValidString(p.RequestedBy):
		return insertRow{}, invalidf("requested-by must be valid UTF-8 of at most 255 bytes")
	case !p.ScheduledAt.IsZero() && (p.ScheduledAt.Before(minTime) || p.ScheduledAt.After(maxTimestamp)):
		return insertRow{}, invalidf("scheduled time %s is out of range (%s to %s)", p.ScheduledAt.Format(time.RFC3339), minTime.Format(time.RFC3339), maxTimestamp.Format(time.RFC3339))
	}
	if err := validName("queue", p.Queue); err != nil {
		return insertRow{}, err
	}
	if err := c.registry.Validate(p.Kind, raw); err != nil {
		return insertRow{}, err
	}
	now := c.cfg.Now().UTC()
	row := insertRow{
		Kind:         p.Kind,
		Queue:        p.Queue,
		Args:         raw,
		State:        dbsqlc.IactqJobsStateAvailable,
		MaxAttempts:  int32(p.MaxAttempts),
		ScheduledAt:  now,
		UniqueKey:    nullString(p.UniqueKey),
		RequestedBy:  nullString(p.RequestedBy),
		ScheduleName: nullString(p.scheduleName),
	}
	if at := p.ScheduledAt.UTC(); !p.ScheduledAt.IsZero() && at.After(now) {
		row.State = dbsqlc.IactqJobsStateScheduled
		row.ScheduledAt = at
		row.AvailableAt = nullTime(at)
	}
	return row, nil
}

// ValidateInsert checks ps as InsertMany would, writing nothing.
func (c *Client) ValidateInsert(ps ...InsertParams) error {
	_, err := c.prepareAll(ps)
	return err
}

// Insert enqueues one job and returns its id.
func (c *Client) Insert(ctx context.Context, p InsertParams) (InsertResult, error) {
	if p.UniqueKey == "" {
		// One statement, autocommitted: no transaction round trips.
		row, err := c.prepare(p)
		if err != nil {
			return InsertResult{}, err
		}
		var id int64
		err = dberr.Retry(ctx, dberr.ConflictPolicy, func(ctx context.Context) error {
			var err error
			id, err = c.store.q.JobInsert(ctx, row)
			return err
		})
		if err != nil {
			return InsertResult{}, refusedArgs(fmt.Errorf("insert job: %w", err))
		}
		return InsertResult{ID: id}, nil
	}
	res, err := c.InsertMany(ctx, []InsertParams{p})
	if err != nil {
		return InsertResult{}, err
	}
	return res[0], nil
}

// InsertTx enqueues one job inside the caller's transaction, so the job exists if and
// only if the caller's own writes commit.
func (c *Client) InsertTx(ctx context.Context, tx *sql.Tx, p InsertParams) (InsertResult, error) {
	res, err := c.InsertManyTx(ctx, tx, []InsertParams{p})
	if err != nil {
		return InsertResult{}, err
	}
	return res[0], nil
}

// InsertMany enqueues jobs in one transaction: all or none. Jobs without a unique key
// go in multi-row INSERT statements. Deadlocks and lock-wait timeouts are retried
// for 10 minutes (dberr.ConflictPolicy): contention never reaches the caller.
func (c *Client) InsertMany(ctx context.Context, ps []InsertParams) ([]InsertResult, error) {
	rows, err := c.prepareAll(ps)
	if err != nil {
		return nil, err
	}
	var res []InsertResult
	err = dberr.Retry(ctx, dberr.ConflictPolicy, func(ctx context.Context) error {
		return c.store.inTxOnce(ctx, nil, func(tx dbTx) error {
			var err error
			res, err = insertRows(ctx, tx, rows)
			return refusedArgs(err)
		})
	})
	return res, err
}

// InsertManyTx is InsertMany inside the caller's transaction.
func (c *Client) InsertManyTx(ctx context.Context, tx *sql.Tx, ps []InsertParams) ([]InsertResult, error) {
	rows, err := c.prepareAll(ps)
	if err != nil {
		return nil, err
	}
	return insertRows(ctx, dbTx{Queries: c.store.q.WithTx(tx), conn: tx}, rows)
}

func (c *Client) prepareAll(ps []InsertParams) ([]insertRow, error) {
	rows := make([]insertRow, len(ps))
	for i, p := range ps {
		row, err := c.prepare(p)
		if err != nil {
			if len(ps) > 1 {
				var ve *ValidationError
				if errors.As(err, &ve) {
					return nil, &ValidationError{Msg: fmt.Sprintf("job %d: %s", i+1, ve.Msg)}
				}
				return nil, fmt.Errorf("job %d: %w", i+1, err)
			}
			return nil, err
		}
		rows[i] = row
	}
	return rows, nil
}

// maxRowsPerInsert keeps a multi-row INSERT well under the 65 535 placeholder limit.
const maxRowsPerInsert = 1000

// insertRows writes rows with q (which must be in a transaction when len(rows) > 1)
// and returns their ids in order.
func insertRows(ctx context.Context, q dbTx, rows []insertRow) ([]InsertResult, error) {
	res := make([]InsertResult, len(rows))
	var plain []int // indexes of rows without a unique key
	for i, row := range rows {
		if !row.UniqueKey.Valid {
			plain = append(plain, i)
			continue
		}
		r, err := insertUnique(ctx, q, row)
		if err != nil {
			return nil, err
		}
		res[i] = r
	}
	if len(plain) == 1 {
		id, err := q.JobInsert(ctx, rows[plain[0]])
		if err != nil {
			return nil, fmt.Errorf("insert job: %w", err)
		}
		res[plain[0]] = InsertResult{ID: id}
		return res, nil
	}
	if len(plain) == 0 {
		return res, nil
	}
	// Auto-increment ids of one multi-row INSERT are consecutive (allocated at once,
	// in every innodb_autoinc_lock_mode), stepping by auto_increment_increment (Galera
	// sets it to the node count).
	step, err := q.SessionAutoIncrementIncrement(ctx)
	if err != nil {
		return nil, fmt.Errorf("read auto_increment_increment: %w", err)
	}
	for start := 0; start < len(plain); start += maxRowsPerInsert {
		chunk := plain[start:min(start+maxRowsPerInsert, len(plain))]
		batch := make([]insertRow, len(chunk))
		for k, i := range chunk {
			batch[k] = rows[i]
		}
		first, err := insertMulti(ctx, q, batch)
		if err != nil {
			return nil, err
		}
		for k, i := range chunk {
			res[i] = InsertResult{ID: first + int64(k)*step}
		}
	}
	return res, nil
}

// insertUnique inserts a job with a unique key, or finds the live job holding it.
func insertUnique(ctx context.Context, q dbTx, row insertRow) (InsertResult, error) {
	for try := 0; try < 3; try++ {
		id, err := q.JobInsert(ctx, row)
		if err == nil {
			return InsertResult{ID: id}, nil
		}
		if !dberr.IsDuplicate(err) {
			return InsertResult{}, fmt.Errorf("insert job: %w", err)
		}
		id, err = q.JobGetLiveByUniqueKey(ctx, row.UniqueKey)
		if err == nil {
			return InsertResult{ID: id, Duplicate: true}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return InsertResult{}, fmt.Errorf("find job with unique key: %w", err)
		}
		// The holder finished in between: try again.
	}
	return InsertResult{}, fmt.Errorf("insert job: unique key %q keeps changing hands", row.UniqueKey.String)
}

// insertMulti writes rows in one INSERT and returns the first id. It is the one
// statement sqlc cannot express (a VALUES list of variable length); it repeats the
// column list of the generated JobInsert.
func insertMulti(ctx context.Context, q dbTx, rows []insertRow) (int64, error) {
	const cols = "(kind, queue, args, state, max_attempts, scheduled_at, available_at, unique_key, requested_by, schedule_name)"
	var b strings.Builder
	b.WriteString("INSERT INTO iactq_jobs " + cols + " VALUES ")
	args := make([]any, 0, len(rows)*10)
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?)")
		args = append(args, r.Kind, r.Queue, r.Args, r.State, r.MaxAttempts, r.ScheduledAt, r.AvailableAt, r.UniqueKey, r.RequestedBy, r.ScheduleName)
	}
	res, err := q.conn.ExecContext(ctx, b.String(), args...)
	if err != nil {
		return 0, fmt.Errorf("insert %d jobs: %w", len(rows), err)
	}
	return res.LastInsertId()
}

// refusedArgs turns the server's refusal of args that Go's JSON accepts (MariaDB's
// JSON_VALID: nesting deeper than 32, a lone UTF-16 surrogate escape) into a
// ValidationError, so that it is reported as bad input (exit 2), not a failure.
func refusedArgs(err error) error {
	switch dberr.Number(err) {
	case dberr.ConstraintFailed, dberr.InvalidJSONText: // MariaDB's JSON check, MySQL's
		return &ValidationError{Msg: fmt.Sprintf("args refused by the database as invalid JSON (nested deeper than 32 levels, or a lone \\uD800-\\uDFFF escape): %v", err)}
	}
	return err
}
