package queue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	gomysql "github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"
)

// binlogFollower wakes idle workers the moment a job becomes available, by following
// the server's binary log (MySQL has no LISTEN/NOTIFY): an insert into iactq_jobs, or
// an update that leaves a row 'available', is a wake-up. It sends no query while idle.
//
// It needs the binary log on (log_bin, binlog_format=ROW) and a user with replication
// privileges (REPLICATION SLAVE, and BINLOG MONITOR on MariaDB or REPLICATION CLIENT on
// MySQL to read the current position). It follows with Config.BinlogDSN when set
// (explicit: a failure is a warning, and it retries), else with the worker's own DSN
// (Config.DSN, automatic: when the server or the grants do not allow it, it says why
// once, at info level, and stops). Meanwhile the leader polls at Config.PollInterval.
type binlogFollower struct {
	dsn    string
	auto   bool   // dsn is the worker's own (Config.DSN), not Config.BinlogDSN
	schema string // the queue's database
	log    zerolog.Logger
	// wake is called at each event that makes jobs available, with what an insert
	// made available (insertedHeads), or nil when the event does not say.
	wake func(inserted map[headKey]time.Time)
	// healthy is called with true once following, false when it stopped.
	healthy func(bool)
	// note records why automatic wake-ups are off ("" once following) and tells
	// whether that is news: each reason is logged once per client, not per election.
	note func(reason string) bool
	// followingSince is when the current stream started following (zero: not yet).
	followingSince time.Time
	poll           time.Duration // the leader's poll interval, for messages
	// columns reads the columns of iactq_jobs (name and type, in order) from the
	// queue's database: where the row images hold state, when the binary log does
	// not carry column names (binlog_row_metadata=FULL does).
	columns func(ctx context.Context) ([]jobsColumn, error)

	layout jobsLayout // of the table id last seen
}

// binlogSource is the DSN the leader follows the binary log with ("" for none), and
// whether it is the worker's own, tried automatically: Config.BinlogDSN when set
// (BinlogOff: none), else Config.DSN.
func (c *Client) binlogSource() (dsn string, auto bool) {
	switch b := strings.TrimSpace(c.cfg.BinlogDSN); {
	case strings.EqualFold(b, BinlogOff):
		return "", false
	case b != "":
		return c.cfg.BinlogDSN, false
	}
	return c.cfg.DSN, c.cfg.DSN != ""
}

// binlogNotes holds, per client, why automatic binary-log wake-ups are off (the last
// reason logged), so that a leader elected again does not say it again. Keys are weak:
// an entry goes with its client.
var binlogNotes sync.Map // weak.Pointer[Client] -> string

// noteBinlog records reason ("" once following) and tells whether it differs from the
// one recorded before: whether it is worth a line.
func (c *Client) noteBinlog(reason string) bool {
	k := weak.Make(c)
	prev, loaded := binlogNotes.Swap(k, reason)
	if !loaded {
		runtime.AddCleanup(c, func(k weak.Pointer[Client]) { binlogNotes.Delete(k) }, k)
	}
	return reason != "" && (!loaded || prev.(string) != reason)
}

// jobsColumn is one column of iactq_jobs.
type jobsColumn struct{ name, typ string }

// jobsLayout is where a row image of iactq_jobs holds state, and how 'available' is
// logged there (ENUMs are logged as 1-based indexes). It holds for one table id: the
// server gives the table a new id when its definition changes (ALTER TABLE), and the
// layout is then found again.
type jobsLayout struct {
	tableID   uint64
	known     bool  // false: state not found; every update wakes
	state     int   // index of state in a row image
	available int64 // ENUM index of 'available'
	// queue, kind and scheduled_at in a row image (-1: not found): an insert's rows
	// then say what it made available (insertedHeads).
	queue, kind, scheduledAt int
}

// layoutFor returns the layout of the table the event's rows belong to, finding it
// again when the table id changed: from the event's column names when the binary log
// carries them, else from the table's columns read now.
func (f *binlogFollower) layoutFor(ctx context.Context, t *replication.TableMapEvent) jobsLayout {
	if f.layout.tableID == t.TableID && f.layout.tableID != 0 {
		return f.layout
	}
	var cols []jobsColumn
	if len(t.ColumnName) > 0 {
		enums := t.EnumStrValueString()
		ei := 0
		for i, name := range t.ColumnNameString() {
			c := jobsColumn{name: name}
			if i < len(t.ColumnType) && t.ColumnType[i] == mysql.MYSQL_TYPE_STRING && t.IsEnumColumn(i) && ei < len(enums) {
				c.typ = enumType(enums[ei])
				ei++
			}
			cols = append(cols, c)
		}
	} else if f.columns != nil {
		var err error
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cols, err = f.columns(rctx)
		cancel()
		if err != nil {
			f.log.Warn().Err(err).Msg("cannot read the columns of iactq_jobs; every update of a job wakes the worker")
		}
	}
	f.layout = findLayout(t.TableID, cols)
	if f.layout.known {
		f.log.Debug().Uint64("table_id", t.TableID).Int("state_column", f.layout.state).Msg("binlog layout of iactq_jobs")
	}
	return f.layout
}

// findLayout finds state and the ENUM index of 'available' among cols, and queue,
// kind and scheduled_at.
func findLayout(tableID uint64, cols []jobsColumn) jobsLayout {
	l := jobsLayout{tableID: tableID, queue: -1, kind: -1, scheduledAt: -1}
	for i, c := range cols {
		switch {
		case strings.EqualFold(c.name, "queue"):
			l.queue = i
		case strings.EqualFold(c.name, "kind"):
			l.kind = i
		case strings.EqualFold(c.name, "scheduled_at"):
			l.scheduledAt = i
		case strings.EqualFold(c.name, "state"):
			for j, v := range enumValues(c.typ) {
				if v == string(StateAvailable) {
					l.known, l.state, l.available = true, i, int64(j+1)
				}
			}
		}
	}
	return l
}

// insertedHeads reads what an insert made available from its row images: the oldest
// scheduled_at per queue and kind of its rows that are 'available'. It returns false
// for any other event, or when a row cannot be read (a column not found, a value of
// another type): the watcher then reads the heads.
func insertedHeads(t replication.EventType, rows *replication.RowsEvent, l jobsLayout) (map[headKey]time.Time, bool) {
	switch t {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2:
	default:
		return nil, false
	}
	if !l.known || l.queue < 0 || l.kind < 0 || l.scheduledAt < 0 {
		return nil, false
	}
	heads := make(map[headKey]time.Time)
	for _, row := range rows.Rows {
		if len(row) <= max(l.state, l.queue, l.kind, l.scheduledAt) {
			return nil, false
		}
		if v, ok := row[l.state].(int64); !ok {
			return nil, false
		} else if v != l.available {
			continue // scheduled for later: the chore that makes it due rings
		}
		queue, okQ := row[l.queue].(string)
		kind, okK := row[l.kind].(string)
		at, okA := row[l.scheduledAt].(time.Time)
		if !okQ || !okK || !okA {
			return nil, false
		}
		k := headKey{queue, kind}
		if old, seen := heads[k]; !seen || at.Before(old) {
			heads[k] = at
		}
	}
	return heads, true
}

// enumType writes ENUM values as information_schema's column_type does.
func enumType(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return "enum(" + strings.Join(quoted, ",") + ")"
}

// enumValues parses "enum('a','b')" into its values.
func enumValues(typ string) []string {
	inner, ok := strings.CutPrefix(strings.ToLower(typ), "enum(")
	if !ok {
		return nil
	}
	inner = strings.TrimSuffix(inner, ")")
	var out []string
	for _, v := range strings.Split(inner, ",") {
		v = strings.TrimSpace(v)
		v = strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'")
		out = append(out, strings.ReplaceAll(v, "''", "'"))
	}
	return out
}

// maxBinlogRetry bounds the wait between two attempts to follow the binary log.
const maxBinlogRetry = time.Minute

// binlogRetryDelay is the wait before the nth attempt in a row to follow again:
// doubling from half a second up to maxBinlogRetry.
func binlogRetryDelay(n int) time.Duration {
	if n > 8 {
		return maxBinlogRetry
	}
	return min(500*time.Millisecond<<max(n-1, 0), maxBinlogRetry)
}

// run follows the binary log until ctx ends, restarting from the current position
// after an error (a purged position, a restarted server, a dropped connection), with
// back-off up to a minute. Automatic (f.auto), it stops when the server or the user's
// grants do not allow following (binlogUnavailableError), and logs at info level only.
func (f *binlogFollower) run(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		f.followingSince = time.Time{}
		err := f.follow(ctx)
		f.healthy(false)
		if ctx.Err() != nil {
			return
		}
		// A stream that followed a good while is a new start, not one more failure.
		if !f.followingSince.IsZero() && time.Since(f.followingSince) >= maxBinlogRetry {
			failures = 0
		}
		failures++
		var un *binlogUnavailableError
		if f.auto && errors.As(err, &un) {
			if f.note(un.reason) {
				f.log.Info().Str("wakeup", "polling").Str("reason", un.reason).Dur("poll_interval", f.poll).
					Msgf("wake-ups: not following the binary log, %s: the leader polls for new jobs every %s instead (set --binlog-dsn or IACTQ_BINLOG_DSN to a replication user for instant wake-ups, or to off to skip this check)", un.reason, f.poll)
			}
			return
		}
		delay := binlogRetryDelay(failures)
		switch {
		case f.auto && failures == 1:
			f.log.Info().Err(err).Dur("retry_in", delay).Msg("binlog wake-ups stopped; polling meanwhile, retrying with back-off")
		case !f.auto && (failures == 1 || failures%20 == 0):
			f.log.Warn().Err(err).Dur("retry_in", delay).Int("failures", failures).Msg("binlog wake-ups stopped; polling meanwhile")
		default:
			f.log.Debug().Err(err).Dur("retry_in", delay).Int("failures", failures).Msg("binlog wake-ups: cannot follow yet; polling meanwhile")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

func (f *binlogFollower) follow(ctx context.Context) error {
	cfg, err := gomysql.ParseDSN(f.dsn)
	if err != nil {
		return fmt.Errorf("binlog DSN: invalid: %s", RedactDSN(f.dsn))
	}
	pos, err := currentBinlogPosition(ctx, f.dsn)
	if err != nil {
		return err
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	// Every follower needs its own server id: the server drops the older of two
	// streams with the same one.
	serverID := binary.BigEndian.Uint32(id[:])%(1<<30) + 1<<20
	scfg := replication.BinlogSyncerConfig{
		ServerID:        serverID,
		Flavor:          pos.flavor,
		User:            cfg.User,
		Password:        cfg.Passwd,
		HeartbeatPeriod: time.Second,
		ReadTimeout:     5 * time.Second,
		// Timestamps as time.Time: an insert's scheduled_at says whether its job is due.
		ParseTime: true,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Reconnecting is this loop's job (from the current position, not an old one).
		MaxReconnectAttempts: 1,
		DisableRetrySync:     true,
	}
	switch cfg.Net {
	case "unix":
		socket := cfg.Addr
		scfg.Host, scfg.Port = "localhost", 3306
		scfg.Dialer = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}
	default:
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return fmt.Errorf("binlog DSN address %q: %w", cfg.Addr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return fmt.Errorf("binlog DSN port %q: %w", port, err)
		}
		scfg.Host, scfg.Port = host, uint16(p)
	}
	syncer := replication.NewBinlogSyncer(scfg)
	defer syncer.Close()
	streamer, err := syncer.StartSync(pos.position)
	if err != nil {
		if accessDenied(err) {
			// Registering as a replica is what REPLICATION SLAVE allows; the same
			// user and password just read the position, so it is not the login.
			return &binlogUnavailableError{reason: fmt.Sprintf("user %s lacks REPLICATION SLAVE", cfg.User), err: err}
		}
		return fmt.Errorf("start following the binary log: %w", err)
	}
	if f.auto {
		f.note("")
		f.log.Info().Str("wakeup", "binlog").Str("position", pos.position.String()).Uint32("server_id", serverID).
			Msg("following the binary log for wake-ups with the worker's own DSN (no --binlog-dsn set; IACTQ_BINLOG_DSN=off polls instead)")
	} else {
		f.log.Info().Str("wakeup", "binlog").Str("position", pos.position.String()).Uint32("server_id", serverID).Msg("following the binary log for wake-ups")
	}
	f.followingSince = time.Now()
	f.healthy(true)
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			return fmt.Errorf("read the binary log: %w", err)
		}
		rows, ok := ev.Event.(*replication.RowsEvent)
		if !ok || string(rows.Table.Table) != "iactq_jobs" || string(rows.Table.Schema) != f.schema {
			continue
		}
		l := f.layoutFor(ctx, rows.Table)
		if !makesAvailable(ev.Header.EventType, rows, l) {
			continue
		}
		switch heads, ok := insertedHeads(ev.Header.EventType, rows, l); {
		case !ok:
			f.wake(nil) // the event does not say what: the watcher reads the heads
		case len(heads) > 0:
			f.wake(heads)
		}
		// Else an insert of jobs scheduled for later: the chore that makes them due
		// has the watcher look.
	}
}

// makesAvailable tells whether a row event inserts a job or leaves one 'available'.
func makesAvailable(t replication.EventType, rows *replication.RowsEvent, l jobsLayout) bool {
	switch t {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2:
		return true
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2:
		// Rows come in (before, after) pairs.
		for i := 1; i < len(rows.Rows); i += 2 {
			after := rows.Rows[i]
			if !l.known || len(after) <= l.state {
				return true // state not found, or not a full row image: cannot tell, so wake
			}
			switch v := after[l.state].(type) {
			case int64:
				if v == l.available {
					return true
				}
			case string:
				if v == string(StateAvailable) {
					return true
				}
			default:
				return true
			}
		}
	}
	return false
}

type binlogPosition struct {
	position mysql.Position
	flavor   string
}

// binlogUnavailableError says why the binary log cannot be followed at all with a
// DSN (the server's settings or the user's grants, not a passing failure): automatic
// wake-ups give up on it, with reason, until the next election.
type binlogUnavailableError struct {
	reason string
	err    error // the server's error, if any
}

func (e *binlogUnavailableError) Error() string {
	if e.err != nil {
		return e.reason + ": " + e.err.Error()
	}
	return e.reason
}

func (e *binlogUnavailableError) Unwrap() error { return e.err }

// accessDenied tells whether err is the server's refusal for want of a privilege, from
// either driver: ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR, or
// ER_ACCESS_DENIED_ERROR, which MariaDB answers to a registration as a replica
// without REPLICATION SLAVE ("Access denied for user ... (using password: YES)", the
// login having succeeded).
func accessDenied(err error) bool {
	var n uint16
	var me *mysql.MyError
	var ge *gomysql.MySQLError
	switch {
	case errors.As(err, &me):
		n = me.Code
	case errors.As(err, &ge):
		n = ge.Number
	}
	return n == 1227 || n == 1044 || n == 1045
}

// binlogSettings judges the server's binary-log settings for wake-ups: "" when they
// allow following it, else why not.
func binlogSettings(logBin int, format string) string {
	switch {
	case logBin != 1:
		return "binary log off on the server (log_bin=OFF)"
	case !strings.EqualFold(format, "ROW"):
		return fmt.Sprintf("binlog_format is %s on the server, not ROW", format)
	}
	return ""
}

// currentBinlogPosition reads where the binary log ends now (and the server's flavor),
// after checking that it is on and in ROW format. These are server-administration
// statements sqlc has no use for.
func currentBinlogPosition(ctx context.Context, dsn string) (binlogPosition, error) {
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return binlogPosition{}, fmt.Errorf("binlog DSN: invalid: %s", RedactDSN(dsn))
	}
	cfg.DBName = "" // the replication user needs no access to any database
	db, err := OpenDB(cfg.FormatDSN())
	if err != nil {
		return binlogPosition{}, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var version, format string
	var logBin int
	if err := db.QueryRowContext(ctx, "SELECT VERSION(), @@GLOBAL.log_bin, @@GLOBAL.binlog_format").Scan(&version, &logBin, &format); err != nil {
		return binlogPosition{}, fmt.Errorf("read the server's binary-log settings: %w", err)
	}
	if why := binlogSettings(logBin, format); why != "" {
		return binlogPosition{}, &binlogUnavailableError{reason: why}
	}
	flavor, monitor := mysql.MySQLFlavor, "REPLICATION CLIENT"
	if strings.Contains(strings.ToLower(version), "mariadb") {
		flavor, monitor = mysql.MariaDBFlavor, "BINLOG MONITOR"
	}
	p := binlogPosition{flavor: flavor}
	var lastErr error
	for _, stmt := range []string{"SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"} {
		rows, err := db.QueryContext(ctx, stmt)
		if err != nil {
			// Older or newer servers know only one of the two.
			if lastErr == nil || accessDenied(err) {
				lastErr = err
			}
			continue
		}
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		found := rows.Next() && rows.Scan(ptrs...) == nil
		if found && len(vals) >= 2 {
			pos, _ := strconv.ParseUint(string(vals[1]), 10, 32)
			p.position = mysql.Position{Name: string(vals[0]), Pos: uint32(pos)}
		}
		rows.Close()
		if found {
			return p, nil
		}
		return p, &binlogUnavailableError{reason: "binary log off on the server (no binary log status)"}
	}
	if accessDenied(lastErr) {
		return p, &binlogUnavailableError{reason: fmt.Sprintf("user %s lacks %s, to read the binary log position", cfg.User, monitor), err: lastErr}
	}
	return p, fmt.Errorf("cannot read the binary log position: %w", lastErr)
}

// binlogEvents gathers, for the leader's watcher, what the binary log's events said
// became available since it last took them: the oldest job per queue and kind that
// inserts added, and whether some event said nothing readable (an update that left a
// job 'available', a row image not read), for which the watcher reads the heads.
type binlogEvents struct {
	mu       sync.Mutex
	inserted map[headKey]time.Time
	unknown  bool
	signal   chan struct{} // has a value while something waits to be taken
}

func newBinlogEvents() *binlogEvents {
	return &binlogEvents{signal: make(chan struct{}, 1)}
}

// add records an event: inserted, or nil when it does not say what became available.
func (e *binlogEvents) add(inserted map[headKey]time.Time) {
	e.mu.Lock()
	if inserted == nil {
		e.unknown = true
	} else {
		if e.inserted == nil {
			e.inserted = make(map[headKey]time.Time, len(inserted))
		}
		for k, at := range inserted {
			if old, ok := e.inserted[k]; !ok || at.Before(old) {
				e.inserted[k] = at
			}
		}
	}
	e.mu.Unlock()
	select {
	case e.signal <- struct{}{}:
	default:
	}
}

// take returns what was recorded since the last take, and forgets it.
func (e *binlogEvents) take() (inserted map[headKey]time.Time, unknown bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	inserted, unknown = e.inserted, e.unknown
	e.inserted, e.unknown = nil, false
	return inserted, unknown
}
